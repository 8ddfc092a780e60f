"""Decode untrusted audio uploads and turn them into Whisper's log-mel input, with numpy (and scipy to resample).

Every failure is an AudioInputError (a ValueError) whose message a user can act on. The caller limits the
upload's bytes; this module reads the duration from the header and refuses long clips before decoding.

- WAV with integer PCM (8, 16, 24 or 32 bit): the standard library `wave` module and numpy;
- FLAC, MP3, Ogg Vorbis/Opus and WAV with float or other sample encodings: libsndfile through PyPI
  `soundfile` (its wheel bundles libsndfile with these codecs);
- anything else (no known magic bytes: text, images, WebM/MP4 containers ...): refused, naming what works;
- a header that promises more samples than the file holds: refused as truncated;
- several channels: their mean; any rate from 4 kHz to 384 kHz: polyphase resampling to 16 kHz.

Whisper's log-mel recipe (openai-whisper `audio.py`): the waveform padded (or cut) to 30 s, a periodic Hann
window of 400 samples, hop 160 (10 ms), power spectrum of the 201 bins, an 80-band Slaney mel filterbank
(librosa's `filters.mel(sr=16000, n_fft=400, n_mels=80)`, computed here), log10 of max(x, 1e-10), floored at
the maximum minus 8, then (x + 4) / 4.
"""

import io
import math
import re
import struct
import wave
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from models.contract import AudioInputError, AudioRecord

SAMPLE_RATE = 16_000  # what Whisper hears
N_FFT = 400  # 25 ms window
HOP = 160  # 10 ms per mel frame
N_MELS = 80
CHUNK_SECONDS = 30  # Whisper's window: the encoder always reads 30 s
N_SAMPLES = CHUNK_SECONDS * SAMPLE_RATE
MAX_CHANNELS = 8
MIN_RATE, MAX_RATE = 4_000, 384_000
ACCEPTED = "WAV, FLAC, MP3 or Ogg"


@dataclass(frozen=True)
class DecodedAudio:
    """samples: (N,) float32 mono at SAMPLE_RATE in [-1, 1]; record: what was done to the upload."""

    samples: np.ndarray
    record: AudioRecord


def sniff(data: bytes) -> str | None:
    """The container named by the first bytes: "WAV", "FLAC", "OGG", "MP3", or None."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "WAV"
    if data[:4] == b"fLaC":
        return "FLAC"
    if data[:4] == b"OggS":
        return "OGG"
    if data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0 and data[1] & 0x06):
        return "MP3"  # an ID3 tag or an MPEG audio frame header (sync bits, layer != reserved)
    return None


def _check_header(fmt: str, rate: int, channels: int, frames: int, max_seconds: float) -> float:
    if not MIN_RATE <= rate <= MAX_RATE:
        raise AudioInputError(
            f"The {fmt} file says its sample rate is {rate} Hz; rates from {MIN_RATE} to {MAX_RATE} Hz are accepted."
        )
    if not 1 <= channels <= MAX_CHANNELS:
        raise AudioInputError(f"The {fmt} file has {channels} channels; 1 to {MAX_CHANNELS} are accepted.")
    duration = frames / rate
    if frames <= 0:
        raise AudioInputError(f"The {fmt} file holds no samples. Send a clip of speech.")
    if duration > max_seconds:
        raise AudioInputError(
            f"The clip is {duration:.1f} s long; at most {max_seconds:g} s are accepted (Whisper reads 30 s "
            "windows). Send a shorter clip."
        )
    return duration


def _read_wave(data: bytes, max_seconds: float) -> tuple[np.ndarray, int, AudioRecord] | None:
    """Integer-PCM WAV with the standard library; None when the encoding is not integer PCM (float, A-law ...)."""
    try:
        reader = wave.open(io.BytesIO(data), "rb")
    except wave.Error as err:
        if "unknown format" in str(err):
            return None  # a WAV encoding `wave` does not read: libsndfile may
        raise AudioInputError(f"The WAV file is damaged ({err}). Upload the complete file.") from err
    except (EOFError, struct.error) as err:
        raise AudioInputError("The WAV file is truncated: its header is incomplete. Upload the complete file.") from err
    with reader:
        rate, channels, width, frames = (
            reader.getframerate(),
            reader.getnchannels(),
            reader.getsampwidth(),
            reader.getnframes(),
        )
        if width not in (1, 2, 3, 4):
            raise AudioInputError(f"The WAV file uses {8 * width}-bit samples; 8, 16, 24 and 32-bit PCM are read.")
        duration = _check_header("WAV", rate, channels, frames, max_seconds)
        raw = reader.readframes(frames)
    got = len(raw) // (width * channels)
    if got < frames:
        raise AudioInputError(
            f"The WAV file is truncated: its header promises {frames} samples per channel ({duration:.2f} s) but "
            f"it holds {got}. Upload the complete file."
        )
    if width == 1:
        values = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128) / 128  # 8-bit WAV is unsigned
    elif width == 3:
        bytes3 = np.frombuffer(raw, np.uint8).reshape(-1, 3)
        b0, b1, b2 = (bytes3[:, i].astype(np.int32) for i in range(3))
        ints = b0 | b1 << 8 | b2 << 16
        values = ((ints << 8) >> 8).astype(np.float32) / 2**23  # sign-extend 24 bits
    else:
        dtype = "<i2" if width == 2 else "<i4"
        values = np.frombuffer(raw, dtype).astype(np.float32) / 2 ** (8 * width - 1)
    record = AudioRecord("WAV", f"PCM_{8 * width if width > 1 else 'U8'}", rate, channels, duration, channels > 1,
                         rate != SAMPLE_RATE)
    return values.reshape(-1, channels), rate, record


def _reason(err: Exception) -> str:
    """libsndfile's complaint without the 'Error opening <_io.BytesIO object at 0x...>: ' prefix."""
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    return re.sub(r"^Error opening <[^>]*>: ", "", text)[:120].rstrip(".")


