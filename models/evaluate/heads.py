"""Which cross-attention head of a multi-head translation model aligns words best.

Every (layer, head) of forced decoding, and every layer's mean over its heads, is scored by AER
against the Strong's-number links (models.evaluate.alignment). The best head and the best layer
mean are chosen on the dev split and then scored on test, so the choice never sees the test links;
the test AER of every readout is reported too, with the test-chosen (oracle) head labelled as such.

Results are cached in reports/.cache/ by the sha256 of the weights and of both link files.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from models.evaluate.alignment import argmax_links, corpus_aer
from models.evaluate.runs import forced_word_attention, sentencepiece
from models.evaluate.verses import TestVerse, weights_key

logger = logging.getLogger(__name__)


def readout_names(layers: int, heads: int) -> list[str]:
    """Names of the readouts transformer_readouts stacks: every head, then every layer's head mean."""
    per_head = [f"layer {layer} head {head}" for layer in range(layers) for head in range(heads)]
    return per_head + [f"layer {layer} mean" for layer in range(layers)]


def transformer_readouts(folder: Path) -> tuple[Any, Callable[[Any, Any], Any], list[str], tuple[int, int, int]]:
    """A models/nets/transformer.py folder -> (sentencepiece, forced, readout names, (bos, eos, pad)).

    forced(src, tgt_in) -> (B, L*H + L, T, S): every head's cross-attention, then each layer's mean."""
    import torch

    from models.nets.transformer import Transformer

    model = Transformer.from_pretrained(folder)
    cfg = model.config
    sp = sentencepiece(folder)

    def forced(src: Any, tgt_in: Any) -> Any:
        cross = model(src, tgt_in).cross_attentions  # (B, L, H, T, S)
        return torch.cat([cross.flatten(1, 2), cross.mean(dim=2)], dim=1)

    names = readout_names(cfg.decoder_layers, cfg.n_heads)
    return sp, forced, names, (cfg.bos_id, cfg.eos_id, cfg.pad_id)


def readout_aer(verses: Sequence[TestVerse], attention: Sequence[Any], names: Sequence[str]) -> dict[str, dict]:
    """AER summary of every readout k: attention[verse][k] is (Spanish words, English words)."""
    references = [set(v.links) for v in verses]
    return {
        name: corpus_aer([argmax_links(a[k]) for a in attention], references).summary() for k, name in enumerate(names)
    }


def lowest(scores: dict[str, dict], candidates: Sequence[str]) -> str:
    """The candidate readout with the lowest AER in `scores` (ties: the first name in sort order)."""
    return min(candidates, key=lambda name: (scores[name]["aer"], name))


def head_study(folder: Path, dev: Sequence[TestVerse], test: Sequence[TestVerse], cache_dir: Path,
               data_sha: str) -> dict[str, Any]:  # fmt: skip
    """Dev-chosen best head and best layer mean, scored on test; every readout's dev and test AER."""
    path = cache_dir / f"heads-{folder.name}-{weights_key(folder, data_sha)}.json"
    if path.exists():
        logger.info("%s: cached head study %s", folder.name, path)
        return dict(json.loads(path.read_text()))
    sp, forced, names, (bos, eos, pad) = transformer_readouts(folder)
    dev_scores, test_scores = (
        readout_aer(verses, forced_word_attention(sp, verses, forced, bos, eos, pad), names) for verses in (dev, test)
    )
    means = [n for n in names if n.endswith(" mean")]  # readout_names: every head, then every layer's mean
    heads = [n for n in names if n not in means]
    best_head, best_mean, oracle = lowest(dev_scores, heads), lowest(dev_scores, means), lowest(test_scores, heads)
    study = {
        "best_head": {"readout": best_head, "dev_aer": dev_scores[best_head]["aer"], **test_scores[best_head]},
        "best_layer_mean": {"readout": best_mean, "dev_aer": dev_scores[best_mean]["aer"], **test_scores[best_mean]},
        "oracle_head": {
            "readout": oracle,
            "aer": test_scores[oracle]["aer"],
            "note": "chosen on the test links: an upper bound, not a fair score",
        },
        "readouts": {n: {"dev_aer": dev_scores[n]["aer"], "test_aer": test_scores[n]["aer"]} for n in names},
        "selection": "lowest AER on the dev split's Strong's-number links (data/bible_en_es/dev_strongs.jsonl)",
    }
    cache_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(study, indent=2) + "\n")
    return study
