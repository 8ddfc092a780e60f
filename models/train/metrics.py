"""sacreBLEU scores shared by training (validation, the exported metrics.json) and evaluation."""

import sacrebleu


def score(hyps: list[str], refs: list[str]) -> dict[str, float]:
    return {
        "bleu": round(sacrebleu.corpus_bleu(hyps, [refs]).score, 2),
        "chrf": round(sacrebleu.corpus_chrf(hyps, [refs]).score, 2),
    }


def bleu4(hypotheses: list[str], references: list[tuple[str, ...]]) -> float:
    """Corpus BLEU-4 on the sacrebleu scale (0-100) against every reference of each scene."""
    width = max(len(r) for r in references)
    streams = [[r[i] if i < len(r) else None for r in references] for i in range(width)]
    # sacrebleu skips None references (a variable number per sentence) though its annotation says str
    return float(sacrebleu.corpus_bleu(hypotheses, streams).score)  # type: ignore[arg-type, unused-ignore]
