"""Request and response bodies of the /concepts lecture endpoints (app/api/routes/concepts_lecture.py);
every field says what it holds. Kept beside their routes: no other part of the API uses them."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.schemas import NON_BLANK_SCHEMA, JsonInt, NonBlank
from models.catalog import CATALOG, TRANSFORMER_EN_ES

Matrix = list[list[float]]
MINILM_LAYERS = next(s.layers for s in CATALOG if s.id == "minilm-l6")  # layers of the multi-head panel's model
DECODER_LAYERS = next(n for kind, n, _ in TRANSFORMER_EN_ES.shapes() if kind == "decoder_self")

BIBLE_SENTENCE = "In the beginning God created the heavens and the earth."


class LectureText(BaseModel):
    """A sentence for a lecture panel (English)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"text": BIBLE_SENTENCE}]})

    text: NonBlank = Field(
        json_schema_extra=NON_BLANK_SCHEMA,
        max_length=300,
        description="English sentence, not blank (the models learned everyday and Bible English). The panels draw "
        "at most 40 tokens (the error says when a sentence is longer).",
    )


class BahdanauRequest(LectureText):
    """A sentence and the decoder step to open up."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"text": BIBLE_SENTENCE, "step": 2}]})

    step: JsonInt = Field(
        default=0,
        ge=0,
        le=200,
        description="Decoder step t (0 = the first generated token); past the translation's end, its last step "
        "(the answer's `step` says which).",
    )


class MultiheadRequest(LectureText):
    """A sentence, a MiniLM layer and the query token to follow through it."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"text": "the cat sat on the mat", "layer": 2, "query": 2}]},
    )

    layer: JsonInt = Field(default=0, ge=0, le=MINILM_LAYERS - 1, description="MiniLM self-attention layer.")
    query: JsonInt = Field(
        default=1,
        ge=0,
        le=512,
        description="Position of the query token ([CLS] is 0); past the sentence's end, its last token [SEP] (the "
        "answer's `query` says which).",
    )


class DecoderRequest(LectureText):
    """A sentence and the transformer-en-es decoder layer to show."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"text": BIBLE_SENTENCE, "layer": 0}]})

    layer: JsonInt = Field(default=0, ge=0, le=DECODER_LAYERS - 1, description="transformer-en-es decoder layer.")


class BottleneckRow(BaseModel):
    model: str = Field(description="Model id.")
    attention: bool = Field(description="False for the fixed-context baseline.")
    label: str = Field(description="Short name of its attention (score function) or the model id.")
    bleu: float = Field(description="Test BLEU, greedy.")
    bleu_by_length: list[float] = Field(description="Test BLEU per source-length bucket (same order as buckets).")


class BottleneckResponse(BaseModel):
    """BLEU by source length from the committed evaluation report: baseline against attention."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "report": "reports/translation_eval.json",
                    "buckets": ["1-10", "11-20", "21-30", "31+"],
                    "baseline": "rnn-none-en-es",
                    "models": [
                        {
                            "model": "rnn-none-en-es",
                            "attention": False,
                            "label": "no attention",
                            "bleu": 9.1,
                            "bleu_by_length": [15.2, 9.8, 7.1, 5.0],
                        },
                    ],
                }
            ]
        }
    )

    report: str = Field(description="The report file the figures come from.")
    buckets: list[str] = Field(description="Source-length buckets (words).")
    baseline: str = Field(description="Id of the no-attention model.")
    models: list[BottleneckRow]


