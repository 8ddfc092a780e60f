"""SentencePiece text <-> ids with readable labels, shared by our translation models."""

from typing import Any


def source_pieces(sp: Any, text: str, eos_id: int) -> tuple[list[int], tuple[str, ...]]:
    """Ids with EOS appended, and their labels; an unknown character shows as <unk:x>, never dropped."""
    proto = sp.encode(text, return_type="proto")
    unk = sp.unk_id()
    ids = [p.id for p in proto.pieces] + [eos_id]
    labels = [f"<unk:{p.surface.strip() or p.surface}>" if p.id == unk else p.piece for p in proto.pieces]
    return ids, (*labels, "</s>")
