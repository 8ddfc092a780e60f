"""One served model and one input, reduced to what attributions, deletion curves and head ranking need:
a score function of the input embeddings, the embeddings, the attention of the same run, and the same
score with chosen heads switched off.

- Marian translators: row t = log p(output token t), teacher-forced on the model's own output (Inseq's
  recipe), over the sentence's shortlist; inputs = source tokens (EOS included).
- transformer-en-es: the same, over its full vocabulary (a teacher-forced pass of models/nets/transformer.py).
- rnn-*-en-es (every attention variant, and the no-attention baseline): the same, over the full vocabulary (a
  teacher-forced pass of models/nets/seq2seq_rnn.py, models/explain/rnn.py); inputs = the source embeddings; the
  readout is the decoder's attention row of each step. No heads to ablate.
- captioner-transformer and captioner-sat: row t = log p(caption word t), teacher-forced; inputs = the P DINOv2
  patch features the decoder reads (the image-feature grid), baseline the features of an empty canvas of the
  normalisation mean colour (all-zero features would be degenerate: the decoders standardise each feature, so the
  whole integrated-gradients path but its first point reads the same). captioner-sat-cnn: inputs = its raw CNN cell
  features (CNN_INPUTS "features"), baseline all-zero features (CNN_BASELINE, chosen on dev rows: no feature
  present, the classifier reads its bias alone; not degenerate, since this decoder standardises the classifier's
  log-probabilities, not the features). The alternative, "readings" (what the decoder reads of each cell through the
  frozen ImageNet classifier head: its log-probabilities at both scales and the face-cue column, cell_readings), was
  scored on dev rows and not taken: integrated gradients' completeness fell (reports/ig_rules_dev.json). Ablation
  kind "spatial" = captioner-transformer's cross-attention (captioner-sat has one attention, nothing to ablate).
- BERT sentence encoders (minilm-l6): one row, the cosine similarity between the mean-pooled sentence
  embedding of the text and that of a second sentence the user gives; inputs = the text's WordPiece tokens.
Dimensions: B batch, S input tokens, D width, T output rows, L layers, H heads.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from models.contract import ImageAttentionOutput, InputError, TextAttentionOutput
from models.explain.attribute import Score
from models.explain.marian import marian_scorer
from models.explain.readout import Readout, caption_rows, encoder_rows, translation_rows
from models.explain.rnn import RNNScorer
from models.nets.caption_common import BOS
from models.nets.caption_transformer import TransformerCaptioner
from models.nets.sat import ShowAttendTell
from models.serve.bert import BertAttentionModel
from models.serve.captioner import CaptionerAttentionModel
from models.serve.marian import MarianTranslator
from models.serve.pieces import source_pieces
from models.serve.rnn import RNNTranslator
from models.serve.transformer import TransformerTranslator

HeadMasks = Mapping[str, torch.Tensor]  # attention kind -> (L, H) or (B, L, H); 0 = head ablated
BLANK = "every patch feature replaced by that patch's feature of an empty canvas (the normalisation mean colour)"
CnnInputs = Literal["readings", "features"]  # captioner-sat-cnn's attributed inputs (chosen on dev rows)
CNN_INPUTS: CnnInputs = "features"
# captioner-sat-cnn's baseline, chosen on dev rows by a rule fixed before they were scored (a first look at 20 of
# them prompted it): the menu is {an empty canvas's features (served until then), all-zero features} x {4 pieces,
# 4 cut by the slope, 16} at 32 steps on the 40 validation scenes of reports/ig_rules_dev.json's menu; the most
# complete rows win, the served pair (blank, 16) on ties. Zero features are not degenerate here, unlike for the
# DINOv2 decoders: the classifier reads them as its bias alone, and the decoder standardises its log-probabilities.
CnnBaseline = Literal["blank", "zero"]
CNN_BASELINE: CnnBaseline = "zero"  # dev: (zero, 4:slope) 95.7% complete, (blank, 16) 81.2%
ZERO = "every cell's CNN features set to zero (no feature present: the classifier reads only its bias)"
RowsScore = Callable[[Sequence[int]], Score]  # rows -> x (B, S, D) -> (B, R): only those rows, computed cheaper


@dataclass(frozen=True)
class Explainable:
    """score: x (B, S, D) -> (B, T); x: (1, S, D) the input's embeddings; baseline: (1, S, D) "no input".
    output: the model's attention answer for the same input and the same ablated heads.
    row_tokens: T labels of the score rows; col_tokens: S labels of the inputs.
    readout: Readout -> (T, S) attention rows in the same layout.
    with_heads: masks (kind -> (B, L, H)) -> (B, T) the score at x with those heads ablated
        (the output tokens stay those of this run).
    head_shapes: kind -> (L, H) of every attention kind that can be ablated.
    target: what a row's score is, in words.
    baseline_text: what an input is replaced with for the baseline (and removed with in deletion curves).
    rows_score: rows -> a score of only those rows (the decoder stops after the last one, only they are
        projected to the vocabulary); None: score's columns are picked.
    """

    score: Score
    x: torch.Tensor
    baseline: torch.Tensor
    output: TextAttentionOutput | ImageAttentionOutput
    row_tokens: tuple[str, ...]
    col_tokens: tuple[str, ...]
    readout: Callable[[Readout], torch.Tensor]
    with_heads: Callable[[HeadMasks], torch.Tensor]
    head_shapes: dict[str, tuple[int, int]]
    target: str
    baseline_text: str = "every input token replaced by the unknown token's embedding"
    rows_score: RowsScore | None = None

    def score_rows(self, rows: Sequence[int]) -> Score:
        """x (B, S, D) -> (B, R): the score of the chosen rows, in their order (same values as score's columns)."""
        if self.rows_score is not None:
            return self.rows_score(rows)
        columns = list(rows)
        return lambda x: self.score(x)[:, columns]


def no_heads(_: HeadMasks) -> torch.Tensor:
    raise InputError("This model has no attention heads to switch off.")


def explain_marian(translator: MarianTranslator, text: str, head_mask: HeadMasks | None = None) -> Explainable:
    """The translation of text (with head_mask's heads ablated) and its teacher-forced token log-probabilities."""
    masks = dict(head_mask or {})
    output = translator.attend(text, masks)
    raw, _ = translator.translate_raw(text, masks)
    scorer = marian_scorer(translator, text, raw.output_ids)
    encoder_mask, cross_mask = masks.get("encoder_self"), masks.get("cross")
    config = translator.model.config

    def score(x: torch.Tensor) -> torch.Tensor:
        return scorer.log_probs(x, encoder_mask, cross_mask)

    def with_heads(batch_masks: HeadMasks) -> torch.Tensor:
        B = next(iter(batch_masks.values())).shape[0]
        return scorer.log_probs(
            scorer.embeddings().expand(B, -1, -1), batch_masks.get("encoder_self"), batch_masks.get("cross")
        )

    return Explainable(
        score=score,
        x=scorer.embeddings(),
        baseline=scorer.unknown_embeddings(),
        output=output,
        row_tokens=output.output_tokens or (),
        col_tokens=output.input_tokens,
        readout=lambda readout: translation_rows(output, readout),
        with_heads=with_heads,
        head_shapes={
            "encoder_self": (config.encoder_layers, config.n_heads),
            "cross": (config.decoder_layers, config.n_heads),
        },
        target="log-probability of each output token, teacher-forced on the model's own translation",
        rows_score=lambda rows: lambda x: scorer.log_probs(x, encoder_mask, cross_mask, rows),
    )


def explain_transformer(
    translator: TransformerTranslator, text: str, head_mask: HeadMasks | None = None
) -> Explainable:
    """transformer-en-es: the translation (heads in head_mask ablated) and its teacher-forced log-probabilities."""
    masks = dict(head_mask or {})
    model, config = translator.model, translator.model.config
    output = translator.attend(text, masks or None)
    ids, _ = translator.source(text)
    src = torch.tensor([ids])  # (1, S)
    generated = torch.tensor([translator.sp.piece_to_id(p) for p in output.output_tokens or ()])  # (T,)
    tgt_in = torch.cat([torch.tensor([config.bos_id]), generated[:-1]])[None]  # (1, T)
    with torch.no_grad():
        x = model.embedding(src) * config.d_model**0.5  # (1, S, D)
        baseline = (model.embedding.weight[translator.sp.unk_id()] * config.d_model**0.5).expand_as(x)

    def scores(words: torch.Tensor, batch_masks: HeadMasks, rows: Sequence[int] | None = None) -> torch.Tensor:
        B = words.shape[0]
        chosen = list(range(generated.shape[0])) if rows is None else list(rows)
        steps = max(chosen, default=-1) + 1  # the decoder is causal: later positions do not change these rows
        logits = model(src.expand(B, -1), tgt_in[:, :steps].expand(B, -1), batch_masks, words, chosen).logits
        targets = generated[chosen].expand(B, -1)  # (B, R)
        return F.log_softmax(logits, dim=-1).gather(-1, targets[..., None])[..., 0]  # (B, R)

    def with_heads(batch_masks: HeadMasks) -> torch.Tensor:
        B = next(iter(batch_masks.values())).shape[0]
        return scores(x.expand(B, -1, -1), batch_masks)

    return Explainable(
        score=lambda words: scores(words, masks),
        x=x,
        baseline=baseline,
        output=output,
        row_tokens=output.output_tokens or (),
        col_tokens=output.input_tokens,
        readout=lambda readout: translation_rows(output, readout),
        with_heads=with_heads,
        head_shapes={
            "encoder_self": (config.encoder_layers, config.n_heads),
            "decoder_self": (config.decoder_layers, config.n_heads),
            "cross": (config.decoder_layers, config.n_heads),
        },
        target="log-probability of each output token, teacher-forced on the model's own translation",
        rows_score=lambda rows: lambda words: scores(words, masks, rows),
    )


def explain_rnn(translator: RNNTranslator, text: str) -> Explainable:
    """An RNN translator's greedy translation and its teacher-forced log-probabilities (every attention
    variant; the no-attention baseline has no readout to compare with)."""
    output = translator.attend(text)
    ids, _ = source_pieces(translator.sp, text, translator.model.config.eos_id)
    generated = [int(translator.sp.piece_to_id(p)) for p in output.output_tokens or ()]  # type: ignore[attr-defined]
    scorer = RNNScorer(translator.model, ids, generated, int(translator.sp.unk_id()))  # type: ignore[attr-defined]
    return Explainable(
        score=scorer.log_probs,
        x=scorer.embeddings(),
        baseline=scorer.unknown_embeddings(),
        output=output,
        row_tokens=output.output_tokens or (),
        col_tokens=output.input_tokens,
        readout=lambda readout: translation_rows(output, readout),
        with_heads=no_heads,
        head_shapes={},
        target="log-probability of each output token, teacher-forced on the model's own translation",
        rows_score=lambda rows: lambda x: scorer.log_probs(x, rows),
    )


def explain_bert(
    model: BertAttentionModel, text: str, second: str | None, head_mask: HeadMasks | None = None
) -> Explainable:
    """Cosine similarity of the mean-pooled embeddings of text and second (heads ablated in both)."""
    if not second or not second.strip():
        raise InputError(
            "This model needs a second sentence (`compare_with`): the target is the cosine "
            "similarity between the two sentence embeddings."
        )
    mask = (head_mask or {}).get("self")
    ids, tokens = model.tokenize(text)
    unknown = model.tokenizer.token_to_id("[UNK]") or 0
    other_ids, _ = model.tokenize(second)
    encoder = model.encoder
    output = model.attend(text, {"self": mask} if mask is not None else None)

    def pooled(words: torch.Tensor, heads: torch.Tensor | None) -> torch.Tensor:
        return encoder.forward_embedded(words, head_mask=heads).hidden.mean(dim=1)  # (B, D) mean pooling

    with torch.no_grad():
        x = encoder.word(torch.tensor([ids]))  # (1, S, D)
        other = pooled(encoder.word(torch.tensor([other_ids])), mask)  # (1, D)

    def score(words: torch.Tensor) -> torch.Tensor:
        return F.cosine_similarity(pooled(words, mask), other, dim=-1)[:, None]  # (B, 1)

    def with_heads(batch_masks: HeadMasks) -> torch.Tensor:
        heads = batch_masks["self"]  # (B, L, H)
        with torch.no_grad():
            others = pooled(encoder.word(torch.tensor([other_ids])).expand(heads.shape[0], -1, -1), heads)
            return F.cosine_similarity(pooled(x.expand(heads.shape[0], -1, -1), heads), others, dim=-1)[:, None]

    config = encoder.config
    return Explainable(
        score=score,
        x=x,
        baseline=encoder.word.weight[[unknown]].detach().expand_as(x),
        output=output,
        row_tokens=("cosine",),
        col_tokens=tokens,
        readout=lambda readout: encoder_rows(output, readout),
        with_heads=with_heads,
        head_shapes={"self": (config.num_hidden_layers, config.num_attention_heads)},
        target="cosine similarity between the mean-pooled embeddings of the text and of `compare_with`",
    )


def cell_readings(decoder: ShowAttendTell, features: torch.Tensor) -> torch.Tensor:
    """reads = "classes": features (B, P, F) -> (B, P, S * C + Q) what the decoder reads of each cell: the frozen
    head's log-probabilities at each of the S scales, then the Q cue columns."""
    cues = len(decoder.config.cues)
    readings = decoder.class_log_probs(features).flatten(-2)  # (B, P, S * C)
    return torch.cat([readings, features[..., features.shape[-1] - cues :]], dim=-1)


def explain_captioner(
    model: CaptionerAttentionModel,
    data: bytes,
    head_mask: HeadMasks | None = None,
    inputs: CnnInputs | None = None,
    baseline: CnnBaseline | None = None,
) -> Explainable:
    """A captioner's caption of the image (captioner-transformer: head_mask {"spatial": (L, H)} ablates
    cross-attention heads) and each word's teacher-forced log-probability as a function of the patch features
    (captioner-sat-cnn: its raw CNN features against all-zero ones; inputs="readings" and baseline="blank" are the
    alternatives scored on dev rows, CNN_INPUTS and CNN_BASELINE the served choices)."""
    decoder = model.decoder
    cross = (head_mask or {}).get("spatial")
    if cross is not None and not isinstance(decoder, TransformerCaptioner):
        raise InputError("captioner-sat has a single attention, so there is no head to switch off.")
    masks = {"cross": cross} if cross is not None else {}
    output = model.attend(data, head_mask=masks or None)
    _, _, features, _ = model.features(data)
    classes = isinstance(decoder, ShowAttendTell) and decoder.config.reads == "classes"
    zero = classes and (baseline or CNN_BASELINE) == "zero"
    blank = torch.zeros_like(features) if zero else model.blank_features()
    read = classes and (inputs or CNN_INPUTS) == "readings"
    if read:
        assert isinstance(decoder, ShowAttendTell)
        with torch.no_grad():
            features, blank = cell_readings(decoder, features), cell_readings(decoder, blank)
    x = features.clone()  # (1, P, F): a normal tensor, so gradients can flow
    index = model.vocab.index
    generated = torch.tensor([index[word] for word in output.tokens or ()])  # (T,)
    words = torch.cat([torch.tensor([index[BOS]]), generated[:-1]])[None]  # (1, T)
    h, w = output.grid

    def scores(feats: torch.Tensor, batch_masks: HeadMasks, rows: Sequence[int] | None = None) -> torch.Tensor:
        B = feats.shape[0]
        chosen = list(range(generated.shape[0])) if rows is None else list(rows)
        steps = max(chosen, default=-1) + 1  # both decoders are causal: later words do not change these rows
        prefix = words[:, :steps].expand(B, -1)  # (B, steps)
        if isinstance(decoder, ShowAttendTell) and read:
            S, C = decoder.config.scales, decoder.config.classes
            log_probs = feats[..., : S * C].unflatten(-1, (S, C))  # (B, P, S, C)
            logits = decoder(feats[..., S * C :], prefix, log_probs).logits  # cues, words, readings
        elif isinstance(decoder, ShowAttendTell):
            logits = decoder(feats, prefix).logits  # (B, steps, V)
        else:
            logits = decoder(feats, prefix, batch_masks).logits  # (B, steps, V)
        targets = generated[chosen].expand(B, -1)  # (B, R)
        return F.log_softmax(logits[:, chosen], dim=-1).gather(-1, targets[..., None])[..., 0]  # (B, R)

    def with_heads(batch_masks: HeadMasks) -> torch.Tensor:
        if isinstance(decoder, ShowAttendTell):
            return no_heads(batch_masks)
        heads = batch_masks["spatial"]  # (B, L, H)
        return scores(x.expand(heads.shape[0], -1, -1), {"cross": heads})

    assert output.spatial is not None
    spatial = output.spatial
    head_shapes = (
        {"spatial": (decoder.config.n_layers, decoder.config.n_heads)}
        if isinstance(decoder, TransformerCaptioner)
        else {}
    )
    return Explainable(
        score=lambda feats: scores(feats, masks),
        x=x,
        baseline=blank,
        output=output,
        row_tokens=output.tokens or (),
        col_tokens=tuple(f"{r},{c}" for r in range(h) for c in range(w)),
        readout=lambda readout: caption_rows(spatial, readout),
        with_heads=with_heads,
        head_shapes=head_shapes,
        target="log-probability of each caption word, teacher-forced on the model's own caption",
        baseline_text=ZERO if zero else BLANK,
        rows_score=lambda rows: lambda feats: scores(feats, masks, rows),
    )
