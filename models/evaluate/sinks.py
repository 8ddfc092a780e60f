"""Attention sinks in SmolLM2-135M (Xiao et al. 2024, "Efficient Streaming Language Models with Attention
Sinks"): how much of each head's attention lands on the first token, whatever that token is.

Each of 200 English sentences (tests/data/marian_parity_en.txt: software messages from the gettext catalogs
of Debian packages, already used for Marian's parity) runs through the model alone, without generation; for
every layer and head, the share of a row's weight on key 0 is averaged over the query rows 1..N-1 (row 0 can
only see itself). The headline is the mean over heads and layers 2..29 (0-based; layers 0 and 1 have not formed
the sink yet), then over sentences. For scale, a head that spread its weight evenly over the keys it may see
would give the first token mean(1 / (i + 1)) over the same rows.

Writes reports/smollm2_sinks.{json,md}.
Run: python -m models.evaluate.sinks [--sentences 200]
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import torch

from models.serve.smollm2 import load_smollm2

logger = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[2]
SENTENCES = ROOT / "tests" / "data" / "marian_parity_en.txt"
FIRST_LAYER = 2  # layers from this one (0-based) count in the headline figure


def first_token_shares(weights: torch.Tensor) -> torch.Tensor:
    """weights (L, H, N, N), N >= 2 -> (L, H): each head's weight on key 0, averaged over query rows 1..N-1."""
    return weights[:, :, 1:, 0].mean(dim=-1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=200)
    parser.add_argument("--out", type=Path, default=ROOT / "reports")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(1)
    model = load_smollm2()
    sentences = [s for s in SENTENCES.read_text().splitlines() if s.strip()][: args.sentences]
    per_sentence: list[torch.Tensor] = []  # (L, H) each
    uniform: list[float] = []
    tokens = 0
    for i, sentence in enumerate(sentences):
        ids = model.prompt_ids(sentence)
        if len(ids) < 2:
            continue
        with torch.inference_mode():
            out = model.net(torch.tensor([ids]), keep=set(range(model.net.config.n_layers)))
        weights = torch.stack([out.attentions[layer][0] for layer in sorted(out.attentions)])  # (L, H, N, N)
        per_sentence.append(first_token_shares(weights.double()))
        uniform.append(sum(1 / (r + 1) for r in range(1, len(ids))) / (len(ids) - 1))
        tokens += len(ids)
        if (i + 1) % 50 == 0:
            logger.info("%d sentences", i + 1)
    shares = torch.stack(per_sentence)  # (n, L, H)
    headline = shares[:, FIRST_LAYER:].mean(dim=(1, 2))  # (n,)
    by_layer = shares.mean(dim=(0, 2))  # (L,)
    by_head = shares[:, FIRST_LAYER:].mean(dim=(0, 1))  # (H,)
    report: dict[str, Any] = {
        "model": "smollm2-135m",
        "sentences": len(per_sentence),
        "source": "tests/data/marian_parity_en.txt, gettext messages of Debian packages",
        "tokens_mean": round(tokens / len(per_sentence), 1),
        "definition": "weight on key 0 averaged over query rows 1..N-1, then over heads and layers "
        f"{FIRST_LAYER}..{shares.shape[1] - 1} (0-based), then over sentences; prompt only, no generation",
        "first_token_share": round(float(headline.mean()), 4),
        "first_token_share_median_sentence": round(float(headline.median()), 4),
        "first_token_share_min_sentence": round(float(headline.min()), 4),
        "uniform_attention_share": round(sum(uniform) / len(uniform), 4),
        "by_layer": [round(float(v), 4) for v in by_layer],
        "by_head_layers_2_up": [round(float(v), 4) for v in by_head],
        "heads_over_half_on_first_token": int((shares[:, FIRST_LAYER:].mean(dim=0) > 0.5).sum()),
        "heads_counted": int(shares[:, FIRST_LAYER:].shape[1] * shares.shape[2]),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "smollm2_sinks.json").write_text(json.dumps(report, indent=2) + "\n")
    layers = " | ".join(f"{v:.2f}" for v in report["by_layer"])
    markdown = (
        "# SmolLM2-135M: attention on the first token\n\n"
        f"Over {report['sentences']} sentences ({report['source']}; {report['tokens_mean']} tokens on average), "
        f"heads of layers {FIRST_LAYER}-29 put **{report['first_token_share']:.1%}** of their attention on the first "
        f"token (median sentence {report['first_token_share_median_sentence']:.1%}, lowest "
        f"{report['first_token_share_min_sentence']:.1%}); spreading evenly over the visible keys would give "
        f"{report['uniform_attention_share']:.1%}. {report['heads_over_half_on_first_token']} of "
        f"{report['heads_counted']} heads average over half. Definition: {report['definition']}.\n\n"
        "Per layer (0-29, mean over heads and sentences):\n\n"
        f"| {' | '.join(str(i) for i in range(len(report['by_layer'])))} |\n"
        f"|{'---|' * len(report['by_layer'])}\n| {layers} |\n\n"
        "Command: `python -m models.evaluate.sinks`\n"
    )
    (args.out / "smollm2_sinks.md").write_text(markdown)
    logger.info("%s", markdown)


if __name__ == "__main__":
    main()
