"""Score the trained captioners on the held-out test scenes: BLEU-4 and the pointing game.

- BLEU-4: sacrebleu corpus BLEU (0-100) of the captions (greedy, or the beam search of a model whose config
  says `beam`, as it is served) against every valid phrasing of each scene (models/data/scenes.py keeps them
  all as references). Also: exact-match rate, and
  object-word precision / recall (generated nouns that are in the scene / scene objects named).
- Pointing game (Zhang et al. 2016, "Top-down Neural Attention by Excitation Backprop"): for every
  generated object noun that names an object in the scene, the argmax patch of the map of the step
  that produced it must fall inside that object's box. "strict": the argmax patch's centre lies in
  the box; "overlap": the argmax cell (14 px DINOv2 patch, 32 px CNN cell) overlaps the box. The chance level
  is the share of the grid's cell centres that lie in the box, averaged over the same words.
  For the Transformer: the headline number is one layer's mean over heads, the layer chosen on the
  validation split (written to config.json as `pointing_layer`: the image page opens that layer
  first); also the last layer's mean, every layer's mean and every single head (the best head, too,
  chosen on the validation split).

Writes reports/caption_eval.json and reports/caption_eval.md, and adds the test scores to each
model's metrics.json and README.md.
Run: python -m models.evaluate.captions [--scenes data/scenes] [--models captioner-sat captioner-transformer]
     [--update]   (rescore only the models named; the report keeps the others' rows)
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.data.scene_features import load_features
from models.data.scenes import DEFAULT_OUT, OBJECT_NAMES, Scene, load_scenes
from models.formats.captioner_folder import POINTING_TARGET, load_decoder
from models.nets.caption_common import BOS, EOS
from models.serve.captioner import WEIGHTS_DIR, decode
from models.train.cards import write_captioner_card
from models.train.grounding import cells_in_box
from models.train.metrics import bleu4

log = logging.getLogger(__name__)

CANVAS = 224  # px per side of a scene = the model input
REPORTS = Path("reports")
TARGETS = {"bleu4": 50.0, "pointing": POINTING_TARGET}


def pointed_steps(words: list[str], scene: Scene, steps: int) -> list[int]:
    """The steps (< steps) whose word names an object in the scene: the words the pointing game scores."""
    present = {o.name for o in scene.objects}
    return [t for t, word in enumerate(words) if word in present and t < steps]


def point_hits(
    spatial: np.ndarray, words: list[str], scene: Scene, grid: tuple[int, int]
) -> tuple[list[np.ndarray], list[np.ndarray], list[float]]:
    """For every step of `pointed_steps`: strict hits, overlap hits, chance level.

    spatial: (T, M, P) maps of M kinds (heads, means) per step. Returns per word (M,) bool arrays and a float.
    """
    h, w = grid
    ph, pw = CANVAS / h, CANVAS / w  # px per cell: 14 for DINOv2's patches, 32 for the CNN grid
    boxes = {o.name: o.box for o in scene.objects}
    rows, cols = np.divmod(np.arange(h * w), w)  # (P,) each
    strict, overlap, chance = [], [], []
    for t in pointed_steps(words, scene, spatial.shape[0]):
        left, top, right, bottom = boxes[words[t]]
        inside = cells_in_box(boxes[words[t]], grid)  # (P,) cell centre in the box: shared with --grounding training
        best = spatial[t].argmax(axis=-1)  # (M,)
        r, c = rows[best], cols[best]
        strict.append(inside[best])
        overlap.append((c * pw < right) & ((c + 1) * pw > left) & (r * ph < bottom) & ((r + 1) * ph > top))
        chance.append(float(inside.mean()))
    return strict, overlap, chance


def evaluate_model(
    folder: Path,
    scenes: list[Scene],
    features: np.ndarray,
    batch: int = 100,
    head: str | None = None,
    layer: int | None = None,
    beam: int | None = None,
) -> dict[str, Any]:
    """Captions of the scenes by the decoder in `folder` (decoded as its config says: greedy, or `beam`),
    scored (see the module docstring).

    head: the single-head map ("layer l head h") to report as `pointing_best_head`, and layer: the layer
    whose mean over heads is the headline `pointing`, both chosen beforehand on other scenes; None picks
    the best one on these scenes. beam: decode with this beam instead of the config's (1 = greedy).
    """
    decoder, vocab, config = load_decoder(folder)
    width = beam or int(config.get("beam", 1))
    model_id = folder.name
    grid = tuple(decoder.config.grid)
    index = vocab.index
    hyps: list[list[str]] = []
    maps: list[np.ndarray] = []  # per scene (T, M, P)
    gates: list[np.ndarray | None] = []  # per scene (T,) Show-Attend-Tell's beta, None for the Transformer
    labels: list[str] = []
    for k in range(0, len(scenes), batch):
        x = torch.from_numpy(np.asarray(features[[s.id for s in scenes[k : k + batch]]], dtype=np.float32))
        out = decode(decoder, x, index[BOS], index[EOS], width)
        spatial = out.spatial.float()  # (B, T, L, H, P)
        B, T, L, H, P = spatial.shape
        mean = spatial.mean(dim=3)  # (B, T, L, P)
        if L == 1 and H == 1:
            kinds = spatial[:, :, 0, 0, None]  # (B, T, 1, P)
            labels = ["attention"]
        else:
            per_head = spatial.reshape(B, T, L * H, P)  # (B, T, L*H, P)
            kinds = torch.cat([mean, per_head], dim=2)  # (B, T, L + L*H, P)
            labels = [f"layer {lay} mean" for lay in range(L)] + [
                f"layer {lay} head {h}" for lay in range(L) for h in range(H)
            ]
        for b, row in enumerate(out.tokens.tolist()):
            hyps.append(vocab.decode(row))
            maps.append(kinds[b].numpy())
            gates.append(None if out.gates is None else out.gates[b].float().numpy())
    captions = [" ".join(words) for words in hyps]
    strict: list[np.ndarray] = []
    overlap: list[np.ndarray] = []
    chance: list[float] = []
    repeated: list[bool] = []  # per pointed word: the noun was already in the caption ("and the bus ...")
    gate_open: list[bool] = []  # per pointed word: beta >= 0.5 (always True without a gate)
    named, mentioned, generated_nouns, correct_nouns = 0, 0, 0, 0
    for words, m, g, scene in zip(hyps, maps, gates, scenes, strict=True):
        s, o, c = point_hits(m, words, scene, grid)  # type: ignore[arg-type]
        pointed = pointed_steps(words, scene, m.shape[0])  # the words point_hits scored, in its order
        repeated += [words[t] in words[:t] for t in pointed]
        gate_open += [g is None or bool(g[t] >= 0.5) for t in pointed]
        strict += s
        overlap += o
        chance += c
        nouns = [w for w in words if w in OBJECT_NAMES]
        present = {o.name for o in scene.objects}
        generated_nouns += len(nouns)
        correct_nouns += sum(n in present for n in nouns)
        named += len(present & set(nouns))
        mentioned += len(present)
    empty = np.zeros((1, len(labels)))  # no object noun to point at: every rate is 0
    strict_rate = np.mean(strict or empty, axis=0)  # (M,)
    overlap_rate = np.mean(overlap or empty, axis=0)
    pointing = {label: round(float(v), 4) for label, v in zip(labels, strict_rate, strict=True)}
    pointing_overlap = {label: round(float(v), 4) for label, v in zip(labels, overlap_rate, strict=True)}
    result: dict[str, Any] = {
        "model": model_id,
        "kind": config["kind"],
        "test_scenes": len(scenes),
        "beam": width,
        "bleu4": round(bleu4(captions, [s.references for s in scenes]), 2),
        "exact_match": round(float(np.mean([c in s.references for c, s in zip(captions, scenes, strict=True)])), 4),
        "object_precision": round(correct_nouns / max(1, generated_nouns), 4),
        "object_recall": round(named / max(1, mentioned), 4),
        "pointed_words": len(strict),
        "pointing_chance": round(float(np.mean(chance or [0.0])), 4),
    }
    # The headline map's hits split by kind of word: first mentions vs repeats, and (Show-Attend-Tell) by gate.
    headline = labels.index("attention") if labels == ["attention"] else None
    if headline is not None:
        result["pointing"] = pointing["attention"]
        result["pointing_overlap"] = pointing_overlap["attention"]
    else:
        last = max(int(label.split()[1]) for label in labels)
        heads = {k: v for k, v in pointing.items() if "head" in k}
        best_head = head if head is not None else max(heads, key=lambda k: heads[k])
        means = {int(k.split()[1]): v for k, v in pointing.items() if k.endswith("mean")}
        shown = layer if layer is not None else max(means, key=lambda k: means[k])
        result["pointing"] = pointing[f"layer {shown} mean"]
        result["pointing_layer"] = shown
        result["pointing_map"] = f"layer {shown} mean over heads"
        result["pointing_overlap"] = pointing_overlap[f"layer {shown} mean"]
        result["pointing_last_layer"] = pointing[f"layer {last} mean"]
        result["pointing_best_head"] = {
            "map": best_head,
            "strict": heads[best_head],
            "overlap": pointing_overlap[best_head],
        }
        result["pointing_per_map"] = pointing
        headline = labels.index(f"layer {shown} mean")
    hits = np.array([row[headline] for row in strict], dtype=bool)
    split = {
        "first_mentions": ~np.array(repeated, dtype=bool),
        "repeated_mentions": np.array(repeated, dtype=bool),
        "gate_open": np.array(gate_open, dtype=bool),
        "gate_closed": ~np.array(gate_open, dtype=bool),
    }
    result["pointing_by_word"] = {
        name: {"words": int(mask.sum()), "pointing": round(float(hits[mask].mean()), 4) if mask.any() else None}
        for name, mask in split.items()
        if len(hits) and (any(g is not None for g in gates) or not name.startswith("gate"))
    }
    result["examples"] = [
        {"id": s.id, "generated": c, "references": list(s.references)}
        for c, s in zip(captions[:8], scenes[:8], strict=True)
    ]
    return result


def decoding(beam: int) -> str:
    return "greedy" if beam == 1 else f"beam search of width {beam}"


def markdown(results: list[dict[str, Any]], command: str) -> str:
    lines = [
        "# Caption evaluation",
        "",
        "Held-out test scenes of the composed set (models/data/scenes.py: real-photo cut-outs, drawings and emoji "
        "on real photos); each captioner decoded as it is served ("
        + ", ".join(f"{r['model']} {decoding(r.get('beam', 1))}" for r in results)
        + f"). Reproduce: `{command}`.",
        "",
        f"Targets: BLEU-4 >= {TARGETS['bleu4']:g}, pointing >= {TARGETS['pointing']:g}.",
        "",
        "| model | BLEU-4 | exact | obj. precision | obj. recall | pointing (strict) | pointing (overlap) | "
        "map | last layer | best single head | chance |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        best = r.get("pointing_best_head")
        best_text = f"{best['strict']:.3f} ({best['map']}, chosen on val)" if best else "n/a"
        last = f"{r['pointing_last_layer']:.3f}" if "pointing_last_layer" in r else "n/a"
        lines.append(
            f"| {r['model']} | {r['bleu4']:.1f} | {r['exact_match']:.3f} | {r['object_precision']:.3f} | "
            f"{r['object_recall']:.3f} | {r['pointing']:.3f} | {r['pointing_overlap']:.3f} | "
            f"{r.get('pointing_map', 'the attention')} | {last} | {best_text} | {r['pointing_chance']:.3f} |"
        )
    lines += [
        "",
        "Pointing: for each generated object noun that names an object in the scene, the argmax patch of the "
        "attention map of the step that produced the word must lie in that object's box (strict: patch centre "
        "inside; overlap: the 14 px cell touches the box). The Transformer's headline map is the mean over heads "
        "of the layer that points best on the validation split. Chance: share of patch centres inside the box.",
        "",
    ]
    for r in results:
        words = {
            "first_mentions": "first mention of an object",
            "repeated_mentions": 'repeated noun ("and the bus ...": the word follows from the sentence)',
            "gate_open": "Show-Attend-Tell gate beta >= 0.5 (the image context reached the decoder)",
            "gate_closed": "gate beta < 0.5 (the decoder shut the image out for this word)",
        }
        lines += [f"## {r['model']}: pointing by kind of word (headline map)", ""]
        lines += [
            f"- {words[k]}: {v['pointing']} over {v['words']} words" for k, v in r.get("pointing_by_word", {}).items()
        ]
        lines.append("")
    for r in results:
        if "pointing_per_map" in r:
            lines += [f"## {r['model']}: pointing per map", ""]
            lines += [f"- {k}: {v:.3f}" for k, v in r["pointing_per_map"].items()]
            lines.append("")
    for r in results:
        lines += [f"## {r['model']}: first test scenes", ""]
        lines += [f'- #{e["id"]}: "{e["generated"]}" (reference: "{e["references"][0]}")' for e in r["examples"]]
        lines.append("")
    return "\n".join(lines)


def merge_results(path: Path, results: list[dict[str, Any]], command: str) -> list[dict[str, Any]]:
    """The rows of the report at `path` with those of `results` put in their place (new models appended).

    Refuses a report made from other scenes: its rows would not be comparable."""
    old: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {"command": command, "results": []}
    if old.get("command") != command:
        raise SystemExit(f"{path} was made by `{old.get('command')}`, not `{command}`: rerun every model instead")
    rows = {r["model"]: r for r in old["results"]} | {r["model"]: r for r in results}  # replaced rows keep their place
    return list(rows.values())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenes", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--models", nargs="+", default=["captioner-sat", "captioner-transformer", "captioner-sat-cnn"])
    parser.add_argument("--out", type=Path, default=REPORTS)
    parser.add_argument("--weights", type=Path, default=WEIGHTS_DIR, help="folder holding one folder per model id")
    parser.add_argument(
        "--update", action="store_true", help="keep the report's rows of the models not named in --models"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(1)
    scenes = load_scenes(args.scenes, "test")
    val_scenes = load_scenes(args.scenes, "val")
    results = []
    for model_id in args.models:
        folder = args.weights / model_id
        if not (folder / "model.safetensors").exists():
            log.warning("skipping %s: no weights", model_id)
            continue
        layer = json.loads((folder / "config.json").read_text()).get("feature_layer")
        needed = [s.id for s in scenes + val_scenes]  # features of training scenes are not read
        features = load_features(args.scenes, layer, needed)  # the layer this model reads
        with torch.inference_mode():
            val = evaluate_model(folder, val_scenes, features)
            chosen = val.get("pointing_best_head", {}).get("map")
            result = evaluate_model(folder, scenes, features, head=chosen, layer=val.get("pointing_layer"))
        if chosen:
            result["pointing_best_head"]["chosen_on"] = f"validation split ({val['pointing_best_head']['strict']})"
            result["pointing_layer_chosen_on"] = f"validation split ({val['pointing']})"
        config = json.loads((folder / "config.json").read_text())
        config["pointing_layer"] = result.get("pointing_layer")  # the layer the image page opens first
        (folder / "config.json").write_text(json.dumps(config, indent=1) + "\n")
        log.info("%s: BLEU-4 %.2f, pointing %.3f", model_id, result["bleu4"], result["pointing"])
        results.append(result)
        metrics = json.loads((folder / "metrics.json").read_text())
        metrics["test"] = {k: v for k, v in result.items() if k not in ("examples", "pointing_per_map", "model")}
        (folder / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
        write_captioner_card(folder)
    command = "python -m models.evaluate.captions --scenes " + str(args.scenes)
    if args.update:
        results = merge_results(args.out / "caption_eval.json", results, command)
    args.out.mkdir(parents=True, exist_ok=True)
    report = {"command": command, "targets": TARGETS, "results": results}
    (args.out / "caption_eval.json").write_text(json.dumps(report, indent=1) + "\n")
    (args.out / "caption_eval.md").write_text(markdown(results, command))
    log.info("wrote %s", args.out / "caption_eval.json")


if __name__ == "__main__":
    main()