def _read_soundfile(data: bytes, fmt: str, max_seconds: float) -> tuple[np.ndarray, int, AudioRecord]:
    import soundfile

    try:
        handle = soundfile.SoundFile(io.BytesIO(data))
    except Exception as err:  # libsndfile's LibsndfileError mostly; hostile bytes may raise anything
        raise AudioInputError(
            f"The {fmt} file cannot be decoded ({_reason(err)}). It may be truncated, damaged or "
            f"use an unsupported codec: send {ACCEPTED}."
        ) from err
    with handle:
        rate, channels, frames = handle.samplerate, handle.channels, handle.frames
        name, subtype = handle.format, handle.subtype
        _check_header(name, rate, channels, frames, max_seconds)
        try:
            values = handle.read(frames, dtype="float32", always_2d=True)  # (N, channels)
        except Exception as err:
            raise AudioInputError(
                f"The {name} file is truncated or damaged and cannot be decoded. Upload the complete file."
            ) from err
    if values.shape[0] < frames * 0.98 and name != "MP3":  # MP3 headers only estimate their length
        raise AudioInputError(
            f"The {name} file is truncated: its header promises {frames} samples per channel but {values.shape[0]} "
            "could be decoded. Upload the complete file."
        )
    record = AudioRecord(name, subtype, rate, channels, values.shape[0] / rate, channels > 1, rate != SAMPLE_RATE)
    return values, rate, record


def decode_audio(data: bytes, max_seconds: float = CHUNK_SECONDS) -> DecodedAudio:
    """Untrusted audio bytes -> mono float32 samples at 16 kHz and a record; AudioInputError for anything else."""
    if not data:
        raise AudioInputError(f"The upload is empty. Send a {ACCEPTED} file.")
    fmt = sniff(data)
    if fmt is None:
        raise AudioInputError(
            f"The upload is not an audio file this service can read. Send {ACCEPTED} (in a browser, a recording "
            "is converted to WAV before it is sent)."
        )
    read = _read_wave(data, max_seconds) if fmt == "WAV" else None
    values, rate, record = read if read is not None else _read_soundfile(data, fmt, max_seconds)
    if not np.isfinite(values).all():
        raise AudioInputError("The audio holds non-finite samples (NaN or infinity). Send PCM audio.")
    mono = values.mean(axis=1) if values.shape[1] > 1 else values[:, 0]  # (N,)
    if rate != SAMPLE_RATE:
        from scipy.signal import resample_poly

        g = math.gcd(rate, SAMPLE_RATE)
        mono = resample_poly(mono, SAMPLE_RATE // g, rate // g)
    return DecodedAudio(np.ascontiguousarray(np.clip(mono, -1.0, 1.0), dtype=np.float32), record)


# --- log-mel ---


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (librosa, htk=False): linear below 1 kHz, logarithmic above."""
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, math.log(6.4) / 27.0
    mels = hz / f_sp
    return np.where(hz >= min_log_hz, min_log_mel + np.log(np.maximum(hz, 1e-10) / min_log_hz) / logstep, mels)


def _mel_to_hz(mels: np.ndarray) -> np.ndarray:
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, math.log(6.4) / 27.0
    return np.where(mels >= min_log_mel, min_log_hz * np.exp(logstep * (mels - min_log_mel)), f_sp * mels)


@lru_cache(maxsize=4)
def mel_filters(sample_rate: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) float32 Slaney-normalised triangular filters, as librosa.filters.mel computes."""
    fft_freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    mel_points = _mel_to_hz(np.linspace(_hz_to_mel(np.array(0.0)), _hz_to_mel(np.array(sample_rate / 2.0)),
                                        n_mels + 2))
    widths = np.diff(mel_points)
    ramps = mel_points[:, None] - fft_freqs[None, :]  # (n_mels + 2, bins)
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_points[2:] - mel_points[:-2]))[:, None]  # Slaney: each filter has unit area
    return weights.astype(np.float32)


def log_mel(samples: np.ndarray) -> np.ndarray:
    """(N,) float32 samples at 16 kHz -> (80, 3000) float32 log-mel frames of the clip padded (or cut) to 30 s."""
    import torch

    audio = torch.zeros(N_SAMPLES)
    clip = torch.from_numpy(np.asarray(samples[:N_SAMPLES], dtype=np.float32))
    audio[: clip.shape[0]] = clip
    window = torch.hann_window(N_FFT)
    stft = torch.stft(audio, N_FFT, HOP, window=window, return_complex=True)  # (201, 3001)
    power = stft[:, :-1].abs() ** 2  # (201, 3000)
    mel = torch.from_numpy(mel_filters()) @ power  # (80, 3000)
    log_spec = mel.clamp(min=1e-10).log10()
    log_spec = torch.maximum(log_spec, log_spec.max() - 8.0)
    return ((log_spec + 4.0) / 4.0).numpy()
