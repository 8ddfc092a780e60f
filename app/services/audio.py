"""A speech model's output -> the body of POST /api/attention/audio: transcript, timed words, log-mel and
waveform for drawing, and the selected maps (wire encodings of app.services.encoding, via serialize.stack_maps)."""

from collections.abc import Sequence
from typing import Any

from app.schemas import Encoding
from app.services.encoding import encode_values
from app.services.serialize import check_indices, select_indices, stack_maps
from models.contract import AttentionStack, AudioAttentionOutput, InputError

KINDS = ("encoder_self", "decoder_self", "cross")
DEFAULT_KINDS = ("decoder_self", "cross")  # encoder maps are frames x frames: the page asks for one at a time
MAX_MAP_VALUES = 6_000_000  # numbers one answer may carry (about 16 MB as base64 float16)
PADDING = "padding"  # label of the last column: the silence Whisper appends up to 30 s


def frame_labels(frames: int, seconds: float) -> tuple[str, ...]:
    return tuple(f"{i * seconds:.2f}s" for i in range(frames))


def audio_stacks(output: AudioAttentionOutput) -> dict[str, AttentionStack]:
    """The three kinds as labelled stacks (the last frame column is the padding's total)."""
    frames = frame_labels(output.audio_frames, output.frame_seconds)
    return {
        "encoder_self": AttentionStack("encoder_self", output.encoder_self, frames, (*frames, PADDING)),
        "decoder_self": AttentionStack("decoder_self", output.decoder_self, output.output_tokens, output.tokens),
        "cross": AttentionStack("cross", output.cross, output.output_tokens, (*frames, PADDING)),
    }


def waveform_envelope(output: AudioAttentionOutput) -> dict[str, list[float]]:
    """min and max of the waveform per mel frame (10 ms, as many as the log-mel has), rounded to 4 decimals."""
    import numpy as np

    hop, n = output.sample_rate // 100, output.mel.shape[1]
    padded = np.zeros(n * hop, np.float32)
    padded[: min(n * hop, len(output.samples))] = output.samples[: n * hop]
    blocks = padded.reshape(n, hop)
    return {"min": blocks.min(1).round(4).tolist(), "max": blocks.max(1).round(4).tolist()}


def audio_response(
    model_id: str,
    output: AudioAttentionOutput,
    kinds: Sequence[str] | None = None,
    layers: Sequence[int] | None = None,
    heads: Sequence[int] | None = None,
    encoding: Encoding = "f16",
) -> dict[str, Any]:
    """The body of POST /api/attention/audio (see app.api.routes.audio_schemas.AudioAttentionResponse).
    InputError for an unknown kind, a layer or head that does not exist, or a selection over MAX_MAP_VALUES."""
    chosen_kinds = list(DEFAULT_KINDS if kinds is None else kinds)
    unknown = [k for k in chosen_kinds if k not in KINDS]
    if unknown:
        raise InputError(f"Unknown kind {unknown[0]!r}; kinds are {', '.join(KINDS)}.")
    stacks = audio_stacks(output)
    n_layers, n_heads = output.cross.shape[:2]
    check_indices(layers, n_layers, "layer")
    check_indices(heads, n_heads, "head")
    chosen_layers, chosen_heads = select_indices(layers, n_layers), select_indices(heads, n_heads)
    values = sum(stacks[k].weights[0, 0].numel() for k in chosen_kinds) * len(chosen_layers) * len(chosen_heads)
    if values > MAX_MAP_VALUES:
        raise InputError(
            f"These maps hold {values:,} numbers; one answer carries at most {MAX_MAP_VALUES:,}. Ask for fewer "
            "kinds, layers or heads (encoder maps of a long clip are large: ask for one layer and head at a time)."
        )
    maps: list[dict[str, Any]] = []
    for kind in KINDS:
        if kind in chosen_kinds:
            maps += stack_maps(stacks[kind], chosen_layers, chosen_heads, encoding)
    record = output.record
    return {
        "model": model_id,
        "transcript": output.transcript,
        "input_tokens": list(output.tokens),
        "output_tokens": list(output.output_tokens),
        "words": [
            {"word": w.word, "start": w.start, "end": w.end, "dtw_start": w.dtw_start, "dtw_end": w.dtw_end,
             "probability": w.probability,
             "tokens": [i - 1 for i in w.token_indices]}  # input position i produced output token i - 1
            for w in output.words
        ],
        "alignment_heads": [list(pair) for pair in output.alignment_heads],
        "frame_seconds": output.frame_seconds,
        "audio_frames": output.audio_frames,
        "audio": {
            "format": record.format,
            "subtype": record.subtype,
            "sample_rate": record.sample_rate,
            "channels": record.channels,
            "duration_s": round(record.duration_s, 4),
            "mixed_down": record.mixed_down,
            "resampled": record.resampled,
        },
        "mel": {"shape": list(output.mel.shape), **encode_values(output.mel, encoding)},
        "waveform": waveform_envelope(output),
        "covers": (
            f"Frames are {output.frame_seconds * 1000:g} ms of audio (column c starts at c x frame_seconds). Whisper "
            "reads 30 s windows, so the clip is followed by silence; the last column of every frame axis is the total "
            "weight on that padding, so each row sums to 1. Cross-attention rows are the decoder positions, labelled "
            "by the token each produced; decoder self-attention is masked (exactly 0 above the diagonal)."
        ),
        "maps": maps,
    }