class BahdanauResponse(BaseModel):
    """One decoder step of rnn-additive-en-es: scores, weights, context and the word produced."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "model": "rnn-additive-en-es",
                    "source_tokens": ["▁God", "</s>"],
                    "output_tokens": ["▁Dios", "</s>"],
                    "output_text": "Dios",
                    "step": 0,
                    "previous_token": "<s>",
                    "produced_token": "▁Dios",
                    "produced_probability": 0.91,
                    "scores": [2.1, -0.4],
                    "weights": [0.924142, 0.075858],
                    "context": [0.1, -0.2],
                    "encoder_states": [[0.1, -0.2], [0.1, -0.3]],
                }
            ]
        }
    )

    model: str
    source_tokens: list[str] = Field(description="S source pieces, end-of-sentence included.")
    output_tokens: list[str] = Field(description="The T generated pieces of the greedy translation.")
    output_text: str = Field(description="The translation.")
    step: int = Field(description="The decoder step t shown.")
    previous_token: str = Field(description="The token fed in at step t (<s> at step 0).")
    produced_token: str = Field(description="The token step t produced (output_tokens[t]).")
    produced_probability: float = Field(description="Its probability at step t.")
    scores: list[float] = Field(description="e_ti = v^T tanh(W h_t + U k_i), one per source token (S).")
    weights: list[float] = Field(description="a_ti = softmax(e_t)_i; sums to 1 (S).")
    context: list[float] = Field(description="c_t = sum_i a_ti k_i (Dk).")
    encoder_states: Matrix = Field(description="The keys k_i: bidirectional GRU states (S, Dk).")


class ScoreVariant(BaseModel):
    model: str = Field(description="Model id.")
    score: str = Field(description="Score function name.")
    formula: str = Field(description="How the score is computed, with its paper.")
    available: bool = Field(description="False when its weights are not here (see reason).")
    reason: str | None = Field(default=None, description="Why it is unavailable.")
    output_text: str | None = Field(default=None, description="Its translation.")
    row_tokens: list[str] | None = Field(default=None, description="Generated tokens (rows).")
    col_tokens: list[str] | None = Field(default=None, description="Source tokens (columns).")
    values: Matrix | None = Field(default=None, description="Cross-attention (T, S); rows sum to 1.")


class ScoreFunctionsResponse(BaseModel):
    """Every trained RNN score function on one sentence."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "text": "God",
                    "variants": [
                        {
                            "model": "rnn-dot-en-es",
                            "score": "dot",
                            "formula": "dot (Luong et al. 2015): q . k",
                            "available": True,
                            "output_text": "Dios",
                            "row_tokens": ["▁Dios", "</s>"],
                            "col_tokens": ["▁God", "</s>"],
                            "values": [[0.9, 0.1], [0.2, 0.8]],
                        },
                    ],
                }
            ]
        }
    )

    text: str
    variants: list[ScoreVariant]


class SaturationStats(BaseModel):
    max_weight: float = Field(description="Mean of the largest softmax weight over the trials.")
    entropy: float = Field(description="Mean entropy of the weights (nats).")
    score_std: float = Field(description="Standard deviation of the scores.")
    example: list[float] = Field(description="The weights of the first trial.")


class SaturationRow(BaseModel):
    d: int = Field(description="Width of q and k.")
    raw: SaturationStats = Field(description="softmax(q . k).")
    scaled: SaturationStats = Field(description="softmax(q . k / sqrt(d)).")


class SaturationResponse(BaseModel):
    """Softmax over random dot products as the width grows, raw and scaled by 1 / sqrt(d)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "keys": 2,
                    "trials": 1,
                    "seed": 0,
                    "max_entropy": 0.693147,
                    "dims": [
                        {
                            "d": 4,
                            "raw": {"max_weight": 0.9, "entropy": 0.3, "score_std": 2.0, "example": [0.9, 0.1]},
                            "scaled": {"max_weight": 0.7, "entropy": 0.6, "score_std": 1.0, "example": [0.7, 0.3]},
                        },
                    ],
                }
            ]
        }
    )

    keys: int = Field(description="Keys per query.")
    trials: int = Field(description="Random queries per width.")
    seed: int
    max_entropy: float = Field(description="log(keys): the entropy of uniform weights.")
    dims: list[SaturationRow]


class MultiheadResponse(BaseModel):
    """One MiniLM layer for one query token: per-head outputs, their concatenation, the projection."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "model": "minilm-l6",
                    "tokens": ["[CLS]", "cat", "[SEP]"],
                    "layer": 0,
                    "layers": 6,
                    "query": 1,
                    "heads": 2,
                    "d_head": 1,
                    "maps": [
                        [[1.0, 0.0, 0.0], [0.2, 0.5, 0.3], [0.0, 0.0, 1.0]],
                        [[1.0, 0.0, 0.0], [0.1, 0.1, 0.8], [0.0, 0.0, 1.0]],
                    ],
                    "weights": [[0.2, 0.5, 0.3], [0.1, 0.1, 0.8]],
                    "values": [[[1.0], [2.0], [0.0]], [[0.5], [0.0], [1.0]]],
                    "head_outputs": [[1.2], [0.85]],
                    "concat": [1.2, 0.85],
                    "output": [0.3, -0.1],
                }
            ]
        }
    )

    model: str
    tokens: list[str] = Field(description="T WordPiece tokens.")
    layer: int
    layers: int = Field(description="Layers of the model.")
    query: int = Field(description="Position of the query token.")
    heads: int = Field(description="H.")
    d_head: int = Field(description="Dh = D / H.")
    maps: list[Matrix] = Field(description="(H, T, T) every head's self-attention map in this layer.")
    weights: Matrix = Field(description="(H, T) each head's softmax weights for the query (row `query` of maps).")
    values: list[Matrix] = Field(description="(H, T, Dh) each head's value vectors.")
    head_outputs: Matrix = Field(description="(H, Dh) each head's output: weights @ values.")
    concat: list[float] = Field(description="(D,) the head outputs side by side.")
    output: list[float] = Field(description="(D,) W_O concat + b_O.")


