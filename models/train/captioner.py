"""Train a captioner (models/nets/sat.py or caption_transformer.py) on the scenes' cached DINOv2 features.

Prerequisites:
  python -m models.data.scenes --out data/scenes --n 4000
  python -m models.data.scene_features --scenes data/scenes

Each epoch visits every training scene once (shuffled, seeded by seed and epoch, so a resumed run
sees the same order) with its canonical caption (models.data.scenes.canonical_caption; --captions
random draws one valid phrasing per visit instead, as the first shipped weights were trained). Loss: cross-entropy
of the next word (+ Xu et al.'s doubly stochastic term for Show-Attend-Tell; + with --grounding LAMBDA, the
attention mass on each named object's box: models/train/grounding.py). AdamW, linear
warm-up then cosine decay over --epochs, gradient norm clipped at 5. Every --eval-every epochs
the validation split is captioned greedily; the best validation BLEU-4 is kept.

Outputs:
  checkpoints/<id>/last.pt        model + optimiser + history after every epoch (resume: run again)
  models/weights/<id>/            model.safetensors (fp16), config.json, vocab.json, metrics.json, README.md

  python -m models.data.scene_features --scenes data/scenes --layer cnn     (captioner-sat-cnn: 224 px pass)
  python -m models.data.scene_features --scenes data/scenes --layer cnn14   (and its enlarged pass, about 40 CPU-min)

Run (one thread; the other core is someone else's):
  OMP_WAIT_POLICY=PASSIVE python -m models.train.captioner --model sat --epochs 60 --minutes 18
  OMP_WAIT_POLICY=PASSIVE python -m models.train.captioner --model transformer --epochs 60 --minutes 18
  OMP_WAIT_POLICY=PASSIVE python -m models.train.captioner --model sat --id captioner-sat-cnn --feature-layer cnn14 \
      --gated-coverage --reads classes --evidence-bias --doubly-stochastic 1.0 --grounding 3.0 --epochs 12 --minutes 40
  (--grounding LAMBDA: attention supervision, chosen on val: reports/grounding_choice.md; then models.evaluate's
  decoding_choice and face_cues_choice --write pick its decoding and face cues; --layer faces for its evaluation)
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F
from tqdm import tqdm

from models.data.scene_features import CNN, CNN_FINE, feature_paths, layer_name, load_features, parse_layer
from models.data.scenes import DEFAULT_OUT, OBJECT_NAMES, canonical_caption, load_scenes
from models.formats.captioner_folder import Decoder, Vocab, build_decoder, save_decoder
from models.nets.caption_common import BOS, EOS
from models.nets.cnn_grid import CHANNELS as CNN_CHANNELS
from models.nets.dinov2 import FEATURE_LAYER
from models.nets.sat import ShowAttendTell, doubly_stochastic_penalty
from models.serve.captioner import WEIGHTS_DIR
from models.train.cards import write_captioner_card
from models.train.grounding import grounding_loss, noun_cells
from models.train.loop import Stopwatch, save_checkpoint, set_threads
from models.train.metrics import bleu4

log = logging.getLogger(__name__)

PAD_ID = 0


def batch_ids(vocab: Vocab, captions: list[str]) -> torch.Tensor:
    """(B, T + 1) <bos> w1 ... wn <eos> <pad>... ids."""
    encoded = [vocab.encode(c) for c in captions]
    width = max(len(e) for e in encoded)
    return torch.tensor([e + [PAD_ID] * (width - len(e)) for e in encoded], dtype=torch.long)


def caption_loss(
    decoder: Decoder,
    features: torch.Tensor,
    ids: torch.Tensor,
    log_probs: torch.Tensor | None = None,
    grounding: tuple[float, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, float]:
    """Teacher-forced loss of a batch: features (B, P, F), ids (B, T + 1); log_probs: a reads = "classes"
    decoder's class_log_probs of the features, when computed beforehand. grounding (Show-Attend-Tell): (lambda,
    cells (B, T, P) of each target word's named object) adds lambda * grounding_loss (models/train/grounding.py).
    Returns (loss, cross-entropy)."""
    inputs, targets = ids[:, :-1], ids[:, 1:]  # (B, T) each
    mask = targets != PAD_ID  # (B, T)
    if isinstance(decoder, ShowAttendTell):
        out = decoder(features, inputs, log_probs)
        ce = F.cross_entropy(out.logits.transpose(1, 2), targets, ignore_index=PAD_ID)
        # Gated coverage: a step whose gate shuts the image out (beta ~ 0) covers nothing, so the penalty does not
        # push its unused attention onto patches not yet covered.
        attentions = out.attentions * out.gates.unsqueeze(-1) if decoder.config.gated_coverage else out.attentions
        loss = ce + decoder.config.doubly_stochastic * doubly_stochastic_penalty(attentions, mask)
        if grounding is not None:
            loss = loss + grounding[0] * grounding_loss(out.attentions, grounding[1])  # alpha itself: the map shown
        return loss, ce.item()
    logits = decoder(features, inputs).logits  # (B, T, V)
    ce = F.cross_entropy(logits.transpose(1, 2), targets, ignore_index=PAD_ID)
    return ce, ce.item()


def greedy_captions(decoder: Decoder, vocab: Vocab, features: np.ndarray, batch: int = 100) -> list[list[str]]:
    """Greedy words for every row of features (n, P, F) float16."""
    decoder.eval()
    index = vocab.index
    words: list[list[str]] = []
    for k in range(0, len(features), batch):
        x = torch.from_numpy(np.asarray(features[k : k + batch], dtype=np.float32))
        out = decoder.generate(x, index[BOS], index[EOS])
        words += [vocab.decode(row) for row in out.tokens.tolist()]
    return words


def fill_classifier(decoder: Decoder, vocab: Vocab, nouns: list[str], classes: list[list[int]]) -> None:
    """Copy EfficientNet-Lite0's classifier head into a reads = "classes" decoder, and (evidence_bias) its
    class-to-word map: each ImageNet class counted for the most specific noun that covers it (the fewest
    classes), so a duck's classes are "duck" evidence and not also "bird" evidence."""
    from models.formats.efficientnet_lite import load_efficientnet_lite0

    if not isinstance(decoder, ShowAttendTell):
        raise TypeError("only Show-Attend-Tell reads the classifier")
    head = load_efficientnet_lite0()._fc
    assert isinstance(head, torch.nn.Linear)
    decoder.head_weight.copy_(head.weight.detach())
    decoder.head_bias.copy_(head.bias.detach())
    if not decoder.config.evidence_bias:
        return
    index = vocab.index
    owner: dict[int, str] = {}
    for noun, ids in sorted(zip(nouns, classes, strict=True), key=lambda pair: (-len(pair[1]), pair[0])):
        if noun in index:
            owner.update(dict.fromkeys(ids, noun))  # narrower nouns come later and take their classes over
    members = decoder.noun_members
    members.zero_()
    for c, noun in owner.items():
        members[c, index[noun]] = 1.0


