"""GRU encoder-decoder with attention for translation.

References:
  Bahdanau, Cho & Bengio (2015), "Neural Machine Translation by Jointly Learning to
    Align and Translate": bidirectional GRU encoder, attention over its states.
  Luong, Pham & Manning (2015), "Effective Approaches to Attention-based Neural
    Machine Translation": attentional hidden state h~ = tanh(Wc [c; h]), input feeding.
  Cho et al. (2014), "Learning Phrase Representations using RNN Encoder-Decoder":
    the no-attention baseline, one fixed summary vector c given to every decoder step.
  Press & Wolf (2017), "Using the Output Embedding to Improve Language Models":
    one embedding matrix for source, target and output (shared SentencePiece vocabulary).

One decoder wiring for every variant, so that only the score function differs:
    h_t  = GRU([emb(y_{t-1}); h~_{t-1}], h_{t-1})        input feeding
    c_t, a_t = attention(h_t, encoder states, mask)      any module of models/nets/scores.py
    h~_t = tanh(Wc [c_t; h_t])                            attentional hidden state
    p(y_t) = softmax(E h~_t + b)                          E: the tied embedding
With attention="none", c_t is the same vector at every step: the encoder summary
[last forward state; last backward state] (Cho et al. 2014), and there are no weights.

Dimensions: B batch, S source length, T target length, V vocabulary, E embedding width,
He encoder width per direction, Dk = He * directions (key width), Hd decoder width,
K beam size.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from models.nets.scores import SCORE_FUNCTIONS, Attention, build_attention

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"


@dataclass(frozen=True)
class Seq2SeqOutput:
    """Teacher-forced pass over a batch.

    logits: (B, T, V) next-token scores for every target position.
    cross_attentions: (B, T, S) weights of decoder step t over source position s; each
        row sums to 1 over the real source tokens, padding gets exactly 0.
        None for the no-attention baseline.
    """

    logits: torch.Tensor
    cross_attentions: torch.Tensor | None


@dataclass(frozen=True)
class GenerationOutput:
    """Decoded translations.

    tokens: (B, T) generated ids, end-of-sentence included, padded with pad_id after it.
    cross_attentions: (B, T, S) the attention of the step that produced token t (rows
        after the end are 0); None for the no-attention baseline.
    scores: (B,) sum of token log-probabilities of each output (beam: before the
        length normalisation used to rank hypotheses).
    """

    tokens: torch.Tensor
    cross_attentions: torch.Tensor | None
    scores: torch.Tensor


@dataclass
class Seq2SeqConfig:
    vocab_size: int = 8000  # shared SentencePiece vocabulary (source and target)
    emb_dim: int = 256  # embedding width E, tied across encoder input, decoder input, output
    enc_hidden: int = 256  # encoder GRU width He per direction
    bidirectional: bool = True  # read the source both ways (Bahdanau); keys are 2 * He wide
    dec_hidden: int = 512  # decoder GRU width Hd; dot-style scores need Hd == key width
    attention: str = "additive"  # a name from models.nets.scores.SCORE_FUNCTIONS, or "none"
    attn_dim: int = 256  # hidden width Da of the concat / additive / deep scoring MLPs
    max_source_positions: int = 256  # longest source the location score can cover
    general_init: str = "default"  # "identity": the general score's W starts as I (general starts as dot)
    general_scaled: bool = False  # divide the general score by sqrt(key width), as scaled dot does
    dropout: float = 0.1  # dropout on embeddings and on the attentional hidden state
    pad_id: int = 0  # padding id of the SentencePiece model
    bos_id: int = 2  # first decoder input
    eos_id: int = 3  # end of sentence (appended to sources and targets)

    @property
    def key_dim(self) -> int:
        return self.enc_hidden * (2 if self.bidirectional else 1)


class Encoder(nn.Module):
    """(Bi)GRU over the embedded source; padding is packed away."""

    def __init__(self, config: Seq2SeqConfig) -> None:
        super().__init__()
        self.rnn = nn.GRU(config.emb_dim, config.enc_hidden, batch_first=True, bidirectional=config.bidirectional)

    def forward(self, embedded: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """embedded (B, S, E), lengths (B,) -> states (B, S, Dk), summary (B, Dk)."""
        S = embedded.shape[1]
        packed = nn.utils.rnn.pack_padded_sequence(embedded, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, last = self.rnn(packed)  # last: (directions, B, He)
        states, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=S)
        summary = last.transpose(0, 1).reshape(embedded.shape[0], -1)  # (B, Dk)
        return states, summary


class Decoder(nn.Module):
    """One input-feeding GRU step with attention (or a fixed context)."""

    def __init__(self, config: Seq2SeqConfig) -> None:
        super().__init__()
        self.cell = nn.GRUCell(2 * config.emb_dim, config.dec_hidden)
        self.bridge = nn.Linear(config.key_dim, config.dec_hidden)
        self.attention: Attention | None = None
        if config.attention != "none":
            self.attention = build_attention(
                config.attention,
                config.dec_hidden,
                config.key_dim,
                config.attn_dim,
                config.max_source_positions,
                config.general_init,
                config.general_scaled,
            )
        self.combine = nn.Linear(config.key_dim + config.dec_hidden, config.emb_dim)

    def init_state(self, summary: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """summary (B, Dk) -> first hidden state (B, Hd) and zero input feed (B, E)."""
        h = torch.tanh(self.bridge(summary))  # (B, Hd)
        return h, summary.new_zeros(summary.shape[0], self.combine.out_features)

    def step(
        self,
        embedded: torch.Tensor,
        h: torch.Tensor,
        feed: torch.Tensor,
        keys: torch.Tensor,
        mask: torch.Tensor,
        summary: torch.Tensor,
        cache: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """embedded (B, E), h (B, Hd), feed (B, E) -> h (B, Hd), h~ (B, E), weights (B, S)."""
        h = self.cell(torch.cat([embedded, feed], dim=-1), h)  # (B, Hd)
        weights: torch.Tensor | None = None
        if self.attention is None:
            context = summary  # (B, Dk): the same vector at every step
        else:
            context, weights = self.attention(h, keys, mask, cache=cache)  # (B, Dk), (B, S)
        attentional = torch.tanh(self.combine(torch.cat([context, h], dim=-1)))  # (B, E)
        return h, attentional, weights


class Seq2SeqRNN(nn.Module):
    def __init__(self, config: Seq2SeqConfig) -> None:
        super().__init__()
        if config.attention != "none" and config.attention not in SCORE_FUNCTIONS:
            raise ValueError(
                f"unknown attention {config.attention!r}; expected 'none' or one of {', '.join(SCORE_FUNCTIONS)}"
            )
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.emb_dim, padding_idx=config.pad_id)
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        self.out_bias = nn.Parameter(torch.zeros(config.vocab_size))
        self.drop = nn.Dropout(config.dropout)
        nn.init.normal_(self.embed.weight, std=config.emb_dim**-0.5)
        with torch.no_grad():
            self.embed.weight[config.pad_id].zero_()

    # ---------------------------------------------------------------- building blocks
    def encode(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """src (B, S) -> keys (B, S, Dk), mask (B, S), summary (B, Dk), attention cache."""
        mask = src != self.config.pad_id  # (B, S)
        lengths = mask.sum(dim=1)
        if bool((lengths == 0).any()):
            raise ValueError("every source needs at least one token (end-of-sentence included)")
        keys, summary = self.encoder(self.drop(self.embed(src)), lengths)
        attention = self.decoder.attention
        cache = attention.precompute(keys) if attention is not None else None
        return keys, mask, summary, cache

    def project(self, attentional: torch.Tensor) -> torch.Tensor:
        """attentional hidden states (..., E) -> logits (..., V) through the tied embedding."""
        return F.linear(self.drop(attentional), self.embed.weight, self.out_bias)

    # ---------------------------------------------------------------- training
    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor) -> Seq2SeqOutput:
        """src (B, S) source ids; tgt_in (B, T) target ids shifted right (bos first)."""
        keys, mask, summary, cache = self.encode(src)
        h, feed = self.decoder.init_state(summary)
        embedded = self.drop(self.embed(tgt_in))  # (B, T, E)
        feeds: list[torch.Tensor] = []
        weights: list[torch.Tensor] = []
        for t in range(tgt_in.shape[1]):
            h, feed, w = self.decoder.step(embedded[:, t], h, feed, keys, mask, summary, cache)
            feeds.append(feed)
            if w is not None:
                weights.append(w)
        logits = self.project(torch.stack(feeds, dim=1))  # (B, T, V)
        cross = torch.stack(weights, dim=1) if weights else None  # (B, T, S)
        return Seq2SeqOutput(logits=logits, cross_attentions=cross)

    # ---------------------------------------------------------------- decoding
    def _max_len(self, src: torch.Tensor, max_len: int | None) -> int:
        return max_len if max_len is not None else 2 * src.shape[1] + 10

    @torch.no_grad()
    def greedy(self, src: torch.Tensor, max_len: int | None = None) -> GenerationOutput:
        """Batched greedy decoding; src (B, S) -> GenerationOutput with T <= max_len."""
        cfg = self.config
        keys, mask, summary, cache = self.encode(src)
        h, feed = self.decoder.init_state(summary)
        B = src.shape[0]
        prev = torch.full((B,), cfg.bos_id, dtype=torch.long, device=src.device)
        done = torch.zeros(B, dtype=torch.bool, device=src.device)
        scores = torch.zeros(B, device=src.device)
        tokens: list[torch.Tensor] = []
        weights: list[torch.Tensor] = []
        for _ in range(self._max_len(src, max_len)):
            h, feed, w = self.decoder.step(self.embed(prev), h, feed, keys, mask, summary, cache)
            logp = self.project(feed).log_softmax(dim=-1)  # (B, V)
            best, prev = logp.max(dim=-1)  # (B,), (B,)
            prev = prev.masked_fill(done, cfg.pad_id)
            scores = scores + best.masked_fill(done, 0.0)
            tokens.append(prev)
            if w is not None:
                weights.append(w.masked_fill(done.unsqueeze(1), 0.0))
            done = done | (prev == cfg.eos_id)
            if bool(done.all()):
                break
        cross = torch.stack(weights, dim=1) if weights else None  # (B, T, S)
        return GenerationOutput(torch.stack(tokens, dim=1), cross, scores)

    @torch.no_grad()
    def beam_search(
        self,
        src: torch.Tensor,
        beam_size: int = 5,
        max_len: int | None = None,
        length_penalty: float = 1.0,
    ) -> GenerationOutput:
        """Beam search for ONE source, src (1, S); hypotheses are ranked by
        log p / length ** length_penalty. Returns the best hypothesis (B = 1) with the
        attention of each of its steps, followed through the beam's back-pointers."""
        if src.shape[0] != 1:
            raise ValueError(f"beam_search decodes one sentence at a time, got a batch of {src.shape[0]}")
        cfg = self.config
        keys, mask, summary, cache = self.encode(src)
        h, feed = self.decoder.init_state(summary)  # (1, Hd), (1, E)
        S = src.shape[1]
        alive_tokens = torch.full((1, 0), cfg.pad_id, dtype=torch.long, device=src.device)
        alive_attn = src.new_zeros((1, 0, S), dtype=torch.float)  # (K, t, S)
        alive_scores = torch.zeros(1, device=src.device)  # (K,)
        prev = torch.full((1,), cfg.bos_id, dtype=torch.long, device=src.device)
        finished: list[tuple[float, torch.Tensor, torch.Tensor, float]] = []
        for _ in range(self._max_len(src, max_len)):
            K = prev.shape[0]
            expand = (K, *keys.shape[1:])
            h, feed, w = self.decoder.step(
                self.embed(prev),
                h,
                feed,
                keys.expand(expand),
                mask.expand(K, S),
                summary.expand(K, -1),
                cache.expand((K, *cache.shape[1:])) if cache is not None else None,
            )
            logp = self.project(feed).log_softmax(dim=-1)  # (K, V)
            V = logp.shape[1]
            total = (alive_scores.unsqueeze(1) + logp).view(-1)  # (K * V,)
            top_scores, top = total.topk(min(2 * beam_size, total.numel()))
            origin, token = top // V, top % V
            step_attn = w if w is not None else h.new_zeros(K, S)  # (K, S)
            keep: list[int] = []
            for rank in range(top.numel()):
                o, tok, score = int(origin[rank]), int(token[rank]), float(top_scores[rank])
                if tok == cfg.eos_id:
                    seq = torch.cat([alive_tokens[o], token[rank : rank + 1]])
                    attn = torch.cat([alive_attn[o], step_attn[o : o + 1]])
                    norm = length_normalised(score, seq.numel(), length_penalty)
                    finished.append((norm, seq, attn, score))
                else:
                    keep.append(rank)
                if len(keep) == beam_size:
                    break
            if len(finished) >= beam_size or not keep:
                break
            idx = torch.tensor(keep, device=src.device)
            parents = origin[idx]
            alive_tokens = torch.cat([alive_tokens[parents], token[idx].unsqueeze(1)], dim=1)  # (K, t+1)
            alive_attn = torch.cat([alive_attn[parents], step_attn[parents].unsqueeze(1)], dim=1)  # (K, t+1, S)
            alive_scores = top_scores[idx]
            h, feed, prev = h[parents], feed[parents], token[idx]
        if not finished:  # ran out of length: rank the open hypotheses
            for k in range(alive_tokens.shape[0]):
                score = float(alive_scores[k])
                norm = length_normalised(score, alive_tokens.shape[1], length_penalty)
                finished.append((norm, alive_tokens[k], alive_attn[k], score))
        _, seq, attn, score = max(finished, key=lambda f: f[0])
        cross = attn.unsqueeze(0) if self.decoder.attention is not None else None  # (1, T, S)
        return GenerationOutput(seq.unsqueeze(0), cross, torch.tensor([score]))

    # ---------------------------------------------------------------- files
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def save_pretrained(self, folder: str | Path, dtype: torch.dtype = torch.float16) -> None:
        """Write config.json and fp16 model.safetensors into `folder`."""
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().to(dtype).contiguous() for k, v in self.state_dict().items()}
        save_file(state, str(folder / WEIGHTS_FILE), metadata={"format": "pt"})
        config = {"architecture": "Seq2SeqRNN", **asdict(self.config)}
        (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> Seq2SeqRNN:
        """Load a folder written by save_pretrained, as float32, in eval mode."""
        from safetensors.torch import load_file

        folder = Path(folder)
        raw = json.loads((folder / CONFIG_FILE).read_text())
        raw.pop("architecture", None)
        model = cls(Seq2SeqConfig(**raw))
        state = {k: v.float() for k, v in load_file(str(folder / WEIGHTS_FILE)).items()}
        model.load_state_dict(state)
        logger.info("loaded %s (%.1fM parameters)", folder, model.num_parameters() / 1e6)
        return model.eval()


def length_normalised(score: float, length: int, alpha: float) -> float:
    """log p / length ** alpha, the ranking used by beam_search."""
    return score / math.pow(max(length, 1), alpha)
