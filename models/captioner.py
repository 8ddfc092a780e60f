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

captioner-transformer: a small pre-norm Transformer decoder (Vaswani et al. 2017, "Attention Is
All You Need"): masked self-attention over the words so far, then per-head cross-attention over
the P patches (projected to the model width, plus a learned position per patch), then an MLP.

Both read the same frozen annotation vectors: DINOv2 ViT-S/14 patch tokens (models/dinov2.py),
16 x 16 patches of 384 dimensions for a 224 px input, taken from the layer named by the weights'
config (`feature_layer`; see `patch_features`). Deep DINOv2 tokens mix the whole image into
every patch, which lets a decoder read an object from anywhere and its attention point nowhere in
particular; models/probe_caption_features.py measures this per layer and picked FEATURE_LAYER.
The map shown for output word t is the attention used to predict word t.

Dimensions: B batch, T decoder steps, P = h * w patches, F feature width (384), D model width,
E embedding width, Hd LSTM width, L layers, H heads, V vocabulary.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.nn import functional as F

from models.attention import AdditiveAttention
from models.multihead_attention import MultiHeadAttention

if TYPE_CHECKING:
    from models.dinov2 import Dinov2Backbone, Dinov2Output
    from models.image_preprocess import PreprocessedImage

log = logging.getLogger(__name__)

WEIGHTS_DIR = Path(__file__).parent / "weights"
PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)  # ids 0-3

POINTING_TARGET = 0.85  # issue 5: share of object words whose map peaks inside the object's box

# hidden_states index of the DINOv2 layer the captioners read: the output of block 7 of 12, where a
# linear probe finds every object in its box (reports/caption_feature_probe.json) and tokens have
# not yet drifted towards the image average. None means the final LayerNorm output (first weights).
FEATURE_LAYER: int | None = 7


def patch_features(output: Dinov2Output, layer: int | None) -> torch.Tensor:
    """Captioner annotation vectors (B, P, F) from a backbone pass: the patch tokens of
    hidden_states[:, layer], standardised per token (LayerNorm without learned scale, so an early
    layer gets the same scale as the last), or last_hidden's patch tokens when layer is None."""
    if layer is None:
        return output.last_hidden[:, 1:]
    tokens = output.hidden_states[:, layer, 1:]  # (B, P, F)
    return F.layer_norm(tokens, tokens.shape[-1:])


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


# --- Show, Attend and Tell ---


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


@dataclass(frozen=True)
class CaptionOutput:
    """A generated caption per image, with the attention behind every word.

    tokens: (B, T) generated ids (<eos> included where reached; <pad> after it).
    spatial: (B, T, L, H, P) cross-attention of step t over the patches for each layer and head
        (L = H = 1 for Show-Attend-Tell); every (b, t, l, h) row sums to 1.
    gates: (B, T) Show-Attend-Tell's beta_t; None for the Transformer.
    """

    tokens: torch.Tensor
    spatial: torch.Tensor
    gates: torch.Tensor | None


