"""The words of the faithfulness report (models/evaluate/faithfulness.py): its Markdown tables and the answer
to the lecture's question, written from the figures the run measured (every clause follows a comparison).
"""

from typing import Any

import numpy as np

from models.explain.attribute import METHODS


def strength(rho: float) -> str:
    """Words for a mean rank correlation."""
    if rho < 0.3:
        return "weak, as Jain & Wallace 2019 found)."
    return "moderate: related, far from interchangeable)." if rho < 0.6 else "strong)."


def answer_paragraph(report: dict[str, Any]) -> str:
    """The lecture's question answered from the figures this run measured (every clause follows a comparison)."""
    parts, beats_random, beaten, rhos = [], [], [], []
    for model_id, figures in report["models"].items():
        if not figures.get("rows"):
            continue
        deletion = figures["deletion"]
        attention_orders = [k for k in deletion if k.startswith("attention")]
        method = max(METHODS, key=lambda k: deletion[k]["comprehensiveness_auc"])
        if not attention_orders:
            parts.append(
                f"{model_id} has no attention; deleting inputs in the order of {method} lowers the word's "
                f"log-probability by {deletion[method]['comprehensiveness_auc']:.2f} on average over the curve, "
                f"against {deletion['random']['comprehensiveness_auc']:.2f} at random."
            )
            continue
        attention = max(attention_orders, key=lambda k: deletion[k]["comprehensiveness_auc"])
        area = {k: deletion[k]["comprehensiveness_auc"] for k in (attention, method, "random")}
        rho = figures["agreement"][f"{attention.removeprefix('attention ')} | integrated_gradients"]["spearman"]
        beats_random.append(area[attention] > area["random"])
        beaten.append(area[method] > area[attention])
        rhos.append(rho if rho is not None else 0.0)
        parts.append(
            f"For {model_id} ({figures['rows']} output words of {figures['sentences']} inputs), deleting inputs "
            f"in the order of the best attention readout ({attention.removeprefix('attention ')}) lowers the "
            f"word's log-probability by {area[attention]:.2f} on average over the curve, against "
            f"{area['random']:.2f} at random and {area[method]:.2f} in the order of {method}; that readout's "
            f"Spearman correlation with integrated gradients is {0.0 if rho is None else rho:.2f}."
        )
    if not rhos:
        return " ".join(parts) if parts else "No model was evaluated."
    n = len(rhos)
    verdict = [
        "attention points to the inputs (source tokens, image cells) the output depends on better than chance "
        f"on all {n} models with attention"
        if all(beats_random)
        else f"attention beats a random order at finding the inputs the output depends on for {sum(beats_random)} "
        f"of {n} models with attention",
        "but the attributions that measure the output directly find them better on every one, so attention is "
        "an indication, not an explanation"
        if all(beaten)
        else f"and an attribution method finds them better on {sum(beaten)} of {n}",
        f"(mean rank correlation with integrated gradients {np.mean(rhos):.2f}: " + strength(float(np.mean(rhos))),
    ]
    return " ".join(parts) + " On our own models: " + ", ".join(verdict[:2]) + " " + verdict[2]


def markdown(report: dict[str, Any]) -> str:
    lines = ["# Does attention explain the output?", "", report["settings_text"], ""]
    for model_id, figures in report["models"].items():
        lines += [f"## {model_id}", ""]
        if not figures.get("rows"):
            lines += ["No rows explained.", ""]
            continue
        cost = figures.get("seconds_per_input")
        lines += [
            f"{figures['sentences']} inputs, {figures['rows']} explained output words; integrated gradients complete "
            f"within 5% on {100 * figures['ig_completeness_rate']:.1f}% of rows"
            + (f"; {cost:.1f} s per input on one core." if cost is not None else "."),
            "",
        ]
        lines += [f"- {name}: {text}" for name, text in figures.get("readouts", {}).items()]
        lines += [
            "",
            "| order | comprehensiveness AUC (higher = better) | sufficiency AUC (lower = better) |",
            "|---|---|---|",
        ]
        for name, d in figures["deletion"].items():
            lines.append(f"| {name} | {d['comprehensiveness_auc']:.3f} | {d['sufficiency_auc']:.3f} |")
        if figures["agreement"]:
            lines += ["", "| readout | method | Spearman | Kendall tau | top-3 overlap |", "|---|---|---|---|---|"]
        for name, a in figures["agreement"].items():
            cells = [f"{a[m]:.3f}" if a[m] is not None else "n/a" for m in ("spearman", "kendall", "top_k_overlap")]
            lines.append("| " + " | ".join([*name.split(" | "), *cells]) + " |")
        lines.append("")
    lines += [f"Not covered: {report['not_covered']}", "", "## Answer", "", report["answer"], ""]
    return "\n".join(lines)
