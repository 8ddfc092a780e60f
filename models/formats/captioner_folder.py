"""Our captioners' weight folders: model.safetensors (fp16), config.json and vocab.json.

The word vocabulary, building a decoder (models/nets/sat.py or models/nets/caption_transformer.py) from
its config, and saving / loading a folder.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from models.nets.caption_common import BOS, EOS, SPECIALS, UNK
from models.nets.caption_transformer import TransformerCaptioner, TransformerCaptionerConfig
from models.nets.sat import SatConfig, SatEnsemble, SatEnsembleConfig, ShowAttendTell

log = logging.getLogger(__name__)

POINTING_TARGET = 0.85  # issue 5: share of object words whose map peaks inside the object's box


@dataclass(frozen=True)
class Vocab:
    """Word-level vocabulary: the four specials first, then the words."""

    tokens: tuple[str, ...]

    @staticmethod
    def build(captions: list[str]) -> Vocab:
        words = sorted({w for c in captions for w in c.split()})
        return Vocab(SPECIALS + tuple(words))

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def index(self) -> dict[str, int]:
        return {t: i for i, t in enumerate(self.tokens)}

    def encode(self, caption: str) -> list[int]:
        """<bos> w1 ... wn <eos> as ids."""
        index = self.index
        return [index[BOS], *(index.get(w, index[UNK]) for w in caption.split()), index[EOS]]

    def decode(self, ids: list[int]) -> list[str]:
        """Ids up to (not including) the first <eos>, specials dropped."""
        words = []
        for i in ids:
            token = self.tokens[i]
            if token == EOS:
                break
            if token not in SPECIALS:
                words.append(token)
        return words


Decoder = ShowAttendTell | TransformerCaptioner


KINDS: dict[str, tuple[type[Any], type[Any]]] = {
    "sat": (SatConfig, ShowAttendTell),
    "sat-ensemble": (SatEnsembleConfig, SatEnsemble),  # N Show-Attend-Tell decoders read as one
    "transformer": (TransformerCaptionerConfig, TransformerCaptioner),
}


def build_decoder(kind: str, config: dict[str, Any]) -> Decoder:
    config_cls, model_cls = KINDS[kind]
    fields = dict(config)
    fields["grid"] = tuple(fields.get("grid", (16, 16)))
    if "cues" in fields:
        fields["cues"] = tuple(fields["cues"])
    decoder: Decoder = model_cls(config_cls(**fields))
    return decoder


def save_decoder(folder: Path, kind: str, decoder: Decoder, vocab: Vocab, extra: dict[str, Any]) -> None:
    """Write model.safetensors (fp16), config.json and vocab.json to folder."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in decoder.state_dict().items()}
    if isinstance(decoder, TransformerCaptioner):
        state.pop("head.weight")  # tied to embed.weight
    save_file(state, str(folder / "model.safetensors"))
    config = {"kind": kind, "config": asdict(decoder.config), **extra}
    (folder / "config.json").write_text(json.dumps(config, indent=1) + "\n")
    (folder / "vocab.json").write_text(json.dumps(list(vocab.tokens), indent=0) + "\n")


def load_decoder(folder: Path) -> tuple[Decoder, Vocab, dict[str, Any]]:
    """(decoder in float32, eval mode; vocab; config.json) from a folder written by save_decoder."""
    from safetensors.torch import load_file

    if not (folder / "model.safetensors").exists():
        raise FileNotFoundError(f"no captioner weights in {folder}; train them with models/train/captioner.py")
    config = json.loads((folder / "config.json").read_text())
    vocab = Vocab(tuple(json.loads((folder / "vocab.json").read_text())))
    decoder = build_decoder(config["kind"], config["config"])
    state = {k: v.float() for k, v in load_file(str(folder / "model.safetensors")).items()}
    if isinstance(decoder, TransformerCaptioner):
        state["head.weight"] = state["embed.weight"]
    decoder.load_state_dict(state)
    evidence_choices(decoder, vocab, config, folder)
    return decoder.eval(), vocab, config


def unvouched_words(vocab: Vocab, config: dict[str, Any]) -> list[int]:
    """Ids of the nouns nothing real-photo-trained vouches for: no ImageNet class (config evidence_classes) and
    no cue column (the decoder's `cues`, e.g. faces for "person")."""
    cues = set(config["config"].get("cues") or ())
    nouns = zip(config.get("evidence_nouns", ()), config.get("evidence_classes", ()), strict=True)
    return [vocab.index[noun] for noun, ids in nouns if not ids and vocab.index[noun] not in cues]


def evidence_choices(decoder: Decoder, vocab: Vocab, config: dict[str, Any], folder: Path) -> None:
    """Decoding choices of a decoder with class evidence (models/evaluate/evidence_gain_choice.py), applied to its
    weights: `evidence_scale` multiplies the learned evidence gains, `unvouched_penalty` lowers the output bias of
    the unvouched nouns (their score at every step) by that much, `confident_evidence` {"threshold", "gain"} adds
    to each noun's score the gain times its attended evidence above the threshold (ShowAttendTell.confident;
    models/evaluate/confident_evidence_choice.py)."""
    scale, penalty = config.get("evidence_scale"), config.get("unvouched_penalty")
    confident = config.get("confident_evidence")
    if scale is None and penalty is None and confident is None:
        return
    if not (isinstance(decoder, ShowAttendTell) and decoder.config.evidence_bias):
        raise ValueError(
            f"evidence_scale / unvouched_penalty / confident_evidence need a Show-Attend-Tell decoder with evidence "
            f"({folder})"
        )
    if confident is not None:
        threshold, gain = float(confident["threshold"]), float(confident["gain"])
        if not (0 <= threshold < 1 and gain >= 0):
            raise ValueError(f"confident_evidence needs 0 <= threshold < 1 and gain >= 0, got {confident} ({folder})")
        decoder.confident = (threshold, gain)
    with torch.no_grad():
        if scale is not None:
            decoder.evidence_gain.mul_(float(scale))
        if penalty is not None:
            decoder.L_o.bias[unvouched_words(vocab, config)] -= float(penalty)
