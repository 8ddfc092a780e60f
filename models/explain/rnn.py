"""Teacher-forced RNN translator (models/nets/seq2seq_rnn.py) for attributions: the log-probability of
every token of a translation as a differentiable function of the source embeddings.

The same modules as Seq2SeqRNN.greedy (encoder, decoder.step, project), run over B copies of one sentence
(Captum's interpolation steps, perturbed inputs) with the model's own output fed back (teacher forcing, as
Inseq does): row t is log p(output_ids[t] | source, output_ids[:t]), the distribution greedy decoding took
its argmax of. Every attention variant (and the no-attention baseline) runs through the same code.
Dimensions: B copies, S source tokens, T output tokens, E embedding width, R explained rows.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from models.nets.seq2seq_rnn import Seq2SeqRNN


@dataclass(frozen=True)
class RNNScorer:
    """One sentence and the model's translation of it. source_ids: (S,) with EOS; output_ids: (T,) the
    translation (EOS last when reached); unknown: the id whose embedding is the baseline."""

    model: Seq2SeqRNN
    source_ids: list[int]
    output_ids: list[int]
    unknown: int

    def embeddings(self) -> torch.Tensor:
        """(1, S, E) source word embeddings: the attribution input (dropout is off in eval mode)."""
        with torch.no_grad():
            return self.model.embed(torch.tensor([self.source_ids]))

    def unknown_embeddings(self) -> torch.Tensor:
        """(1, S, E) the baseline: every source token replaced by the unknown piece, Inseq's default."""
        with torch.no_grad():
            return self.model.embed.weight[self.unknown].expand(1, len(self.source_ids), -1).clone()

    def log_probs(self, embeddings: torch.Tensor, rows: Sequence[int] | None = None) -> torch.Tensor:
        """embeddings (B, S, E) -> (B, T) log-probability of each output token, teacher-forced; with rows,
        (B, R) of those tokens only (decoding stops after the last of them: the same values, less work)."""
        model, config = self.model, self.model.config
        B, S, _ = embeddings.shape
        chosen = list(range(len(self.output_ids))) if rows is None else list(rows)
        if not chosen:
            return embeddings.new_zeros(B, 0)
        keys, summary = model.encoder(embeddings, torch.full((B,), S))  # (B, S, Dk), (B, Dk)
        mask = torch.ones(B, S, dtype=torch.bool)  # every copy has the full sentence, no padding
        attention = model.decoder.attention
        cache = attention.precompute(keys) if attention is not None else None
        h, feed = model.decoder.init_state(summary)
        previous = model.embed(torch.tensor([config.bos_id, *self.output_ids[: max(chosen)]]))  # (T', E) fed back
        feeds = []
        for t in range(max(chosen) + 1):
            h, feed, _ = model.decoder.step(previous[t].expand(B, -1), h, feed, keys, mask, summary, cache)
            feeds.append(feed)  # (B, E) attentional hidden state of step t
        logits = model.project(torch.stack([feeds[r] for r in chosen], dim=1))  # (B, R, V)
        targets = torch.tensor([self.output_ids[r] for r in chosen])  # (R,)
        return F.log_softmax(logits, dim=-1).gather(-1, targets.expand(B, -1)[..., None])[..., 0]  # (B, R)
