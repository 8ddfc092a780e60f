"""Score every trained EN->ES model, and Apertium as a system row, on the everyday test set of human
translations (data/en_es_mix/test_everyday.jsonl: Tux Paint captions and held-out LibreOffice help pages,
never trained or tuned on; docs/data-card-en-es-mix.md).

Greedy decoding; sacreBLEU and chrF over the whole set, per source and by English source length.
Decoding runs are cached in reports/.cache by the weights' and the test file's sha256, like the Bible
evaluation (models/evaluate/translation.py). Apertium's output is cleaned of its unknown-word marks
(`*`, `#`, `@`) and gets the opening ¿/¡ it leaves out, as in the training data.

Alignment on this set (no hand-made links exist for it): the reference is eflomal trained on the whole
training mix plus the test pairs (the usual aligner protocol, models/evaluate/eflomal_links.py), its
grow-diag-final-and links on the human translation; a model's links are the argmax of its teacher-forced
word-level attention on the same translation (models/evaluate/runs.py), scored with AER like the Bible
set. Degeneracy (models/evaluate/degeneracy.py): the mean share of a sentence's target words whose argmax
lands on its most-chosen source word, with eflomal's forward links as the yardstick.

Writes reports/everyday_eval.json and reports/everyday_eval.md.
Run: python -m models.evaluate.everyday [--data data/en_es_mix] [--weights-dir models/weights] [--models ...]
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

from models.data.everyday_apertium import apertium_translate, cleaned
from models.evaluate.alignment import argmax_links, corpus_aer
from models.evaluate.degeneracy import attention_degeneracy, links_degeneracy
from models.evaluate.eflomal_links import eflomal_alignments
from models.evaluate.lengths import BUCKET_NAMES, bleu_by_length, bucket_sizes
from models.evaluate.runs import cached_run, trained_models
from models.evaluate.verses import TestVerse, sha256_file
from models.train.metrics import score

logger = logging.getLogger(__name__)

DATA = Path("data/en_es_mix")
WEIGHTS_DIR = Path("models/weights")
REPORTS = Path("reports")
TEST_FILE = "test_everyday.jsonl"


def load_everyday(data: Path) -> tuple[list[TestVerse], list[str]]:
    """The everyday test pairs (as TestVerse, without reference links) and each pair's source."""
    records = [json.loads(line) for line in (data / TEST_FILE).read_text(encoding="utf-8").splitlines()]
    verses = [TestVerse(r["doc"], r["en"], r["es"], frozenset()) for r in records]
    return verses, [r["source"] for r in records]


def apertium_hyps(sources: list[str]) -> list[str]:
    """Apertium eng-spa on every English sentence, marks removed."""
    return [cleaned(raw) for raw in apertium_translate(sources)]


def system_scores(hyps: list[str], verses: list[TestVerse], origins: list[str]) -> dict[str, Any]:
    """BLEU/chrF overall, per source of the pair and by English length."""
    refs, sources = [v.es for v in verses], [v.en for v in verses]
    per_source = {}
    for origin in sorted(set(origins)):
        idx = [i for i, o in enumerate(origins) if o == origin]
        per_source[origin] = score([hyps[i] for i in idx], [refs[i] for i in idx])
    return {**score(hyps, refs), "by_source": per_source, "bleu_by_length": bleu_by_length(hyps, refs, sources)}


def training_breakdown(data: Path) -> dict[str, dict[str, int]]:
    """Pairs per source in every split of the mix (the data card's counts, recounted from the files)."""
    out: dict[str, dict[str, int]] = {}
    for split in ("train", "dev"):
        path = data / f"{split}.jsonl"
        if path.exists():
            counts: dict[str, int] = {}
            for line in path.read_text(encoding="utf-8").splitlines():
                origin = json.loads(line)["source"]
                counts[origin] = counts.get(origin, 0) + 1
            out[split] = dict(sorted(counts.items()))
    return out


