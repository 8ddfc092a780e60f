"""The words of the faithfulness report (models/evaluate/faithfulness.py): its Markdown tables and the answer
to the lecture's question, written from the figures the run measured (every clause follows a comparison).
"""

from typing import Any

import numpy as np

from models.explain.attribute import METHODS


def strength(rho: float) -> str:
    """Words for a mean rank correlation."""
    return "weakly" if rho < 0.3 else "moderately" if rho < 0.6 else "strongly"


def _range(values: list[float]) -> str:
    return f"{min(values):.2f}" if max(values) - min(values) < 0.005 else f"{min(values):.2f}-{max(values):.2f}"


def _group(model_id: str, figures: dict[str, Any]) -> str:
    """ "image" for a captioner (inputs: image cells), "text" for a translator."""
    return "image" if figures.get("input_kind") == "image cells" or model_id.startswith("captioner") else "text"


def answer_paragraph(report: dict[str, Any]) -> str:
    """The lecture's question answered in one paragraph from the figures this run measured: every clause follows
    a comparison of the measured areas and correlations, and the words change with them."""
    seen: list[dict[str, Any]] = []  # one entry per model with attention
    without: list[tuple[str, float, float]] = []  # (model, best attribution area, random area): no attention
    for model_id, figures in report["models"].items():
        if not figures.get("rows"):
            continue
        deletion = figures["deletion"]
        comp = {k: v["comprehensiveness_auc"] for k, v in deletion.items()}
        method = max(METHODS, key=lambda k: comp[k])
        orders = [k for k in deletion if k.startswith("attention ")]
        if not orders:
            without.append((model_id, comp[method], comp["random"]))
            continue
        best = max(orders, key=lambda k: comp[k])
        rho = figures["agreement"][f"{best.removeprefix('attention ')} | integrated_gradients"]["spearman"]
        seen.append(
            {
                "id": model_id,
                "group": _group(model_id, figures),
                "attention": comp[best],
                "random": comp["random"],
                "method": comp[method],
                "sufficiency_attention": deletion[best]["sufficiency_auc"],
                "sufficiency_ig": deletion["integrated_gradients"]["sufficiency_auc"],
                "sufficiency_random": deletion["random"]["sufficiency_auc"],
                "rho": 0.0 if rho is None else rho,
                "complete": figures["ig_completeness_rate"],
            }
        )
    if not seen:
        return "No model with attention was evaluated."
    n = len(seen)
    beats_random = [m for m in seen if m["attention"] > m["random"]]
    beaten = [m for m in seen if m["method"] > m["attention"]]
    more_sufficient = [m for m in seen if m["sufficiency_ig"] < m["sufficiency_attention"]]
    if len(beats_random) < n / 2:
        verdict = "No"
    elif len(beaten) > n / 2 or len(more_sufficient) > n / 2:
        verdict = "Partly"
    else:
        verdict = "Largely yes"
    parts = [
        f"Does attention explain the output? On our own {n} model{'s' if n != 1 else ''} with attention: "
        f"{verdict.lower()}.",
        f"Removing the inputs (source tokens, image cells) the best attention readout ranks first lowers a word's "
        f"log-probability by {_range([m['attention'] for m in seen])} nats on average over the deletion curve, "
        f"against {_range([m['random'] for m in seen])} for a random order, so attention beats chance on "
        f"{len(beats_random)} of {n} models.",
    ]
    insufficient = [m for m in seen if m["sufficiency_attention"] >= m["sufficiency_random"]]
    if insufficient:
        parts.append(
            "Kept alone, though, attention's top inputs preserve the word no better than random ones for "
            + ", ".join(
                f"{m['id']} (sufficiency area {m['sufficiency_attention']:.2f} against {m['sufficiency_random']:.2f})"
                for m in insufficient
            )
            + "."
        )
    names = {"text": "translators", "image": "captioners"}
    gains = {
        group: [100 * (m["method"] - m["attention"]) / abs(m["attention"]) for m in seen if m["group"] == group]
        for group in ("text", "image")
    }
    gain_text = " and ".join(
        f"{abs(np.median(g)):.0f}% {'more' if np.median(g) >= 0 else 'less'} than attention on the {names[group]}"
        for group, g in gains.items()
        if g
    )
    parts.append(
        f"The attributions that measure the output directly (Captum) find them better on {len(beaten)} of {n} "
        f"(the best method's area is a median {gain_text}), and the few inputs integrated gradients ranks first "
        f"keep the word's probability better than attention's (a lower sufficiency area) on "
        f"{len(more_sufficient)} of {n}."
    )
    rhos = {group: [m["rho"] for m in seen if m["group"] == group] for group in ("text", "image")}
    alike = " and ".join(
        f"{strength(float(np.mean(r)))} on the {names[group]} (mean Spearman {np.mean(r):.2f})"
        for group, r in rhos.items()
        if r
    )
    means = [float(np.mean(r)) for r in rhos.values() if r]
    tail = ": related, far from interchangeable, as Jain & Wallace 2019 found" if max(means) < 0.6 else ""
    parts.append(f"Attention and integrated gradients rank the inputs alike {alike}{tail}.")
    if verdict == "Partly":
        parts.append(
            "So attention shows where a model reads, well above chance, but it is an indication, not an "
            "explanation: the output's own attributions single out what the word depends on better, and rank the "
            "inputs differently."
        )
    for model_id, method_area, random_area in without:
        found = "still find" if method_area > random_area else "do no better than chance at finding"
        parts.append(
            f"{model_id} has no attention at all; its attributions {found} what its words depend on "
            f"({method_area:.2f} against {random_area:.2f} at random)."
        )
    short = [m["id"] for m in seen if m["complete"] < 0.95]
    if short:
        steps = report.get("settings", {}).get("steps", 32)
        parts.append(
            f"Caveat: integrated gradients with {steps} steps adds up to within 5% on "
            f"fewer than 95% of rows for {', '.join(short)} (the slope of their score along the path from the "
            "baseline is too rough, or nearly jumps, for that many gradient points), so their "
            "integrated-gradients figures are approximate; attention's curves, input x gradient and occlusion do "
            "not depend on it."
        )
    return " ".join(parts)


