"""A least-recently-used cache of model outputs, bounded by the bytes of the tensors it holds (or any other size)."""

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

Value = TypeVar("Value")


def tensor_bytes(value: Any, _seen: set[int] | None = None) -> int:
    """Bytes of every tensor or numpy array reachable through dataclass fields, tuples and lists."""
    seen = _seen if _seen is not None else set()
    if id(value) in seen:
        return 0
    seen.add(id(value))
    if hasattr(value, "element_size") and hasattr(value, "nelement"):  # torch.Tensor
        return int(value.element_size() * value.nelement())
    if hasattr(value, "nbytes") and hasattr(value, "dtype"):  # numpy array
        return int(value.nbytes)
    if isinstance(value, tuple | list):
        return sum(tensor_bytes(v, seen) for v in value)
    if hasattr(value, "__dataclass_fields__"):
        return sum(tensor_bytes(getattr(value, name), seen) for name in value.__dataclass_fields__)
    return 0


class ResultCache(Generic[Value]):
    """Thread-safe LRU: get/put by key; the least recently used entries leave when the sizes add up to more
    than max_bytes. size_of measures an entry: tensor bytes by default (`lambda _: 1` bounds the count)."""

    def __init__(self, max_bytes: int, size_of: Callable[[Any], int] = tensor_bytes) -> None:
        self.max_bytes = max_bytes
        self.size_of = size_of
        self._entries: OrderedDict[Hashable, tuple[Value, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> Value | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[0]

    def put(self, key: Hashable, value: Value) -> None:
        size = self.size_of(value)
        if size > self.max_bytes:
            return  # one huge result must not empty the cache
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._entries[key] = (value, size)
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._bytes -= dropped

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)
