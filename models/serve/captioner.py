"""Serving a captioner: image bytes -> a frozen backbone's grid -> caption with a spatial map per word.

Greedy decoding or beam search over one image; the decoder is read from models/weights/<model id>/
(models/formats/captioner_folder.py). The backbone is named by the folder's config.json: DINOv2's
16 x 16 patch grid (models/serve/dinov2.py; the default), or "efficientnet-lite0", the CNN grid
(models/nets/cnn_grid.py) that captioner-sat-cnn reads: 7 x 7 cells, or 14 x 14 with two scales when the
decoder's config says `scales: 2`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from models.contract import ImageAttentionOutput, InputError, PreprocessedImage
from models.formats.captioner_folder import Decoder, Vocab, load_decoder
from models.nets.caption_common import BOS, EOS, CaptionOutput
from models.nets.caption_transformer import TransformerCaptioner
from models.nets.cnn_grid import CnnGrid
from models.nets.dinov2 import FEATURE_LAYER, patch_features
from models.nets.sat import ShowAttendTell

if TYPE_CHECKING:
    from models.nets.dinov2 import Dinov2Backbone
log = logging.getLogger(__name__)


WEIGHTS_DIR = Path(__file__).parents[1] / "weights"


@dataclass
class _Hypothesis:
    words: list[int]  # generated ids so far
    logp: float  # sum of log-probabilities
    probs: list[float]  # per step, the probability of the chosen word
    maps: list[torch.Tensor]  # per step (L, H, P)
    gates: list[float]  # per step (Show-Attend-Tell only)
    state: tuple[torch.Tensor, torch.Tensor] | None  # LSTM (h, c), each (1, Hd); None for the Transformer

    def score(self) -> float:
        return self.logp / max(1, len(self.words))  # length-normalised


@torch.no_grad()
def beam_search(
    decoder: Decoder, features: torch.Tensor, bos: int, eos: int, beam: int = 3, max_len: int | None = None
) -> CaptionOutput:
    """Beam search over one image, features (1, P, F); returns the best hypothesis by mean log-probability
    as a CaptionOutput with B = 1. beam = 1 gives the greedy caption."""
    if features.shape[0] != 1:
        raise ValueError(f"beam search takes one image, got a batch of {features.shape[0]}")
    steps = max_len or decoder.config.max_len + 1
    if isinstance(decoder, ShowAttendTell):
        a, cache, h, c = decoder.start(features)
        alive = [_Hypothesis([], 0.0, [], [], [], (h, c))]
    else:
        memory = decoder.memory(features)  # (1, P, D)
        alive = [_Hypothesis([], 0.0, [], [], [], None)]
    finished: list[_Hypothesis] = []
    for _ in range(steps):
        candidates: list[_Hypothesis] = []
        for hyp in alive:
            previous = hyp.words[-1] if hyp.words else bos
            if isinstance(decoder, ShowAttendTell):
                assert hyp.state is not None
                logits, alpha, beta, h, c = decoder.step(torch.tensor([previous]), a, cache, *hyp.state)
                step_map, gate, state = alpha[0, None, None], [float(beta[0])], (h, c)  # (1, 1, P)
                log_probs = logits[0].log_softmax(-1)  # (V,)
            else:
                out = decoder.decode(memory, torch.tensor([[bos, *hyp.words]]))
                step_map, gate, state = out.cross_attentions[0, :, :, -1], [], None  # (L, H, P)
                log_probs = out.logits[0, -1].log_softmax(-1)  # (V,)
            top = log_probs.topk(beam)
            for logp, word in zip(top.values.tolist(), top.indices.tolist(), strict=True):
                candidates.append(
                    _Hypothesis(
                        hyp.words + [word],
                        hyp.logp + logp,
                        hyp.probs + [math.exp(logp)],
                        hyp.maps + [step_map],
                        hyp.gates + gate,
                        state,
                    )
                )
        candidates.sort(key=lambda x: x.score(), reverse=True)
        alive = []
        for cand in candidates:
            (finished if cand.words[-1] == eos else alive).append(cand)
            if len(alive) == beam:
                break
        best_finished = max((f.score() for f in finished), default=-math.inf)
        if not alive or best_finished >= alive[0].score():
            break
    best = max(finished or alive, key=lambda x: x.score())
    return CaptionOutput(
        tokens=torch.tensor([best.words]),  # (1, T)
        spatial=torch.stack(best.maps)[None],  # (1, T, L, H, P)
        gates=torch.tensor([best.gates]) if best.gates else None,
        token_probs=torch.tensor([best.probs]),
    )


def decode(decoder: Decoder, features: torch.Tensor, bos: int, eos: int, beam: int = 1) -> CaptionOutput:
    """Captions of a batch, features (B, P, F): greedy (beam = 1, batched) or beam search image by image, the
    hypotheses padded to one length with <pad> (id 0) and all-zero maps after their <eos>."""
    if beam <= 1:
        return decoder.generate(features, bos, eos)
    outs = [beam_search(decoder, features[b : b + 1], bos, eos, beam) for b in range(features.shape[0])]
    T = max(out.tokens.shape[1] for out in outs)

    def padded(parts: list[torch.Tensor]) -> torch.Tensor:  # (1, T_b, ...) each -> (B, T, ...)
        return torch.cat([torch.cat([t, t.new_zeros(1, T - t.shape[1], *t.shape[2:])], dim=1) for t in parts])

    gates = [out.gates for out in outs]
    probs = [out.token_probs for out in outs]
    return CaptionOutput(
        tokens=padded([out.tokens for out in outs]),
        spatial=padded([out.spatial for out in outs]),
        gates=None if any(g is None for g in gates) else padded(gates),  # type: ignore[arg-type]
        token_probs=None if any(p is None for p in probs) else padded(probs),  # type: ignore[arg-type]
    )


class CaptionerAttentionModel:
    """Image bytes -> backbone grid (DINOv2 patches, or a CnnGrid) -> caption with a spatial map per word, decoded
    as the weights' config says (`beam`: 1 greedy, the default; more: beam search, chosen on dev photos and
    validation scenes: reports/decoding_choice.md)."""

    def __init__(
        self,
        backbone: Dinov2Backbone | CnnGrid,
        decoder: Decoder,
        vocab: Vocab,
        known_objects: tuple[str, ...] = (),
        feature_layer: int | None = FEATURE_LAYER,
        pointing_layer: int | None = None,
        unsure_below: float | None = None,
        beam: int = 1,
    ) -> None:
        self.backbone = backbone.eval()
        self.beam = beam
        self.unsure_below = unsure_below
        self.feature_layer = feature_layer
        self.pointing_layer = pointing_layer
        self.decoder = decoder.eval()
        self.vocab = vocab
        self.known_objects = known_objects
        self._blank: torch.Tensor | None = None

    def features(self, data: bytes) -> tuple[PreprocessedImage, tuple[int, int], torch.Tensor, torch.Tensor]:
        """The upload preprocessed, the grid (h, w), the decoder's input features (1, P, F) and the norm of
        every grid cell's backbone output (h, w)."""
        from models.serve.images import preprocess_image

        image = preprocess_image(data)
        features, grid, norms = self._encode(torch.from_numpy(image.pixels)[None])
        if tuple(grid) != tuple(self.decoder.config.grid):
            raise ValueError(f"backbone grid {grid} differs from the decoder's {self.decoder.config.grid}")
        return image, grid, features, norms

    def _encode(self, pixels: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int], torch.Tensor]:
        """pixels (1, 3, H, W) -> features (1, P, F), grid (h, w), cell norms (h, w)."""
        with torch.inference_mode():
            if isinstance(self.backbone, CnnGrid):
                out = self.backbone(pixels)
                h, w = self.backbone.grid
                return out.annotations, (h, w), out.features[0].norm(dim=-1).reshape(h, w)
            output = self.backbone(pixels)
            h, w = output.grid
            norms = output.hidden_states[0, -1, 1:].norm(dim=-1).reshape(h, w)
            return patch_features(output, self.feature_layer), (h, w), norms

    def blank_features(self) -> torch.Tensor:
        """(1, P, F) the decoder input for an empty canvas: every pixel the normalisation mean colour (zero after
        normalisation). Attributions' "nothing here" baseline (the per-token standardisation makes all-zero
        features a degenerate one: any feature scaled by a > 0 reads the same). Computed once."""
        if self._blank is None:
            h, w = self.decoder.config.grid
            cell = self.backbone.cell if isinstance(self.backbone, CnnGrid) else self.backbone.config.patch_size
            self._blank = self._encode(torch.zeros(1, 3, h * cell, w * cell))[0].clone()  # zero = the mean colour
        return self._blank

    def attend(
        self, data: bytes, beam: int | None = None, head_mask: Mapping[str, torch.Tensor] | None = None
    ) -> ImageAttentionOutput:
        """Greedy caption (beam = 1) or beam search (None: the weights' own decoding, self.beam); raises
        models.contract.ImageInputError for bytes that are not a usable image. head_mask: {"cross": (L, H)}
        (Transformer decoder, greedy only), 0 = head ablated; None runs every head."""
        beam = self.beam if beam is None else beam
        image, (h, w), features, norms = self.features(data)
        with torch.inference_mode():
            index = self.vocab.index
            if head_mask:
                if not isinstance(self.decoder, TransformerCaptioner) or beam > 1:
                    raise InputError("Head ablation needs a Transformer caption decoder and greedy decoding.")
                result = self.decoder.generate(features, index[BOS], index[EOS], head_masks=head_mask)
            elif beam > 1:
                result = beam_search(self.decoder, features, index[BOS], index[EOS], beam)
            else:
                result = self.decoder.generate(features, index[BOS], index[EOS])
        ids = result.tokens[0].tolist()
        words = self.vocab.decode(ids)
        T = len(words)
        ended = len(ids) > T and ids[T] == index[EOS]
        stop_prob = float(result.token_probs[0, T]) if ended and result.token_probs is not None else None
        spatial = result.spatial[0, :T].float()  # (T, L, H, P)
        return ImageAttentionOutput(
            image=image,
            grid=(h, w),
            tokens=tuple(words),
            caption=" ".join(words),
            spatial=spatial.reshape(*spatial.shape[:3], h, w),  # (T, L, H, h, w)
            gates=None if result.gates is None else result.gates[0, :T].float(),
            # (h, w) DINOv2's token norms; a CNN grid has no high-norm artifact tokens (Darcet et al. is about ViTs)
            patch_norms=None if isinstance(self.backbone, CnnGrid) else norms,
            known_objects=self.known_objects,
            pointing_layer=self.pointing_layer,
            token_probs=None if result.token_probs is None else result.token_probs[0, :T].float(),
            stop_prob=stop_prob,
            unsure_below=self.unsure_below,
            beam=1 if head_mask else beam,
        )