def lr_at(step: int, total: int, base: float, warmup: int = 100) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return base * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))


def parameter_count(decoder: Decoder) -> int:
    return sum(p.numel() for name, p in decoder.named_parameters() if name != "head.weight")


def train(args: argparse.Namespace) -> None:
    torch.manual_seed(args.seed)
    model_id = args.id or f"captioner-{args.model}"
    scenes = load_scenes(args.scenes)
    feature_layer = parse_layer(args.feature_layer)
    features = load_features(args.scenes, feature_layer)
    train_scenes = [s for s in scenes if s.split == "train"]
    val_scenes = [s for s in scenes if s.split == "val"]
    log.info("loading %d train + %d val feature grids", len(train_scenes), len(val_scenes))
    train_ids = [s.id for s in train_scenes]
    # reads = "classes" keeps the class log-probabilities of every training scene instead (computed once, below)
    train_x = None if args.reads == "classes" else torch.from_numpy(np.ascontiguousarray(features[train_ids]))
    val_x = np.ascontiguousarray(features[[s.id for s in val_scenes]])
    vocab = Vocab.build([r for s in train_scenes for r in s.references])
    # one fixed phrasing per scene (models.data.scenes.canonical_caption), or a random one each epoch
    targets = [canonical_caption(s.references) for s in train_scenes] if args.captions == "canonical" else None
    overrides: dict[str, Any] = {"vocab_size": len(vocab)}
    cells, width = features.shape[1:]
    side = round(math.sqrt(cells))
    overrides.update(feature_dim=width, grid=(side, side))  # DINOv2: 16 x 16 x 384; EfficientNet-Lite0: 7 x 7 x 1515
    backbone: dict[str, Any] = {}
    if args.evidence_only and feature_layer != CNN:
        raise SystemExit("--evidence-only needs --feature-layer cnn")
    hide_rng = torch.Generator().manual_seed(args.seed)
    if args.evidence_only and train_x is None:
        raise SystemExit("--evidence-only reads the features: not with --reads classes")
    feature_mean = None
    if train_x is not None and args.evidence_only:
        feature_mean = train_x[:, :, :CNN_CHANNELS].float().mean(dim=(0, 1))
    if feature_layer in (CNN, CNN_FINE):
        info = json.loads(feature_paths(args.scenes, CNN)[2].read_text())
        backbone = {
            "backbone": "efficientnet-lite0",
            "evidence_nouns": info["evidence_nouns"],
            "evidence_classes": info["evidence_classes"],
        }
    if args.gated_coverage:
        overrides["gated_coverage"] = True
    if args.doubly_stochastic is not None:
        overrides["doubly_stochastic"] = args.doubly_stochastic
    if args.reads == "classes":
        if feature_layer not in (CNN, CNN_FINE) or args.model != "sat":
            raise SystemExit("--reads classes needs --model sat --feature-layer cnn (or cnn14)")
        overrides.update(
            reads="classes",
            evidence=len(backbone["evidence_nouns"]),
            evidence_bias=args.evidence_bias,
            scales=2 if feature_layer == CNN_FINE else 1,
        )
    decoder = build_decoder(args.model, overrides)
    nouns = noun_cells(train_scenes, vocab.index, (side, side)) if args.grounding > 0 else None  # cells, once
    train_lp = None
    if args.reads == "classes":
        fill_classifier(decoder, vocab, backbone["evidence_nouns"], backbone["evidence_classes"])
        assert isinstance(decoder, ShowAttendTell)
        with torch.no_grad():
            train_lp = torch.cat(
                [
                    decoder.class_log_probs(torch.from_numpy(np.asarray(features[train_ids[k : k + 64]], np.float32)))
                    .half()
                    for k in tqdm(range(0, len(train_ids), 64), desc="class log-probabilities", leave=False)
                ]
            )  # (N, P, S, C) fp16
    optimizer = torch.optim.AdamW(decoder.parameters(), lr=args.lr, weight_decay=0.01)
    checkpoint_path = Path(args.checkpoints) / model_id / "last.pt"
    out = Path(args.out) if args.out else WEIGHTS_DIR / model_id
    history: list[dict[str, Any]] = []
    start_epoch, best, best_epoch, spent = 0, -1.0, -1, 0.0
    if checkpoint_path.exists():
        state = torch.load(checkpoint_path, weights_only=False)
        decoder.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start_epoch, best, best_epoch = state["epoch"], state["best"], state["best_epoch"]
        history, spent = state["history"], state["seconds"]
        torch.set_rng_state(state["torch_rng"])
        log.info("resumed %s after epoch %d (%.1f min spent)", model_id, start_epoch, spent / 60)
    watch = Stopwatch(spent)  # process CPU time, training and validation
    steps_per_epoch = math.ceil(len(train_scenes) / args.batch)
    total_steps = steps_per_epoch * args.epochs
    log.info(
        "%s: %d parameters, vocab %d, %d steps/epoch", model_id, parameter_count(decoder), len(vocab), steps_per_epoch
    )

    def save_best(epoch: int, val_bleu: float) -> None:
        known = sorted({o.name for s in train_scenes for o in s.objects} & set(OBJECT_NAMES))
        extra = {
            "model_id": model_id,
            "known_objects": known,
            "feature_layer": feature_layer,
            "captions": args.captions,
            **({"grounding": args.grounding} if args.grounding > 0 else {}),
            **backbone,
        }
        save_decoder(out, args.model, decoder, vocab, extra)
        log.info("epoch %d: new best val BLEU-4 %.2f, saved to %s", epoch, val_bleu, out)

    for epoch in range(start_epoch, args.epochs):
        if watch.seconds > args.minutes * 60:
            log.info("time budget of %.0f min reached after %d epochs", args.minutes, epoch)
            break
        with watch:  # CPU time: a run sharing the cores (or niced) is not cut short
            decoder.train()
            rng = random.Random(f"{args.seed}-{epoch}")
            order = list(range(len(train_scenes)))
            rng.shuffle(order)
            losses = []
            bar = tqdm(range(steps_per_epoch), desc=f"{model_id} epoch {epoch + 1}/{args.epochs}", leave=False)
            for k in bar:
                step = epoch * steps_per_epoch + k
                for group in optimizer.param_groups:
                    group["lr"] = lr_at(step, total_steps, args.lr)
                rows = order[k * args.batch : (k + 1) * args.batch]
                captions = [targets[i] if targets else rng.choice(train_scenes[i].references) for i in rows]
                ids = batch_ids(vocab, captions)
                x = train_x[rows].float() if train_x is not None else torch.empty(0)
                lp = train_lp[rows].float() if train_lp is not None else None
                if args.evidence_only > 0:  # hide the CNN features of some scenes: the decoder must read the evidence
                    hide = torch.rand(len(rows), generator=hide_rng) < args.evidence_only
                    x[hide, :, :CNN_CHANNELS] = feature_mean  # type: ignore[assignment]
                grounding = (args.grounding, nouns.step_cells(rows, ids[:, 1:])) if nouns is not None else None
                loss, ce = caption_loss(decoder, x, ids, lp, grounding)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(decoder.parameters(), 5.0)
                optimizer.step()
                losses.append(ce)
                bar.set_postfix(ce=f"{np.mean(losses[-20:]):.3f}")
            record: dict[str, Any] = {"epoch": epoch + 1, "train_ce": round(float(np.mean(losses)), 4)}
            if (epoch + 1) % args.eval_every == 0 or epoch + 1 == args.epochs:
                hyps = [" ".join(w) for w in greedy_captions(decoder, vocab, val_x)]
                record["val_bleu4"] = round(bleu4(hyps, [s.references for s in val_scenes]), 2)
                exact = [h in s.references for h, s in zip(hyps, val_scenes, strict=True)]
                record["val_exact"] = round(float(np.mean(exact)), 4)
                if record["val_bleu4"] > best:
                    best, best_epoch = record["val_bleu4"], epoch + 1
                    save_best(epoch + 1, best)
        record["minutes"] = round(watch.seconds / 60, 2)
        history.append(record)
        log.info("%s", record)
        save_checkpoint(
            checkpoint_path,
            {
                "model": decoder.state_dict(),
                "optimizer": optimizer.state_dict(),
                "epoch": epoch + 1,
                "best": best,
                "best_epoch": best_epoch,
                "history": history,
                "seconds": watch.seconds,
                "torch_rng": torch.get_rng_state(),
            },
        )
    if not (out / "model.safetensors").exists():
        log.warning(
            "budget spent after %d epochs, before a validation pass saved weights: nothing exported", len(history)
        )
        return
    metrics_path = out / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
    metrics.update(
        id=model_id,
        kind=args.model,
        parameters=parameter_count(decoder),
        weights_bytes=(out / "model.safetensors").stat().st_size,
        vocab_size=len(vocab),
        epochs=history[-1]["epoch"] if history else 0,
        best_epoch=best_epoch,
        val_bleu4=best,
        train_seconds=round(watch.seconds, 1),
        seed=args.seed,
        threads=torch.get_num_threads(),
        data={
            "n": len(scenes),
            "seed": json.loads((args.scenes / "manifest.json").read_text())["seed"],
            "splits": f"{len(train_scenes)} / {len(val_scenes)} / {sum(s.split == 'test' for s in scenes)}",
        },
        history=history,
    )
    metrics_path.write_text(json.dumps(metrics, indent=1) + "\n")
    write_captioner_card(out)
    log.info("done: best val BLEU-4 %.2f at epoch %d; %s", best, best_epoch, out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=("sat", "transformer"), required=True)
    parser.add_argument("--id", default=None, help="model id (default captioner-<model>)")
    parser.add_argument("--scenes", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--out", default=None, help="weights folder (default models/weights/<id>)")
    parser.add_argument("--checkpoints", default="checkpoints")
    parser.add_argument(
        "--feature-layer",
        default=layer_name(FEATURE_LAYER),
        help='DINOv2 hidden_states index to read, "last", or "cnn" for the EfficientNet-Lite0 grid '
        "(captioner-sat-cnn); the features must be extracted",
    )
    parser.add_argument(
        "--captions",
        choices=("canonical", "random"),
        default="canonical",
        help="train on each scene's canonical phrasing, or a random valid phrasing per epoch",
    )
    parser.add_argument(
        "--gated-coverage",
        action="store_true",
        help="Show-Attend-Tell: doubly stochastic penalty on sum_t beta_t alpha_ti",
    )
    parser.add_argument(
        "--evidence-only",
        type=float,
        default=0.0,
        help="CNN grid: share of training scenes whose 1280 CNN features are replaced by their mean, "
        "so that only the class evidence tells the objects apart (0 = off)",
    )
    parser.add_argument(
        "--doubly-stochastic",
        type=float,
        default=None,
        help="Show-Attend-Tell: lambda of the doubly stochastic penalty (default: the config's, 1.0)",
    )
    parser.add_argument(
        "--reads",
        choices=("annotations", "classes"),
        default="annotations",
        help='Show-Attend-Tell over the CNN grid: read the features, or "classes": the frozen ImageNet '
        "classifier's log-probabilities of each cell",
    )
    parser.add_argument(
        "--evidence-bias",
        action="store_true",
        help="with --reads classes: add the attended cells' class evidence to each noun's score",
    )
    parser.add_argument(
        "--grounding", type=float, default=0.0, help="Show-Attend-Tell: attention grounding lambda (0 = off)"
    )
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--minutes", type=float, default=18.0, help="stop (resumably) after this much CPU time")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--eval-every", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    if args.gated_coverage and args.model != "sat":
        parser.error("--gated-coverage applies to --model sat only")
    if args.grounding < 0 or (args.grounding and args.model != "sat"):
        parser.error("--grounding takes a lambda >= 0 and applies to --model sat only")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    set_threads(args.threads)
    train(args)


if __name__ == "__main__":
    main()
