"""Response bodies of the audio endpoints (app/api/routes/audio.py); every field says what it holds. Kept beside
their routes: no other part of the API uses them. The attention route answers with plain JSON built by
app.services.audio (tens of thousands of floats are not worth validating); these models document it."""

from typing import Literal

from pydantic import BaseModel, Field

AudioKind = Literal["encoder_self", "decoder_self", "cross"]


class AudioMap(BaseModel):
    """One attention map: rows are queries, columns keys; every row sums to 1 (padding column included)."""

    kind: AudioKind = Field(description="encoder_self (frames x frames), decoder_self (tokens x tokens) or cross "
                            "(tokens x frames).")
    layer: int = Field(description="0-based layer.")
    head: int = Field(description="0-based head.")
    shape: list[int] = Field(description="[rows, columns].")
    row_tokens: list[str] = Field(description="Row labels: output tokens (decoder kinds) or frame times.")
    col_tokens: list[str] = Field(description="Column labels: input tokens, or frame start times ('1.24s') and a "
                                  "last column 'padding': the weight on the silence Whisper appends up to 30 s.")
    values: list[list[float]] | None = Field(description="The map as nested lists (encoding json), else null.")
    data: str | None = Field(default=None, description="Base64 of the map (encoding f16: little-endian float16, "
                             "row-major).")
    dtype: str | None = Field(default=None, description="float16 when data is set.")


class WordTime(BaseModel):
    """A word of the transcript placed on the audio (Whisper's alignment-head timing)."""

    word: str = Field(description="The word as decoded (leading space kept, punctuation merged).")
    start: float = Field(description="Seconds from the start of the clip.")
    end: float = Field(description="Seconds; the next word's start, or where the text ends.")
    dtw_start: float = Field(description="The start dynamic time warping gave, before it was moved into a pause.")
    dtw_end: float = Field(description="The end dynamic time warping gave, before it was moved into a pause.")
    probability: float = Field(description="Mean probability the model gave the word's tokens.")
    tokens: list[int] = Field(description="Indices into output_tokens of the word's tokens (the rows of the "
                              "decoder maps that wrote it).")


class AudioInfo(BaseModel):
    """What the upload was and what was done to it."""

    format: str = Field(description="WAV, FLAC, MP3, OGG ...")
    subtype: str = Field(description="Sample encoding, e.g. PCM_16.")
    sample_rate: int = Field(description="Stored sample rate in Hz (the model hears 16 kHz).")
    channels: int = Field(description="Stored channels (mixed to mono).")
    duration_s: float = Field(description="Length of the clip in seconds.")
    mixed_down: bool = Field(description="Several channels were averaged.")
    resampled: bool = Field(description="The clip was resampled to 16 kHz.")


class AudioAttentionResponse(BaseModel):
    """POST /api/attention/audio."""

    model: str = Field(description="The model id.")
    transcript: str = Field(description="What the model heard (greedy decoding).")
    input_tokens: list[str] = Field(description="Decoder input tokens: the prompt, then the text tokens.")
    output_tokens: list[str] = Field(description="What each input position produced (the text, then "
                                     "<|endoftext|>): the rows of the decoder maps.")
    words: list[WordTime] = Field(description="Every word with its start and end time.")
    alignment_heads: list[list[int]] = Field(description="[layer, head] of the cross-attention heads that time "
                                             "the words.")
    frame_seconds: float = Field(description="Seconds per encoder frame (0.02); column c starts at c x this.")
    audio_frames: int = Field(description="Encoder frames of the clip (the maps' frame columns).")
    audio: AudioInfo
    mel: dict[str, object] = Field(description="The log-mel spectrogram the encoder read: shape [80, 2 x "
                                   "audio_frames] (10 ms frames, lowest bin first) and its values (see encoding).")
    waveform: dict[str, list[float]] = Field(description="min and max of the 16 kHz waveform per 10 ms, for "
                                             "drawing.")
    covers: str = Field(description="What the maps are, in one paragraph.")
    maps: list[AudioMap]


class SampleClip(BaseModel):
    """A speech clip shipped with a Debian package, offered with one click."""

    name: str = Field(examples=["librivox-0880"], description="Pass to GET /api/audio-samples/{name}.")
    title: str = Field(description="The reference transcript.")
    url: str = Field(description="The clip as WAV.")
    source: str = Field(description="Where it comes from.")
    license: str = Field(description="As the package states it.")