class ShowAttendTell(nn.Module):
    def __init__(self, config: SatConfig) -> None:
        super().__init__()
        self.config = config
        F_, E, Hd = config.feature_dim, config.embed_dim, config.hidden_dim
        self.feature_norm = nn.LayerNorm(F_)
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

    def start(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """features (B, P, F) -> normalised annotations (B, P, F), attention cache, h0, c0 (B, Hd)."""
        a = self.feature_norm(features)  # (B, P, F)
        mean = a.mean(dim=1)  # (B, F)
        return a, self.attention.precompute(a), torch.tanh(self.init_h(mean)), torch.tanh(self.init_c(mean))

    def step(
        self, word: torch.Tensor, a: torch.Tensor, cache: torch.Tensor, h: torch.Tensor, c: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """word (B,) previous ids -> logits (B, V), alpha (B, P), beta (B,), new h, c (B, Hd)."""
        e = self.embed(word)  # (B, E)
        context, alpha = self.attention(h, a, cache=cache)  # (B, F), (B, P)
        beta = torch.sigmoid(self.f_beta(h))  # (B, 1)
        z = beta * context  # (B, F)
        h, c = self.lstm(torch.cat([e, z], dim=-1), (h, c))  # (B, Hd) each
        logits = self.L_o(self.dropout(e + self.L_h(h) + self.L_z(z)))  # (B, V)
        return logits, alpha, beta.squeeze(-1), h, c

    def forward(self, features: torch.Tensor, words: torch.Tensor) -> SatOutput:
        """features (B, P, F), words (B, T) decoder inputs (<bos> w1 ... ) -> SatOutput."""
        a, cache, h, c = self.start(features)
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
        tokens, alphas, betas = [], [], []
        for _ in range(max_len or self.config.max_len + 1):
            logits, alpha, beta, h, c = self.step(word, a, cache, h, c)
            word = logits.argmax(dim=-1).masked_fill(done, 0)  # (B,)
            tokens.append(word)
            alphas.append(alpha)
            betas.append(beta)
            done |= word == eos
            if done.all():
                break
        spatial = torch.stack(alphas, dim=1)[:, :, None, None]  # (B, T, 1, 1, P)
        return CaptionOutput(tokens=torch.stack(tokens, dim=1), spatial=spatial, gates=torch.stack(betas, dim=1))


def doubly_stochastic_penalty(attentions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Xu et al. Eq. 14: mean over batch and patches of (1 - sum_t alpha_ti)^2.

    attentions (B, T, P); mask (B, T) True at real decoder steps (the <eos> prediction included).
    """
    coverage = (attentions * mask[..., None]).sum(dim=1)  # (B, P)
    return ((1.0 - coverage) ** 2).mean()


# --- Transformer decoder ---


@dataclass
class TransformerCaptionerConfig:
    vocab_size: int = 40  # V, set from the data
    feature_dim: int = 384  # F, DINOv2 ViT-S token width
    grid: tuple[int, int] = (16, 16)  # (h, w) patch grid of a 224 px input
    d_model: int = 128  # D
    n_heads: int = 4  # H, 32 dimensions each
    n_layers: int = 3  # L decoder layers
    d_ff: int = 512  # MLP width (4 x D), GELU
    dropout: float = 0.1  # on residual branches and embeddings
    max_len: int = 20  # most words generated, <eos> excluded (positions: max_len + 1)


@dataclass(frozen=True)
class TransformerCaptionerOutput:
    """Teacher-forced pass of the Transformer captioner.

    logits: (B, T, V).
    self_attentions: (B, L, H, T, T) masked self-attention (zero above the diagonal).
    cross_attentions: (B, L, H, T, P) attention of each word position over the patches.
    """

    logits: torch.Tensor
    self_attentions: torch.Tensor
    cross_attentions: torch.Tensor


class DecoderLayer(nn.Module):
    """Pre-norm: x + self(ln1 x, causal), x + cross(ln2 x, memory), x + mlp(ln3 x)."""

    def __init__(self, config: TransformerCaptionerConfig) -> None:
        super().__init__()
        D = config.d_model
        self.ln1 = nn.LayerNorm(D)
        self.self_attention = MultiHeadAttention(D, config.n_heads)
        self.ln2 = nn.LayerNorm(D)
        self.cross_attention = MultiHeadAttention(D, config.n_heads)
        self.ln3 = nn.LayerNorm(D)
        self.fc1 = nn.Linear(D, config.d_ff)
        self.fc2 = nn.Linear(config.d_ff, D)
        self.dropout = nn.Dropout(config.dropout)

    def forward(
        self, x: torch.Tensor, memory: torch.Tensor, causal: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x (B, T, D), memory (B, P, D), causal (1, 1, T, T) -> x, self (B, H, T, T), cross (B, H, T, P)."""
        h = self.ln1(x)
        context, self_weights = self.self_attention(h, h, causal)
        x = x + self.dropout(context)
        context, cross_weights = self.cross_attention(self.ln2(x), memory)
        x = x + self.dropout(context)
        x = x + self.dropout(self.fc2(F.gelu(self.fc1(self.ln3(x)))))
        return x, self_weights, cross_weights


class TransformerCaptioner(nn.Module):
    def __init__(self, config: TransformerCaptionerConfig) -> None:
        super().__init__()
        self.config = config
        D, P = config.d_model, config.grid[0] * config.grid[1]
        self.feature_norm = nn.LayerNorm(config.feature_dim)
        self.feature_proj = nn.Linear(config.feature_dim, D)
        self.patch_positions = nn.Parameter(torch.zeros(1, P, D))
        self.embed = nn.Embedding(config.vocab_size, D)
        self.positions = nn.Parameter(torch.zeros(1, config.max_len + 1, D))
        self.layers = nn.ModuleList(DecoderLayer(config) for _ in range(config.n_layers))
        self.ln_f = nn.LayerNorm(D)
        self.head = nn.Linear(D, config.vocab_size, bias=False)
        self.head.weight = self.embed.weight  # tied input and output embeddings
        self.dropout = nn.Dropout(config.dropout)
        nn.init.normal_(self.patch_positions, std=0.02)
        nn.init.normal_(self.positions, std=0.02)
        nn.init.normal_(self.embed.weight, std=0.02)

    def memory(self, features: torch.Tensor) -> torch.Tensor:
        """features (B, P, F) -> memory (B, P, D)."""
        return self.feature_proj(self.feature_norm(features)) + self.patch_positions

    def decode(self, memory: torch.Tensor, words: torch.Tensor) -> TransformerCaptionerOutput:
        """memory (B, P, D), words (B, T) -> logits and every attention map."""
        T = words.shape[1]
        if T > self.positions.shape[1]:
            raise ValueError(f"{T} decoder steps exceed the {self.positions.shape[1]} learned positions")
        x = self.dropout(self.embed(words) + self.positions[:, :T])  # (B, T, D)
        causal = torch.ones(T, T, dtype=torch.bool, device=words.device).tril()[None, None]  # (1, 1, T, T)
        selfs, crosses = [], []
        for layer in self.layers:
            x, self_weights, cross_weights = layer(x, memory, causal)
            selfs.append(self_weights)
            crosses.append(cross_weights)
        return TransformerCaptionerOutput(
            logits=self.head(self.ln_f(x)),  # (B, T, V)
            self_attentions=torch.stack(selfs, dim=1),  # (B, L, H, T, T)
            cross_attentions=torch.stack(crosses, dim=1),  # (B, L, H, T, P)
        )

    def forward(self, features: torch.Tensor, words: torch.Tensor) -> TransformerCaptionerOutput:
        """features (B, P, F), words (B, T) decoder inputs (<bos> w1 ...) -> TransformerCaptionerOutput."""
        return self.decode(self.memory(features), words)

    @torch.no_grad()
    def generate(self, features: torch.Tensor, bos: int, eos: int, max_len: int | None = None) -> CaptionOutput:
        """Greedy decoding (the prefix is re-run each step: at most 21 steps of a 3-layer decoder)."""
        B = features.shape[0]
        memory = self.memory(features)  # (B, P, D)
        words = torch.full((B, 1), bos, dtype=torch.long)
        done = torch.zeros(B, dtype=torch.bool)
        out: TransformerCaptionerOutput | None = None
        for _ in range(max_len or self.config.max_len + 1):
            out = self.decode(memory, words)
            word = out.logits[:, -1].argmax(dim=-1).masked_fill(done, 0)  # (B,)
            words = torch.cat([words, word[:, None]], dim=1)  # (B, t + 1)
            done |= word == eos
            if done.all():
                break
        assert out is not None
        spatial = out.cross_attentions.permute(0, 3, 1, 2, 4)  # (B, T, L, H, P)
        return CaptionOutput(tokens=words[:, 1:], spatial=spatial, gates=None)


Decoder = ShowAttendTell | TransformerCaptioner


# --- Beam search (one image) ---


@dataclass
class _Hypothesis:
    words: list[int]  # generated ids so far
    logp: float  # sum of log-probabilities
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
        alive = [_Hypothesis([], 0.0, [], [], (h, c))]
    else:
        memory = decoder.memory(features)  # (1, P, D)
        alive = [_Hypothesis([], 0.0, [], [], None)]
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
                candidates.append(_Hypothesis(hyp.words + [word], hyp.logp + logp, hyp.maps + [step_map],
                                              hyp.gates + gate, state))
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
    )


# --- Serving: image bytes -> caption + maps ---


@dataclass(frozen=True)
class CaptionImageAttention:
    """One image captioned, ready for a client.

    image: the preprocessing record and pixels (models.image_preprocess).
    grid: (h, w) patches; patch (r, c) covers model-input pixels [r * 14, (r + 1) * 14) x [c * 14, (c + 1) * 14).
    tokens: the T generated words (<eos> not included); caption: them joined by spaces.
    spatial: (T, L, H, h, w) attention of the step that produced word t over the patches, per
        decoder layer and head (L = H = 1 for Show-Attend-Tell); each (t, l, h) map sums to 1.
    gates: (T,) Show-Attend-Tell's gating scalar beta_t, None for the Transformer.
    patch_norms: (h, w) L2 norm of each DINOv2 patch token after the last layer (artifact patches).
    known_objects: the nouns the model was trained on.
    pointing_layer: the decoder layer whose mean over heads points best (chosen on validation scenes
        by models/evaluate_captions.py); None for one-map models or weights not evaluated yet.
    """

    image: PreprocessedImage
    grid: tuple[int, int]
    tokens: tuple[str, ...]
    caption: str
    spatial: torch.Tensor
    gates: torch.Tensor | None
    patch_norms: torch.Tensor
    known_objects: tuple[str, ...]
    pointing_layer: int | None = None


class CaptionerAttentionModel:
    """Image bytes -> DINOv2 patch features -> greedy caption with a spatial map per word."""

    def __init__(
        self,
        backbone: Dinov2Backbone,
        decoder: Decoder,
        vocab: Vocab,
        known_objects: tuple[str, ...] = (),
        feature_layer: int | None = FEATURE_LAYER,
        pointing_layer: int | None = None,
    ) -> None:
        self.backbone = backbone.eval()
        self.feature_layer = feature_layer
        self.pointing_layer = pointing_layer
        self.decoder = decoder.eval()
        self.vocab = vocab
        self.known_objects = known_objects

    def attend(self, data: bytes, beam: int = 1) -> CaptionImageAttention:
        """Greedy caption (beam = 1) or beam search; raises models.image_preprocess.ImageInputError for
        bytes that are not a usable image."""
        from models.image_preprocess import preprocess_image

        image = preprocess_image(data)
        with torch.inference_mode():
            output = self.backbone(torch.from_numpy(image.pixels)[None])
            h, w = output.grid
            if (h, w) != tuple(self.decoder.config.grid):
                raise ValueError(f"backbone grid {(h, w)} differs from the decoder's {self.decoder.config.grid}")
            features = patch_features(output, self.feature_layer)  # (1, P, F)
            index = self.vocab.index
            if beam > 1:
                result = beam_search(self.decoder, features, index[BOS], index[EOS], beam)
            else:
                result = self.decoder.generate(features, index[BOS], index[EOS])
        ids = result.tokens[0].tolist()
        words = self.vocab.decode(ids)
        T = len(words)
        spatial = result.spatial[0, :T].float()  # (T, L, H, P)
        return CaptionImageAttention(
            image=image,
            grid=(h, w),
            tokens=tuple(words),
            caption=" ".join(words),
            spatial=spatial.reshape(*spatial.shape[:3], h, w),  # (T, L, H, h, w)
            gates=None if result.gates is None else result.gates[0, :T].float(),
            patch_norms=output.hidden_states[0, -1, 1:].norm(dim=-1).reshape(h, w),  # (h, w)
            known_objects=self.known_objects,
            pointing_layer=self.pointing_layer,
        )


# --- Weights on disk: model.safetensors (fp16), config.json, vocab.json ---

KINDS: dict[str, tuple[type[Any], type[Any]]] = {
    "sat": (SatConfig, ShowAttendTell),
    "transformer": (TransformerCaptionerConfig, TransformerCaptioner),
}


def build_decoder(kind: str, config: dict[str, Any]) -> Decoder:
    config_cls, model_cls = KINDS[kind]
    fields = dict(config)
    fields["grid"] = tuple(fields.get("grid", (16, 16)))
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
        raise FileNotFoundError(f"no captioner weights in {folder}; train them with models/train_captioner.py")
    config = json.loads((folder / "config.json").read_text())
    vocab = Vocab(tuple(json.loads((folder / "vocab.json").read_text())))
    decoder = build_decoder(config["kind"], config["config"])
    state = {k: v.float() for k, v in load_file(str(folder / "model.safetensors")).items()}
    if isinstance(decoder, TransformerCaptioner):
        state["head.weight"] = state["embed.weight"]
    decoder.load_state_dict(state)
    return decoder.eval(), vocab, config


def load_captioner(model_id: str, folder: Path | None = None) -> CaptionerAttentionModel:
    from models.dinov2 import load_dinov2_backbone

    decoder, vocab, config = load_decoder(folder or WEIGHTS_DIR / model_id)
    known = tuple(config.get("known_objects", ()))
    return CaptionerAttentionModel(
        load_dinov2_backbone(), decoder, vocab, known, config.get("feature_layer"), config.get("pointing_layer")
    )


def load_sat() -> CaptionerAttentionModel:
    """The catalog loader of captioner-sat (models/weights/captioner-sat/)."""
    return load_captioner("captioner-sat")


def load_transformer() -> CaptionerAttentionModel:
    """The catalog loader of captioner-transformer (models/weights/captioner-transformer/)."""
    return load_captioner("captioner-transformer")
