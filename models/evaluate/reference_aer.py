"""Per-head AER of an EN->ES model we train, over a corpus that has reference word links.

Only the built-in `bible-test` corpus has them (Strong's-number links, data/bible_en_es/test_strongs.jsonl). Each
verse's reference Spanish is teacher-forced through the model (models.evaluate.runs.forced_word_attention, pieces
merged into words), each cross-attention head's argmax per Spanish word is taken as its alignment, and the AER of
every head is computed over the whole corpus (models.evaluate.alignment.corpus_aer): one figure per head, not a
per-sentence mean, so it has no "most typical sentences". The same numbers as `make eval`'s head study
(models/evaluate/heads.py) on the same verses. `attnviz analyze` gets it from the `attnviz` command
(attnviz/cli.py), which hands this function to app.scale (below this layer, so it cannot import it).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from app.core.config import REPO_ROOT
from app.scale.corpus import Corpus

logger = logging.getLogger(__name__)


def _forced(model_id: str, weights_dir: Path) -> tuple[Any, Any, int, int, tuple[int, int, int]] | None:
    """(sentencepiece, forced(src, tgt_in) -> (B, L*H, T, S), layers, heads, (bos, eos, pad)) or None."""
    import torch

    folder = weights_dir / model_id
    if not (folder / "model.safetensors").is_file():
        return None
    from models.evaluate.runs import sentencepiece

    if model_id == "transformer-en-es":
        from models.evaluate.heads import transformer_readouts

        # every head (layer-major), then each layer's mean: the first layers * heads readouts are the heads
        sp, forced, names, ids = transformer_readouts(folder)
        layers = sum(name.endswith(" mean") for name in names)
        return sp, forced, layers, (len(names) - layers) // layers, ids
    if model_id.startswith("rnn-") and model_id.endswith("-en-es") and model_id != "rnn-none-en-es":
        from models.nets.seq2seq_rnn import Seq2SeqRNN

        rnn = Seq2SeqRNN.from_pretrained(folder)
        c = rnn.config

        def forced_rnn(src: Any, tgt_in: Any) -> Any:
            return torch.unsqueeze(rnn(src, tgt_in).cross_attentions, 1)  # (B, 1, T, S)

        return sentencepiece(folder), forced_rnn, 1, 1, (c.bos_id, c.eos_id, c.pad_id)
    return None


def reference_aer(
    model_id: str, corpus: Corpus, data_dir: Path | None = None, weights_dir: Path | None = None
) -> list[list[float]] | None:
    """[layer][head] AER of the model's cross-attention heads on the corpus, or None where the corpus has no
    reference links or the model is not one of our EN->ES models with attention. data_dir holds test.jsonl and
    test_strongs.jsonl (default data/bible_en_es), weights_dir the model folders (default models/weights)."""
    if corpus.name != "bible-test":
        return None
    readout = _forced(model_id, weights_dir or REPO_ROOT / "models" / "weights")
    if readout is None:
        return None
    from models.evaluate.alignment import argmax_links, corpus_aer
    from models.evaluate.runs import forced_word_attention
    from models.evaluate.verses import load_verses

    verses = load_verses(data_dir or REPO_ROOT / "data" / "bible_en_es", "test")[: len(corpus.sentences)]
    if [v.en for v in verses] != list(corpus.sentences):
        logger.warning("bible-test sentences differ from the linked verses: no AER")
        return None
    sp, forced, layers, heads, ids = readout
    attention = forced_word_attention(sp, verses, forced, *ids)  # per verse: (L*H, Spanish words, English words)
    references = [set(v.links) for v in verses]
    out = []
    for layer in range(layers):
        row = []
        for head in range(heads):
            k = layer * heads + head
            row.append(round(corpus_aer([argmax_links(a[k]) for a in attention], references).summary()["aer"], 4))
        out.append(row)
    logger.info("%s: per-head AER on %d verses: %s", model_id, len(verses), out)
    return out
