"""Teacher-forced Marian tiny for attributions and ablation: the log-probability of every token of a
translation, as a differentiable function of the source embeddings.

The service decodes with models/nets/marian.py's DecoderStep (fast, in place, one token at a time, no
gradients). Here the same modules run batched over B copies of one sentence (Captum's interpolation
steps, or one head mask per copy) with the model's own output fed back (teacher forcing, as Inseq does):
row t of the result is log p(output_ids[t] | source, output_ids[:t]) over the sentence's shortlist
candidates, exactly the distribution greedy decoding took its argmax of.
Dimensions: B copies, S source tokens, T output tokens, L layers, H heads, D width, C candidates.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from models.nets.marian import EncoderLayer, MarianTiny
from models.serve.marian import MarianTranslator

UNKNOWN = 1  # <unk> in the Bergamot SentencePiece vocabulary


def encoder_layer(layer: EncoderLayer, x: torch.Tensor, head_mask: torch.Tensor | None) -> torch.Tensor:
    """x (B, S, D) through one post-norm encoder layer; head_mask (B, H) or (H,), 0 = head ablated."""
    attention = layer.attention
    B, S, D = x.shape
    H, Dh = attention.n_heads, attention.d_head
    qkv = attention.qkv(x).view(B, S, 3, H, Dh).permute(2, 0, 3, 1, 4)  # (3, B, H, S, Dh)
    q, k, v = qkv.unbind(0)  # (B, H, S, Dh) each
    weights = (q @ k.transpose(-2, -1) / attention.score_scale).softmax(dim=-1)  # (B, H, S, S)
    heads = weights @ v  # (B, H, S, Dh)
    if head_mask is not None:
        heads = heads * head_mask[..., None, None]
    context = attention.out(heads.transpose(1, 2).reshape(B, S, D))  # (B, S, D)
    x = layer.attention_norm(context + x)
    return layer.ffn_norm(layer.ffn(x) + x)


@dataclass(frozen=True)
class MarianScorer:
    """One sentence and the model's translation of it, ready to be re-scored with changed inputs.

    source_ids: (S,) with EOS; output_ids: (T,) the translation (EOS last when reached);
    candidates: (C,) the sentence's shortlist.
    """

    translator: MarianTranslator
    source_ids: list[int]
    output_ids: list[int]
    candidates: torch.Tensor

    @property
    def model(self) -> MarianTiny:
        return self.translator.model

    def embeddings(self) -> torch.Tensor:
        """(1, S, D) scaled source word embeddings, positions NOT included: the attribution input."""
        with torch.no_grad():
            return self.model.embedding(torch.tensor([self.source_ids])) * self.model.config.d_model**0.5

    def unknown_embeddings(self) -> torch.Tensor:
        """(1, S, D) the baseline: every source token replaced by <unk> (id 1), Inseq's default."""
        with torch.no_grad():
            unk = self.model.embedding.weight[UNKNOWN] * self.model.config.d_model**0.5  # (D,)
        return unk.expand(1, len(self.source_ids), -1)

    def log_probs(
        self,
        embeddings: torch.Tensor,
        encoder_mask: torch.Tensor | None = None,
        cross_mask: torch.Tensor | None = None,
        rows: Sequence[int] | None = None,
    ) -> torch.Tensor:
        """embeddings (B, S, D) -> (B, T) log-probability of each output token, teacher-forced; with rows, (B, R)
        of those output tokens only (the decoder stops after the last of them: the same values, less work).

        encoder_mask (L_enc, H) or (B, L_enc, H) and cross_mask (L_dec, H) or (B, L_dec, H): 0 ablates a head.
        """
        model = self.model
        B, S, D = embeddings.shape
        chosen_rows = list(range(len(self.output_ids))) if rows is None else list(rows)
        if not chosen_rows:
            return embeddings.new_zeros(B, 0)
        x = embeddings + model.positions[:S]  # (B, S, D)
        for i, layer in enumerate(model.encoder_layers):
            x = encoder_layer(layer, x, None if encoder_mask is None else encoder_mask[..., i, :])
        memory = x  # (B, S, D)
        T = max(chosen_rows) + 1  # decoder steps needed: the recurrence runs left to right
        previous = torch.tensor(self.output_ids[: T - 1], dtype=torch.long)  # (T-1,) fed back
        y = torch.cat([torch.zeros(1, D), model.embedding(previous) * D**0.5]) + model.positions[:T]  # (T, D)
        y = y.expand(B, T, D)
        for i, decoder in enumerate(model.decoder_layers):
            gates = decoder.ssru.gates(y)  # (B, T, 2D) = [y W | y Wf + bf]
            forget = torch.sigmoid(gates[..., D:])
            cell = torch.zeros(B, D)
            cells = []
            for t in range(T):  # the SSRU recurrence: c_t = (1 - f_t) * (y_t W) + f_t * c_{t-1}
                cell = (1 - forget[:, t]) * gates[:, t, :D] + forget[:, t] * cell
                cells.append(cell)
            y = decoder.ssru_norm(torch.relu(torch.stack(cells, dim=1)) + y)  # (B, T, D)
            context, _ = decoder.cross(y, memory, None, None if cross_mask is None else cross_mask[..., i, :])
            y = decoder.cross_norm(context + y)
            y = decoder.ffn_norm(decoder.ffn(y) + y)
        y = y[:, chosen_rows]  # (B, R, D)
        out_weight = model.embedding.weight.index_select(0, self.candidates)  # (C, D)
        logits = y @ out_weight.T + model.output_bias.index_select(0, self.candidates)  # (B, R, C)
        position = {int(c): j for j, c in enumerate(self.candidates.tolist())}
        chosen = torch.tensor([position[self.output_ids[r]] for r in chosen_rows])  # (R,) column of each token
        R = len(chosen_rows)
        return F.log_softmax(logits, dim=-1).gather(-1, chosen.expand(B, R)[..., None])[..., 0]  # (B, R)


def marian_scorer(translator: MarianTranslator, text: str, output_ids: list[int] | None = None) -> MarianScorer:
    """The scorer of `text` and its translation (greedy, every head on) unless output_ids are given."""
    source_ids = translator.source_ids(text)
    candidates = translator.shortlist.candidates(source_ids)
    if output_ids is None:
        with torch.inference_mode():
            output_ids = translator.model.greedy(source_ids, candidates).output_ids
    return MarianScorer(translator, source_ids, list(output_ids), candidates)