def summary_table(report: dict[str, Any]) -> list[str]:
    """One line per model: inputs, words, IG completeness and the deletion areas of the best attention readout,
    integrated gradients and a random order."""
    lines = [
        "| model | inputs | words | IG complete | comprehensiveness: best attention / IG / random | "
        "sufficiency: best attention / IG / random |",
        "|---|---|---|---|---|---|",
    ]
    for model_id, figures in report["models"].items():
        if not figures.get("rows"):
            continue
        deletion = figures["deletion"]
        orders = [k for k in deletion if k.startswith("attention ")]
        best = max(orders, key=lambda k: deletion[k]["comprehensiveness_auc"]) if orders else None
        cells = []
        for key in ("comprehensiveness_auc", "sufficiency_auc"):
            values = [deletion[o][key] if o else None for o in (best, "integrated_gradients", "random")]
            cells.append(" / ".join("-" if v is None else f"{v:.2f}" for v in values))
        lines.append(
            f"| {model_id} | {figures['sentences']} | {figures['rows']} | "
            f"{100 * figures['ig_completeness_rate']:.1f}% | {cells[0]} | {cells[1]} |"
        )
    return lines


def markdown(report: dict[str, Any]) -> str:
    lines = ["# Does attention explain the output?", "", report["settings_text"], ""]
    lines += summary_table(report) + [""]
    for model_id, figures in report["models"].items():
        lines += [f"## {model_id}", ""]
        if not figures.get("rows"):
            lines += ["No rows explained.", ""]
            continue
        wall, cpu = figures.get("seconds_per_input"), figures.get("cpu_seconds_per_input")
        cost = "" if wall is None else f"; {wall:.1f} s per input (wall clock on a shared 2-core machine"
        cost += "" if wall is None else (f", {cpu:.1f} s of CPU on one thread)" if cpu is not None else ")")
        lines += [
            f"{figures['sentences']} inputs, {figures['rows']} explained output words; integrated gradients complete "
            f"within 5% on {100 * figures['ig_completeness_rate']:.1f}% of rows{cost}.",
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