def reference_links(data: Path, verses: list[TestVerse], cache_dir: Path) -> dict[str, Any]:
    """eflomal on the training mix + the test pairs: the test pairs' links by direction."""
    train = [json.loads(line) for line in (data / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    return eflomal_alignments([(r["en"], r["es"]) for r in train], [(v.en, v.es) for v in verses], cache_dir)


def alignment_scores(attention: list[Any] | None, reference: list[set[Any]]) -> dict[str, Any]:
    if attention is None:
        return {"aer": None, "degeneracy": None, "note": "no attention (fixed encoder summary)"}
    counts = corpus_aer([argmax_links(a) for a in attention], reference)
    return {"aer": round(counts.aer, 4), **counts.summary(), "degeneracy": round(attention_degeneracy(attention), 4)}


def build_report(data: Path, weights_dir: Path, reports_dir: Path, model_ids: list[str] | None) -> dict[str, Any]:
    verses, origins = load_everyday(data)
    data_sha = sha256_file(data / TEST_FILE)
    links = reference_links(data, verses, reports_dir / ".cache") if (data / "train.jsonl").exists() else None
    systems: dict[str, Any] = {}
    for model_id in model_ids or trained_models(weights_dir):
        run = cached_run(model_id, weights_dir / model_id, verses, reports_dir / ".cache", data_sha)
        systems[model_id] = system_scores(run.hyps, verses, origins)
        metrics_path = weights_dir / model_id / "metrics.json"
        trained = json.loads(metrics_path.read_text()).get("data", "bible_en_es") if metrics_path.exists() else None
        systems[model_id]["trained_on"] = trained  # en_es_mix: the everyday mix; bible_en_es: Bible verses only
        if links is not None:
            systems[model_id]["alignment"] = alignment_scores(run.attention, links["grow-diag-final-and"])
        logger.info("%s: BLEU %.2f chrF %.2f", model_id, systems[model_id]["bleu"], systems[model_id]["chrf"])
    start = time.monotonic()
    systems["apertium"] = system_scores(apertium_hyps([v.en for v in verses]), verses, origins)
    logger.info("apertium: BLEU %.2f (%.0f s)", systems["apertium"]["bleu"], time.monotonic() - start)
    yardstick = None
    if links is not None:
        lengths = [len(v.en.split()) for v in verses]
        yardstick = {
            "reference": "eflomal grow-diag-final-and links on the human translation, eflomal trained on the "
            "training mix + these pairs",
            "forward_aer": corpus_aer(links["forward"], links["grow-diag-final-and"]).summary()["aer"],
            "forward_degeneracy": round(links_degeneracy(links["forward"], lengths), 4),
        }
    return {
        "test_set": str(data / TEST_FILE),
        "training_pairs_by_source": training_breakdown(data),
        "alignment_reference": yardstick,
        "test_sha256": data_sha,
        "pairs": len(verses),
        "pairs_by_source": {o: origins.count(o) for o in sorted(set(origins))},
        "bucket_sizes": bucket_sizes([v.en for v in verses]),
        "protocol": "greedy decoding; sacreBLEU 13a corpus BLEU and chrF against the one human translation; each "
        "model's training data is named in its row (en_es_mix: the everyday mix, which never holds these pairs; "
        "bible_en_es: Bible verses only); Apertium (Debian apertium-eng-spa, rule-based) as a system row",
        "systems": systems,
    }


def markdown(report: dict[str, Any]) -> str:
    sources = list(report["pairs_by_source"])
    head = ["system", "trained on", "BLEU", "chrF", *[f"BLEU {s}" for s in sources],
            *[f"BLEU {b} words" for b in BUCKET_NAMES]]  # fmt: skip
    lines = [
        "# Everyday test set",
        "",
        f"{report['pairs']} human translations ({', '.join(f'{s} {n}' for s, n in report['pairs_by_source'].items())})"
        f"; English length buckets {report['bucket_sizes']}. {report['protocol']}.",
        "Generated by `make eval` (`python -m models.evaluate.everyday`).",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for name, s in report["systems"].items():
        cells = [name, s.get("trained_on") or "-", f"{s['bleu']:.2f}", f"{s['chrf']:.2f}",
                 *[f"{s['by_source'][o]['bleu']:.2f}" for o in sources]]  # fmt: skip
        cells += ["-" if s["bleu_by_length"][b] is None else f"{s['bleu_by_length'][b]:.2f}" for b in BUCKET_NAMES]
        lines.append("| " + " | ".join(cells) + " |")
    if report.get("alignment_reference"):
        ref = report["alignment_reference"]
        lines += [
            "",
            "## Attention as alignment on the everyday set",
            "",
            f"Reference: {ref['reference']}. Degeneracy: mean share of a sentence's target words whose argmax is its "
            "most-chosen source word (sentences of 2+ English words); eflomal's own forward links score "
            f"{ref['forward_degeneracy']:.3f} (AER {ref['forward_aer']:.3f} against the symmetrised links).",
            "",
            "| model | AER | precision | recall | degeneracy |",
            "|---|---|---|---|---|",
        ]
        for name, s in report["systems"].items():
            a = s.get("alignment")
            if a is None:
                continue
            if a["aer"] is None:
                lines.append(f"| {name} | - | - | - | - ({a['note']}) |")
            else:
                lines.append(
                    f"| {name} | {a['aer']:.3f} | {a['precision']:.3f} | {a['recall']:.3f} | {a['degeneracy']:.3f} |"
                )
    if report.get("training_pairs_by_source"):
        lines += [
            "",
            "## Training data by source",
            "",
            "| split | "
            + " | ".join(sorted({o for c in report["training_pairs_by_source"].values() for o in c}))
            + " |",
        ]
        names = sorted({o for c in report["training_pairs_by_source"].values() for o in c})
        lines.append("|---|" + "---|" * len(names))
        for split, counts in report["training_pairs_by_source"].items():
            lines.append(f"| {split} | " + " | ".join(str(counts.get(n, 0)) for n in names) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help="folder built by models.data.everyday_en_es")
    parser.add_argument("--weights-dir", type=Path, default=WEIGHTS_DIR)
    parser.add_argument("--reports-dir", type=Path, default=REPORTS)
    parser.add_argument("--models", nargs="*", help="model ids (default: every trained EN-ES model)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    import torch

    torch.set_num_threads(args.threads)
    report = build_report(args.data, args.weights_dir, args.reports_dir, args.models)
    args.reports_dir.mkdir(parents=True, exist_ok=True)
    (args.reports_dir / "everyday_eval.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    (args.reports_dir / "everyday_eval.md").write_text(markdown(report), encoding="utf-8")
    logger.info("wrote %s", args.reports_dir / "everyday_eval.json")


if __name__ == "__main__":
    main()