class DecoderMaps(BaseModel):
    row_tokens: list[str] = Field(description="Queries (rows).")
    col_tokens: list[str] = Field(description="Keys (columns).")
    heads: list[Matrix] = Field(description="(H, rows, cols) per head.")
    mean: Matrix = Field(description="(rows, cols) mean over heads.")
    max_ahead: float | None = Field(default=None, description="Largest weight on a later step (0 by the mask).")


class DecoderResponse(BaseModel):
    """transformer-en-es decoder: masked self-attention and cross-attention of one layer."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "model": "transformer-en-es",
                    "layer": 0,
                    "layers": 3,
                    "source_tokens": ["▁God", "</s>"],
                    "output_text": "Dios",
                    "masked": {
                        "row_tokens": ["▁Dios", "</s>"],
                        "col_tokens": ["<s>", "▁Dios"],
                        "heads": [[[1.0, 0.0], [0.4, 0.6]]],
                        "mean": [[1.0, 0.0], [0.4, 0.6]],
                        "max_ahead": 0.0,
                    },
                    "cross": {
                        "row_tokens": ["▁Dios", "</s>"],
                        "col_tokens": ["▁God", "</s>"],
                        "heads": [[[0.9, 0.1], [0.2, 0.8]]],
                        "mean": [[0.9, 0.1], [0.2, 0.8]],
                    },
                }
            ]
        }
    )

    model: str
    layer: int
    layers: int = Field(description="Decoder layers.")
    source_tokens: list[str]
    output_text: str | None
    masked: DecoderMaps = Field(description="Masked decoder self-attention.")
    cross: DecoderMaps = Field(description="Cross-attention over the source.")


class CaptioningResponse(BaseModel):
    """A captioner's words on a composed scene, each with its map over the patches."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "model": "captioner-sat",
                    "scene": 0,
                    "reference": "a dog",
                    "caption": "a dog",
                    "tokens": ["a", "dog"],
                    "grid": [1, 2],
                    "layer": 0,
                    "layers": 1,
                    "image": "data:image/png;base64,...",
                    "maps": [[[0.5, 0.5]], [[0.1, 0.9]]],
                    "non_patch": [0.0, 0.0],
                    "gates": [0.4, 0.9],
                }
            ]
        }
    )

    model: Literal["captioner-sat", "captioner-transformer"]
    scene: int = Field(description="Test scene index (models/data/scenes.py).")
    reference: str = Field(description="The scene's reference caption.")
    caption: str | None = Field(description="The generated caption.")
    tokens: list[str] = Field(description="T generated words.")
    grid: list[int] = Field(description="(h, w) patches.")
    layer: int = Field(description="Decoder layer of the maps (its pointing layer).")
    layers: int = Field(description="Decoder layers.")
    image: str = Field(description="PNG data URL of the model input; the grid lies on it.")
    maps: list[Matrix] = Field(description="(T, h, w) each word's attention over the patches (mean over heads).")
    non_patch: list[float] = Field(description="(T,) weight on non-patch tokens: map sum + this = 1.")
    gates: list[float] | None = Field(description="(T,) Show-Attend-Tell's gate beta_t, else null.")


class VitResponse(BaseModel):
    """DINOv2: patch grid, class-token attention and rollout per layer."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "model": "dinov2-s14",
                    "sample": "chelsea",
                    "grid": [1, 2],
                    "patch_size": 14,
                    "tokens": 3,
                    "image": "data:image/png;base64,...",
                    "cls": [[[0.3, 0.2]]],
                    "cls_self": [0.5],
                    "rollout": [[[0.2, 0.2]]],
                    "rollout_self": [0.6],
                }
            ]
        }
    )

    model: str
    sample: str = Field(description="Sample photo name (GET /api/samples).")
    grid: list[int] = Field(description="(h, w) patches.")
    patch_size: int = Field(description="Pixels per patch side.")
    tokens: int = Field(description="Tokens the encoder reads: class token (+ registers) + h * w patches.")
    image: str = Field(description="PNG data URL of the model input.")
    cls: list[Matrix] = Field(description="(L, h, w) class token -> patches, mean over heads, raw weights.")
    cls_self: list[float] = Field(description="(L,) weight the class token keeps on itself.")
    rollout: list[Matrix] = Field(description="(L, h, w) class-token row of attention rollout up to each layer.")
    rollout_self: list[float] = Field(description="(L,) rollout weight left on the class token.")
