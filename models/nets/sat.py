"""Image captioners that attend over a frozen DINOv2 patch grid.

captioner-sat: Xu et al. 2015, "Show, Attend and Tell: Neural Image Caption Generation with
Visual Attention" (soft attention). An LSTM decoder; at step t the additive attention
(Bahdanau et al. 2015) of the previous hidden state over the P annotation vectors a_i gives
alpha_t (B, P), the context is z_t = beta_t * sum_i alpha_ti a_i with the gating scalar
beta_t = sigmoid(f_beta(h_{t-1})) (Sec. 4.2.1), the LSTM reads [E y_{t-1}; z_t], and the
deep output layer p(y_t) = softmax(L_o(E y_{t-1} + L_h h_t + L_z z_t)) (Eq. 7). The initial
state is an MLP of the mean annotation (Sec. 3.1.2). Training adds the doubly stochastic
regularisation lambda * sum_i (1 - sum_t alpha_ti)^2 (Eq. 14), here averaged over patches as in
the widely used PyTorch re-implementation (sgrvinod/a-PyTorch-Tutorial-to-Image-Captioning).

Both read the same frozen annotation vectors: DINOv2 ViT-S/14 patch tokens (models/nets/dinov2.py),
16 x 16 patches of 384 dimensions for a 224 px input, taken from the layer named by the weights'
config (`feature_layer`; see `patch_features`). Deep DINOv2 tokens mix the whole image into
every patch, which lets a decoder read an object from anywhere and its attention point nowhere in
particular; models/evaluate/caption_probe.py measures this per layer and picked FEATURE_LAYER.
The map shown for output word t is the attention used to predict word t.

captioner-sat-cnn reads a CNN grid (models/nets/cnn_grid.py: EfficientNet-Lite0's 1280 features per cell, then K
evidence columns). With `reads = "classes"` the decoder does not read the 1280 features themselves but what the
frozen ImageNet classifier makes of each cell: its 1000 log-probabilities (the classifier head, a fixed buffer,
applied to every cell). A decoder trained on composed scenes then sees a real photo through a network trained on
real photos, the grounding that lets it name objects outside the composites' look. With `evidence_bias`, the
output layer also adds gain * log(1 + e_t / EVIDENCE_EPS) to each noun's score, e_t = sum_i alpha_ti p_i M the
attended cells' class probabilities summed over the noun's ImageNet classes (M: each class counted for its most
specific noun only, so "duck" is not also "bird" evidence); gain is learned. The attention weights are untouched:
the map is still the softmax the decoder used. With `scales = 2` (the two-scale 14 x 14 CNN grid) a cell holds
two feature blocks, the enlarged pass's and its 224 px cell's: the head reads each, the decoder sees both sets of
log-probabilities side by side, and each scale's evidence has its own gain. With `cues` (word ids), the last
columns of each annotation vector are further evidence for those words, read as class evidence of the first scale
(models/nets/face_cues.py: the share of a cell a detected face covers, for "person", which ImageNet lacks).
`confident` (a decoding choice read from the weights' config.json, models/evaluate/confident_evidence_choice.py)
adds gain * relu(e - threshold) / (1 - threshold) to each word's score, e its attended evidence at the surer scale:
where the classifier is sure, as on many whole photos and seldom on the composed scenes' cut-outs, its word counts
for more. SatEnsemble reads N decoders trained from different seeds as one (scored and rejected on dev photos:
reports/ensemble_choice.md).

Dimensions: B batch, T decoder steps, P = h * w patches, F feature width (384), D model width,
E embedding width, Hd LSTM width, L layers, H heads, V vocabulary.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from models.nets.caption_common import CaptionOutput
from models.nets.scores import AdditiveAttention

log = logging.getLogger(__name__)


@dataclass
class SatConfig:
    vocab_size: int = 40  # V, set from the data
    feature_dim: int = 384  # F, DINOv2 ViT-S token width
    grid: tuple[int, int] = (16, 16)  # (h, w) patch grid of a 224 px input
    embed_dim: int = 128  # E, word embedding width (also the deep-output width)
    hidden_dim: int = 256  # Hd, LSTM width
    attention_dim: int = 128  # Da, hidden width of the additive scoring MLP
    dropout: float = 0.3  # before the output layer, as in Xu et al.
    doubly_stochastic: float = 1.0  # lambda of Eq. 14 (mean over patches)
    gated_coverage: bool = False  # count coverage as sum_t beta_t alpha_ti: only attention that reached the decoder
    max_len: int = 20  # most words generated, <eos> excluded
    reads: str = "annotations"  # "annotations": the feature vectors as given; "classes": the classifier's view
    classes: int = 1000  # width of the classifier head (reads = "classes")
    evidence: int = 0  # K trailing evidence columns of each annotation vector (CNN grid), 0 = none
    evidence_bias: bool = False  # add the attended class evidence to the nouns' scores (reads = "classes")
    scales: int = 1  # reads = "classes": feature blocks per cell (2: the fine and the 224 px pass of a CNN grid)
    cues: tuple[int, ...] = ()  # evidence_bias: word ids, one per trailing cue column (a CNN grid's face cue: person)


@dataclass(frozen=True)
class SatOutput:
    """Teacher-forced pass of the Show-Attend-Tell decoder.

    logits: (B, T, V) scores for word t given words < t.
    attentions: (B, T, P) alpha_t, each row a softmax over the P patches (sums to 1).
    gates: (B, T) beta_t in (0, 1), the gating scalar on the context.
    """

    logits: torch.Tensor
    attentions: torch.Tensor
    gates: torch.Tensor


EVIDENCE_EPS = 0.01  # evidence of this size adds gain * log 2 to a noun's score


class ShowAttendTell(nn.Module):
    def __init__(self, config: SatConfig) -> None:
        super().__init__()
        self.config = config
        if config.reads not in ("annotations", "classes"):
            raise ValueError(f"reads must be 'annotations' or 'classes', got {config.reads!r}")
        if config.evidence_bias and config.reads != "classes":
            raise ValueError("evidence_bias needs reads = 'classes'")
        if config.cues and not config.evidence_bias:
            raise ValueError("cues need evidence_bias")
        F_, E, Hd = config.feature_dim, config.embed_dim, config.hidden_dim
        if config.reads == "classes":  # frozen classifier head, filled from the backbone at training time
            channels = (config.feature_dim - config.evidence - len(config.cues)) // config.scales  # per scale
            self.head_weight: torch.Tensor
            self.head_bias: torch.Tensor
            self.register_buffer("head_weight", torch.zeros(config.classes, channels))  # (C, (F - K) / S)
            self.register_buffer("head_bias", torch.zeros(config.classes))  # (C,)
            F_ = config.classes * config.scales
        if config.evidence_bias:
            self.noun_members: torch.Tensor
            self.register_buffer("noun_members", torch.zeros(config.classes, config.vocab_size))  # (C, V) 0/1
            self.evidence_gain = nn.Parameter(torch.ones(config.scales))  # (S,)
        # reads = "classes": no learned scale and shift (every later layer is linear in the attended context, so they
        # would be redundant), which keeps the annotations out of autograd: no per-step gradient of the whole grid
        self.feature_norm = nn.LayerNorm(F_, elementwise_affine=config.reads != "classes")
        self.embed = nn.Embedding(config.vocab_size, E)
        self.init_h = nn.Linear(F_, Hd)
        self.init_c = nn.Linear(F_, Hd)
        self.attention = AdditiveAttention(query_dim=Hd, key_dim=F_, attn_dim=config.attention_dim)
        self.f_beta = nn.Linear(Hd, 1)
        self.lstm = nn.LSTMCell(E + F_, Hd)
        self.L_h = nn.Linear(Hd, E)
        self.L_z = nn.Linear(F_, E)
        self.L_o = nn.Linear(E, config.vocab_size)
        self.dropout = nn.Dropout(config.dropout)
        # a decoding choice (models/evaluate/confident_evidence_choice.py), set from config.json, not learned:
        # (threshold, gain) adds gain * relu(e - threshold) / (1 - threshold) to each noun's score, e its attended
        # evidence at the surer scale; None = off
        self.confident: tuple[float, float] | None = None

    def class_log_probs(self, features: torch.Tensor) -> torch.Tensor:
        """reads = "classes": features (B, P, F) -> (B, P, S, C) the frozen head's log-probabilities of every cell
        at every scale. With two scales the 224 px cells are read once each (a fine cell carries its parent's
        features, so 4 fine cells hold the same ones) and spread back to their 4 fine cells."""
        S = self.config.scales
        trailing = self.config.evidence + len(self.config.cues)
        cells = features[..., : features.shape[-1] - trailing].unflatten(-1, (S, -1))  # (B, P, S, F')

        def head(x: torch.Tensor) -> torch.Tensor:
            return (x @ self.head_weight.T + self.head_bias).log_softmax(dim=-1)

        if S == 1:
            return head(cells)  # (B, P, 1, C)
        from models.nets.cnn_grid import with_parents

        h, w = self.config.grid
        parents = cells[:, :, 1].unflatten(1, (h, w))[:, ::2, ::2].flatten(1, 2)  # (B, P / 4, F')
        return with_parents(head(cells[:, :, 0]), head(parents)).unflatten(-1, (S, -1))  # (B, P, 2, C)

    def start(
        self, features: torch.Tensor, log_probs: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """features (B, P, F) -> values (B, P, F'), attention cache, h0, c0 (B, Hd). The values are the normalised
        annotations (F' = F, or the S x C class log-probabilities), followed by the S x V per-word class evidence
        of each cell when evidence_bias is on. log_probs: class_log_probs(features) when already computed (training
        reads each scene's once)."""
        x = features
        if self.config.reads == "classes":
            if log_probs is None:
                log_probs = self.class_log_probs(features)
            x = log_probs.flatten(-2)  # (B, P, S * C)
        a = self.feature_norm(x)  # (B, P, F')
        mean = a.mean(dim=1)  # (B, F')
        cache = self.attention.precompute(a)
        if self.config.evidence_bias and log_probs is not None:
            evidence = log_probs.exp() @ self.noun_members  # (B, P, S, V)
            if self.config.cues:
                cues = features[..., -len(self.config.cues) :].to(evidence.dtype)  # (B, P, Q)
                words = torch.tensor(self.config.cues, device=evidence.device)
                extra = evidence.new_zeros(evidence.shape[:-2] + (self.config.vocab_size,))  # (B, P, V)
                extra = extra.index_add(-1, words, cues)
                evidence = torch.cat([evidence[..., :1, :] + extra[..., None, :], evidence[..., 1:, :]], dim=-2)
            a = torch.cat([a, evidence.flatten(-2)], dim=-1)  # (B, P, F' + S * V)
        return a, cache, torch.tanh(self.init_h(mean)), torch.tanh(self.init_c(mean))

    def step(
        self, word: torch.Tensor, a: torch.Tensor, cache: torch.Tensor, h: torch.Tensor, c: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """word (B,) previous ids -> logits (B, V), alpha (B, P), beta (B,), new h, c (B, Hd)."""
        e = self.embed(word)  # (B, E)
        context, alpha = self.attention(h, a, cache=cache)  # (B, F' [+ V]), (B, P)
        evidence = None
        if self.config.evidence_bias:
            SV = self.config.scales * self.config.vocab_size
            context, evidence = context[:, :-SV], context[:, -SV:]  # (B, F'), (B, S * V) attended evidence
        beta = torch.sigmoid(self.f_beta(h))  # (B, 1)
        z = beta * context  # (B, F')
        h, c = self.lstm(torch.cat([e, z], dim=-1), (h, c))  # (B, Hd) each
        logits = self.L_o(self.dropout(e + self.L_h(h) + self.L_z(z)))  # (B, V)
        if evidence is not None:
            per_scale = torch.log1p(evidence.unflatten(-1, (self.config.scales, -1)) / EVIDENCE_EPS)  # (B, S, V)
            logits = logits + (self.evidence_gain[:, None] * per_scale).sum(dim=1)
            if self.confident is not None:
                threshold, gain = self.confident
                surest = evidence.unflatten(-1, (self.config.scales, -1)).max(dim=1).values  # (B, V)
                logits = logits + gain * torch.relu(surest - threshold) / (1 - threshold)
        return logits, alpha, beta.squeeze(-1), h, c

    def forward(self, features: torch.Tensor, words: torch.Tensor, log_probs: torch.Tensor | None = None) -> SatOutput:
        """features (B, P, F), words (B, T) decoder inputs (<bos> w1 ... ) -> SatOutput. log_probs: see start."""
        a, cache, h, c = self.start(features, log_probs)
        logits, alphas, betas = [], [], []
        for t in range(words.shape[1]):
            step_logits, alpha, beta, h, c = self.step(words[:, t], a, cache, h, c)
            logits.append(step_logits)
            alphas.append(alpha)
            betas.append(beta)
        return SatOutput(
            logits=torch.stack(logits, dim=1),  # (B, T, V)
            attentions=torch.stack(alphas, dim=1),  # (B, T, P)
            gates=torch.stack(betas, dim=1),  # (B, T)
        )

    @torch.no_grad()
    def generate(self, features: torch.Tensor, bos: int, eos: int, max_len: int | None = None) -> CaptionOutput:
        """Greedy decoding of a batch; steps after <eos> repeat <pad> (id 0) and keep their maps."""
        B = features.shape[0]
        a, cache, h, c = self.start(features)
        word = torch.full((B,), bos, dtype=torch.long)
        done = torch.zeros(B, dtype=torch.bool)
        tokens, alphas, betas, probs = [], [], [], []
        for _ in range(max_len or self.config.max_len + 1):
            logits, alpha, beta, h, c = self.step(word, a, cache, h, c)
            p, word = logits.softmax(dim=-1).max(dim=-1)
            word = word.masked_fill(done, 0)  # (B,)
            probs.append(p.masked_fill(done, 1.0))
            tokens.append(word)
            alphas.append(alpha)
            betas.append(beta)
            done |= word == eos
            if done.all():
                break
        spatial = torch.stack(alphas, dim=1)[:, :, None, None]  # (B, T, 1, 1, P)
        return CaptionOutput(
            tokens=torch.stack(tokens, dim=1),
            spatial=spatial,
            gates=torch.stack(betas, dim=1),
            token_probs=torch.stack(probs, dim=1),
        )


@dataclass
class SatEnsembleConfig(SatConfig):
    members: int = 4  # N decoders of this configuration, trained alike from different seeds


class SatEnsemble(ShowAttendTell):
    """N Show-Attend-Tell decoders of one configuration, trained alike from different seeds, read as one decoder.
    The next-word distribution is the mean of the members' distributions (each member attends, gates and updates its
    own LSTM state, fed the same previous word); the map of a step is the mean of the members' attention maps, each a
    softmax over the P cells, so the mean sums to 1 too; the gate is the members' mean gate. States stack the
    members on a leading axis: values (N, B, P, F'), cache (N, B, P, Da), h and c (N, B, Hd). step returns
    log-probabilities as its logits (their softmax is the mean distribution itself), so greedy decoding, beam search
    and the teacher-forced forward of ShowAttendTell read it unchanged."""

    def __init__(self, config: SatEnsembleConfig) -> None:
        nn.Module.__init__(self)
        self.config = config
        member = SatConfig(**{k: v for k, v in asdict(config).items() if k != "members"})
        member.grid = tuple(member.grid)  # type: ignore[assignment]
        member.cues = tuple(member.cues)
        self.members = nn.ModuleList(ShowAttendTell(member) for _ in range(config.members))

    def decoders(self) -> list[ShowAttendTell]:
        """The members, typed."""
        return [m for m in self.members if isinstance(m, ShowAttendTell)]

    def class_log_probs(self, features: torch.Tensor) -> torch.Tensor:
        """The frozen classifier head's reading of every cell: the same buffer in every member, read once."""
        return self.decoders()[0].class_log_probs(features)

    def start(
        self, features: torch.Tensor, log_probs: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Every member's start on the same features, stacked (N, ...); the class log-probabilities read once."""
        if self.config.reads == "classes" and log_probs is None:
            log_probs = self.class_log_probs(features)
        parts = [member.start(features, log_probs) for member in self.decoders()]
        a, cache, h, c = (torch.stack(part) for part in zip(*parts, strict=True))
        return a, cache, h, c

    def step(
        self, word: torch.Tensor, a: torch.Tensor, cache: torch.Tensor, h: torch.Tensor, c: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """word (B,) -> log of the members' mean next-word distribution (B, V), mean alpha (B, P), mean beta (B,),
        and the members' new h, c (N, B, Hd)."""
        outs = [member.step(word, a[i], cache[i], h[i], c[i]) for i, member in enumerate(self.decoders())]
        logits, alphas, betas, hs, cs = zip(*outs, strict=True)
        log_probs = torch.stack([x.log_softmax(dim=-1) for x in logits])  # (N, B, V)
        mean = log_probs.logsumexp(dim=0) - math.log(len(outs))  # (B, V)
        return mean, torch.stack(alphas).mean(dim=0), torch.stack(betas).mean(dim=0), torch.stack(hs), torch.stack(cs)


def doubly_stochastic_penalty(attentions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Xu et al. Eq. 14: mean over batch and patches of (1 - sum_t alpha_ti)^2.

    attentions (B, T, P); mask (B, T) True at real decoder steps (the <eos> prediction included).
    """
    coverage = (attentions * mask[..., None]).sum(dim=1)  # (B, P)
    return ((1.0 - coverage) ** 2).mean()