def load_captioner(model_id: str, folder: Path | None = None) -> CaptionerAttentionModel:
    decoder, vocab, config = load_decoder(folder or WEIGHTS_DIR / model_id)
    known = tuple(config.get("known_objects", ()))
    backbone: Dinov2Backbone | CnnGrid
    if config.get("backbone") == "efficientnet-lite0":
        from models.formats.efficientnet_lite import load_efficientnet_lite0

        scales = getattr(decoder.config, "scales", 1)  # 2: the two-scale 14 x 14 grid
        faces = None
        if "face_cues" in config:  # a detected face's share of each cell, the decoder's "person" evidence
            from models.nets.face_cues import FaceCueConfig, FaceCues

            faces = FaceCues(FaceCueConfig(**config["face_cues"]))
        backbone = CnnGrid(load_efficientnet_lite0(), config["evidence_classes"], scales=scales, faces=faces)
    else:
        from models.serve.dinov2 import load_dinov2_backbone

        backbone = load_dinov2_backbone()
    return CaptionerAttentionModel(
        backbone,
        decoder,
        vocab,
        known,
        config.get("feature_layer"),
        config.get("pointing_layer"),
        config.get("unsure_below"),
        int(config.get("beam", 1)),
    )


def load_sat() -> CaptionerAttentionModel:
    """The catalog loader of captioner-sat (models/weights/captioner-sat/)."""
    return load_captioner("captioner-sat")


def load_transformer() -> CaptionerAttentionModel:
    """The catalog loader of captioner-transformer (models/weights/captioner-transformer/)."""
    return load_captioner("captioner-transformer")


def load_sat_cnn() -> CaptionerAttentionModel:
    """The catalog loader of captioner-sat-cnn (models/weights/captioner-sat-cnn/)."""
    return load_captioner("captioner-sat-cnn")
