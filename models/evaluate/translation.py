"""Score every trained EN->ES translation model on the test split: BLEU, chrF, BLEU by source
length, and the alignment error rate (AER) of its attention against Strong's-number links.

Metrics:
- BLEU / chrF: sacrebleu corpus scores (13a tokenisation, defaults) of batched greedy decoding of
  the 1,464 test verses. Beam-5 scores are copied from the model's metrics.json (the training
  script decodes the same test split with beam 5 on the same fp16 weights), labelled as such.
- BLEU by length: corpus BLEU within buckets of English source length in whitespace words
  (1-10, 11-20, 21-30, 31+).
- AER (Och & Ney 2003) with sure links only, AER = 1 - 2|A & S| / (|A| + |S|), summed over
  all test verses (corpus level). S: data/bible_en_es/test_strongs.jsonl, every (English word,
  Spanish word) pair sharing a Strong's number (lemma level, noisy). Only words that appear in at
  least one reference link count (the file keeps links, not per-word numbers): predicted links
  from or to other words are dropped, because the reference says nothing about them.
  A for a model: forced decoding of the reference Spanish (teacher forcing), so the attention
  rows belong to the reference words; subword pieces merged into whitespace words
  (models.readouts.word_groups with punctuation="attach"; weights summed over a source word's
  pieces, averaged over a target word's pieces; end-of-sentence row and column dropped), then one
  link per Spanish word to the argmax English word.
  Transformer: the last decoder layer's cross-attention averaged over heads ("heads averaged");
  also every head and every layer's head mean, the best chosen on the dev split's links and
  scored on test (models/evaluate/heads.py).
- eflomal (Ostling & Tiedemann 2016; models/evaluate/eflomal_links.py): trained unsupervised on
  train + test verses (the usual protocol: aligners see the text they align), on the same whitespace
  words with surrounding punctuation stripped for its vocabulary only (positions unchanged). "aer": its
  forward direction (one English word per Spanish word, like the attention argmax); also reverse,
  intersection and grow-diag-final-and symmetrisation.

Pieces -> words and AER: models/evaluate/alignment.py; decoding and its cache: models/evaluate/runs.py
(model runs are cached in reports/.cache/ keyed by the sha256 of the weights and of the test split, so a
re-run only decodes new models); length buckets: models/evaluate/lengths.py. This file builds the report
and writes reports/translation_eval.{json,md}.

Run: python -m models.evaluate.translation [--models rnn-additive-en-es ...] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from models.evaluate.alignment import argmax_links, corpus_aer
from models.evaluate.eflomal_links import eflomal_alignments
from models.evaluate.heads import head_study
from models.evaluate.lengths import BUCKET_NAMES, bleu_by_length, bucket_sizes
from models.evaluate.runs import ATTENTION_READOUT, MULTI_HEAD, ModelRun, cached_run, family_of, trained_models
from models.evaluate.verses import DATA, TestVerse, load_verses, sha256_file, split_sizes
from models.train.metrics import score

logger = logging.getLogger(__name__)

WEIGHTS_DIR = Path("models/weights")
REPORTS = Path("reports")


def evaluate_model(model_id: str, folder: Path, verses: Sequence[TestVerse], run: ModelRun) -> dict[str, Any]:
    refs, sources = [v.es for v in verses], [v.en for v in verses]
    result: dict[str, Any] = {
        **score(run.hyps, refs),  # bleu, chrf
        "bleu_by_length": bleu_by_length(run.hyps, refs, sources),
        "aer": None,
        "decoding": "greedy, batched",
    }
    metrics_path = folder / "metrics.json"
    if metrics_path.exists():
        metrics = json.loads(metrics_path.read_text())
        for name, value in metrics.items():
            if name.startswith("test_beam") and isinstance(value, dict):
                result[name.removeprefix("test_")] = {**value, "source": "metrics.json (training script)"}
        if "test_greedy" in metrics:
            result["greedy_in_metrics_json"] = metrics["test_greedy"]
    if run.attention is None:
        result["aer_note"] = "no attention (fixed encoder summary): no alignment to score"
    else:
        counts = corpus_aer([argmax_links(a) for a in run.attention], [set(v.links) for v in verses])
        result["aer"] = round(counts.aer, 4)
        result["alignment"] = {**counts.summary(), "readout": ATTENTION_READOUT[family_of(model_id)]}
    result["samples"] = [
        {"ref": v.ref, "en": v.en, "es": v.es, "hyp": h} for v, h in zip(verses[:3], run.hyps[:3], strict=True)
    ]
    return result


PROTOCOL = {
    "test_split": "data/bible_en_es/test.jsonl: 5% of chapters by sha256('Book.chapter'), never trained or tuned on",
    "bleu_chrf": "sacrebleu corpus BLEU (13a) and chrF, default settings, against the one Reina-Valera reference",
    "decoding": "greedy (batched); beam-5 figures, where present, come from each model's metrics.json",
    "length_buckets": "English source length in whitespace words: 1-10, 11-20, 21-30, 31+; corpus BLEU per bucket",
    "aer": "1 - 2|A&S|/(|A|+|S|), sure links only, corpus level over the test verses",
    "reference_links": "Strong's-number links (every English/Spanish word pair sharing a number): lemma level and "
    "noisy, many-to-many; ~82% of English tokens tagged",
    "restriction": "only words that appear in at least one reference link are scored: predicted links to or from "
    "other words are dropped",
    "attention_links": "forced decoding of the reference Spanish; pieces merged into whitespace words (summed over "
    "source pieces, averaged over target pieces, EOS dropped); one link per Spanish word to the argmax English word",
    "transformer_heads": "AER column: the last decoder layer's cross-attention averaged over its heads; 'best head': "
    "every (layer, head) and every layer's head mean scored on the dev split's Strong's links "
    "(data/bible_en_es/dev_strongs.jsonl), the lowest dev AER chosen, then scored on test (models/evaluate/heads.py)",
    "eflomal": "eflomal 2.x, default model (IBM1+HMM+fertility), unsupervised on train+test verses (the aligner sees "
    "the text it aligns, as usual); same whitespace words, surrounding punctuation stripped for its vocabulary; "
    "'aer' is the forward direction (one English word per Spanish word, like the attention argmax)",
    "recall_ceiling": "one link per Spanish word cannot cover many-to-many references, so AER stays high for every "
    "system; compare systems with each other, not with published AERs on hand-aligned data",
}


def build_report(data: Path, weights_dir: Path, reports_dir: Path, model_ids: Sequence[str] | None) -> dict[str, Any]:
    verses = load_verses(data, "test")
    cache_dir = reports_dir / ".cache"
    data_sha = sha256_file(data / "test.jsonl")
    train = [json.loads(line) for line in (data / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    references = [set(v.links) for v in verses]
    sources = [v.en for v in verses]
    scored_spanish = sum(len({j for _, j in links}) for links in references)
    report: dict[str, Any] = {
        "reference_links": {
            "links": sum(len(links) for links in references),
            "spanish_words_scored": scored_spanish,
            "english_words_scored": sum(len({i for i, _ in links}) for links in references),
            "max_recall_one_link_per_spanish_word": round(scored_spanish / max(sum(map(len, references)), 1), 4),
        },
        "splits": {
            **split_sizes(data),
            "test_with_links": sum(1 for v in verses if v.links),
            "test_by_length": bucket_sizes(sources),
        },
        "models": {},
    }
    efl = eflomal_alignments([(r["en"], r["es"]) for r in train], [(v.en, v.es) for v in verses], cache_dir)
    by_direction = {name: corpus_aer(links, references).summary() for name, links in efl.items()}
    report["eflomal"] = {
        "aer": by_direction["forward"]["aer"],
        "directions": by_direction,
        "trained_on": f"train + test, {len(train) + len(verses)} verse pairs",
    }
    logger.info("eflomal AER: %s", {k: v["aer"] for k, v in by_direction.items()})
    dev: list[TestVerse] = []
    for model_id in model_ids or trained_models(weights_dir):
        folder = weights_dir / model_id
        run = cached_run(model_id, folder, verses, cache_dir, data_sha)
        report["models"][model_id] = evaluate_model(model_id, folder, verses, run)
        if family_of(model_id) in MULTI_HEAD:
            dev = dev or load_verses(data, "dev")
            links_sha = ":".join([data_sha, *(sha256_file(data / f"{s}_strongs.jsonl") for s in ("dev", "test"))])
            report["models"][model_id]["heads"] = head_study(folder, dev, verses, cache_dir, links_sha)
        logger.info("%s: %s", model_id, {k: report["models"][model_id][k] for k in ("bleu", "chrf", "aer")})
    report["protocol"] = PROTOCOL
    report["notes"] = [
        "rnn-none-en-es is the no-attention baseline (Cho et al. 2014): it has BLEU but no AER.",
        "Models are listed as found in models/weights at run time; re-run `make eval` after training more.",
    ]
    return report


def _fmt(value: Any, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def markdown(report: dict[str, Any]) -> str:
    names = BUCKET_NAMES
    counts = report["splits"]["test_by_length"]
    lines = [
        "# Translation evaluation (EN -> ES, test split)",
        "",
        "Splits: " + ", ".join(f"{k} {report['splits'][k]}" for k in ("train", "dev", "test")) + " verses.",
        "Generated by `make eval` (`python -m models.evaluate.translation`); numbers in reports/translation_eval.json.",
        "",
        "| model | BLEU (greedy) | chrF | BLEU beam 5 | AER (attention; heads averaged) | AER best head (dev-chosen) | "
        + " | ".join(f"BLEU {n} words ({counts[n]})" for n in names)
        + " |",
        "|---|---|---|---|---|---|" + "---|" * len(names),
    ]
    for model_id, m in report["models"].items():
        beam = m.get("beam5", {}).get("bleu")
        best = m["heads"]["best_head"]["aer"] if "heads" in m else None
        cells = [_fmt(m["bleu"]), _fmt(m["chrf"]), _fmt(beam), _fmt(m["aer"], 3), _fmt(best, 3)]
        cells += [_fmt(m["bleu_by_length"][n]) for n in names]
        lines.append(f"| {model_id} | " + " | ".join(cells) + " |")
    if not report["models"]:
        lines.append("| (no trained model in models/weights yet) |" + " |" * (5 + len(names)))
    lines += ["", "## Word alignment against Strong's-number links (lower AER is better)", ""]
    ref = report["reference_links"]
    lines += [
        f"{ref['links']} reference links over {ref['spanish_words_scored']} Spanish and "
        f"{ref['english_words_scored']} English words: one link per Spanish word can recall at most "
        f"{ref['max_recall_one_link_per_spanish_word']:.3f}.",
        "",
        "| aligner | AER | precision | recall |",
        "|---|---|---|---|",
    ]
    for model_id, m in report["models"].items():
        if m.get("alignment"):
            a = m["alignment"]
            lines.append(
                f"| {model_id} attention (argmax) | {a['aer']:.3f} | {a['precision']:.3f} | {a['recall']:.3f} |"
            )
        picks = (("best head", "best_head"), ("best layer mean", "best_layer_mean")) if "heads" in m else ()
        for label, pick in picks:
            h = m["heads"][pick]
            lines.append(f"| {model_id} {label}: {h['readout']} (dev AER {h['dev_aer']:.3f}) | {h['aer']:.3f} | "
                         f"{h['precision']:.3f} | {h['recall']:.3f} |")  # fmt: skip
    for name, a in report["eflomal"]["directions"].items():
        lines.append(f"| eflomal {name} | {a['aer']:.3f} | {a['precision']:.3f} | {a['recall']:.3f} |")
    for model_id, m in report["models"].items():
        if "heads" in m:
            lines += ["", f"### {model_id}: every cross-attention readout (chosen on dev, scored on test)", "",
                      "| readout | dev AER | test AER |", "|---|---|---|"]  # fmt: skip
            lines += [f"| {n} | {r['dev_aer']:.3f} | {r['test_aer']:.3f} |" for n, r in m["heads"]["readouts"].items()]
            o = m["heads"]["oracle_head"]
            lines += ["", f"Test-chosen head (an upper bound, not a fair score): {o['readout']}, AER {o['aer']:.3f}."]
    lines += ["", "## Protocol", ""]
    lines += [f"- **{k}**: {v}" for k, v in report["protocol"].items()]
    lines += ["", *[f"- {n}" for n in report["notes"]], ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help="folder built by models.data.bible_en_es")
    parser.add_argument("--weights-dir", type=Path, default=WEIGHTS_DIR, help="exported model folders")
    parser.add_argument("--reports-dir", type=Path, default=REPORTS, help="where the report and .cache go")
    parser.add_argument("--models", nargs="*", help="model ids (default: every trained EN-ES model)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    import torch

    torch.set_num_threads(args.threads)
    start = time.monotonic()
    report = build_report(args.data, args.weights_dir, args.reports_dir, args.models)
    report["runtime_seconds"] = round(time.monotonic() - start, 1)
    args.reports_dir.mkdir(parents=True, exist_ok=True)
    (args.reports_dir / "translation_eval.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    (args.reports_dir / "translation_eval.md").write_text(markdown(report), encoding="utf-8")
    logger.info("wrote %s in %.0f s", args.reports_dir / "translation_eval.json", report["runtime_seconds"])


if __name__ == "__main__":
    main()
