"""Process-wide allocator setting for the service."""

import ctypes


def limit_malloc_arenas(arenas: int = 2) -> None:
    """glibc gives request threads their own malloc arenas (8 per core), which fragment: resident memory
    grew 21% over 2,000 requests with the default and 13% with 2 arenas (benchmarks/load.py)."""
    try:
        ctypes.CDLL("libc.so.6").mallopt(-8, arenas)  # -8 = M_ARENA_MAX
    except (OSError, AttributeError):
        pass  # not glibc: nothing to limit
