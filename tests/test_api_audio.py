"""POST /api/attention/audio and GET /api/audio-samples through the real app (TestClient), hostile uploads included:
size limit while reading, duration limit from the header, non-audio bytes, truncated files, codecs we cannot read."""

import base64
import io
import struct
import wave
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.services.audio import MAX_MAP_VALUES
from app.services.encoding import decode_values

MODEL = "whisper-tiny-en"
CLIP = Path("/usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0930.wav")
pytestmark = pytest.mark.skipif(not CLIP.is_file(), reason="Debian pocketsphinx-testdata is not installed")


def post(client: TestClient, data: bytes, **fields: str):  # type: ignore[no-untyped-def]
    return client.post("/api/attention/audio", data={"model": MODEL, **fields}, files={"file": ("clip", data)})


def wav(samples: np.ndarray, rate: int = 16000, channels: int = 1, width: int = 2) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes((samples * (2 ** (8 * width - 1) - 1)).astype(f"<i{width}").tobytes())
    return out.getvalue()


def soundfile_bytes(samples: np.ndarray, rate: int, fmt: str, subtype: str | None = None) -> bytes:
    import soundfile

    out = io.BytesIO()
    soundfile.write(out, samples, rate, format=fmt, subtype=subtype)
    return out.getvalue()


def speech_at(rate: int) -> np.ndarray:
    """The test clip as float samples at another rate."""
    from scipy.signal import resample_poly

    from models.serve.audio import decode_audio

    samples = decode_audio(CLIP.read_bytes()).samples
    return resample_poly(samples, rate, 16000).astype(np.float32)


def test_clip_answer_has_transcript_words_and_maps(client: TestClient) -> None:
    r = post(client, CLIP.read_bytes())
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["transcript"] == "He might even have been made amiable himself."
    assert [w["word"].strip() for w in body["words"]][:3] == ["He", "might", "even"]
    frames, rows = body["audio_frames"], len(body["output_tokens"])
    assert {m["kind"] for m in body["maps"]} == {"decoder_self", "cross"} and len(body["maps"]) == 48
    cross = next(m for m in body["maps"] if m["kind"] == "cross" and m["layer"] == 3 and m["head"] == 0)
    assert cross["shape"] == [rows, frames + 1] and cross["col_tokens"][-1] == "padding"
    values = decode_values(cross, tuple(cross["shape"]))
    assert np.allclose(values.sum(1), 1, atol=3e-3)  # float16 on the wire
    assert body["mel"]["shape"] == [80, 2 * frames] and len(body["waveform"]["min"]) == 2 * frames
    assert [3, 0] in body["alignment_heads"]
    word = body["words"][1]
    assert body["output_tokens"][word["tokens"][0]] == " might"


def test_heads_switched_off(client: TestClient) -> None:
    """ablate [] is the unablated answer; every encoder head of layer 0 off gives the transcript, maps and word
    timings of models/serve/whisper.py run with those heads' outputs zeroed."""
    import json

    import torch

    from models.serve.whisper import load_whisper_tiny_en

    plain = post(client, CLIP.read_bytes(), kinds="cross", layers="3", encoding="json").json()
    assert post(client, CLIP.read_bytes(), kinds="cross", layers="3", encoding="json", ablate="[]").json() == plain
    off = [[0, head] for head in range(6)]
    r = post(client, CLIP.read_bytes(), kinds="cross", layers="3", encoding="json", ablate=json.dumps(off))
    assert r.status_code == 200, r.text
    mask = torch.ones(4, 6)
    mask[0] = 0.0
    expected = load_whisper_tiny_en().attend(CLIP.read_bytes(), {"encoder_self": mask})
    answer = r.json()
    assert answer["transcript"] == expected.transcript != plain["transcript"]
    assert [w["word"] for w in answer["words"]] == [w.word for w in expected.words]
    for m in answer["maps"]:
        np.testing.assert_allclose(m["values"], expected.cross[m["layer"], m["head"]].numpy(), atol=1e-6)
    models = {m["id"]: m for m in client.get("/api/models").json()}
    assert "ablate" in models[MODEL]["options"]


def test_encoder_maps_one_at_a_time_as_json(client: TestClient) -> None:
    r = post(client, CLIP.read_bytes(), kinds="encoder_self", layers="2", heads="5", encoding="json")
    assert r.status_code == 200, r.text
    (only,) = r.json()["maps"]
    values = np.array(only["values"])
    assert only["kind"] == "encoder_self" and values.shape == (only["shape"][0], only["shape"][0] + 1)
    assert np.allclose(values.sum(1), 1, atol=1e-5)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kinds": "encoder_self,bogus"}, "kinds"),
        ({"layers": "7"}, "layer 7 does not exist"),
        ({"heads": "0,6"}, "head 6 does not exist"),
        ({"encoding": "u8"}, "encoding"),
        ({"ablate": '[["cross", 4, 0]]'}, "does not exist"),
        ({"ablate": '[["spatial", 0, 0]]'}, "ablate must be a JSON list"),
        ({"ablate": "[[0, 1"}, "ablate must be a JSON list"),
    ],
)
def test_bad_selection_is_422(client: TestClient, fields: dict[str, str], message: str) -> None:
    r = post(client, CLIP.read_bytes(), **fields)
    assert r.status_code == 422 and message in r.json()["detail"]


def test_too_many_values_is_422(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("app.services.audio.MAX_MAP_VALUES", 10_000)
    r = post(client, CLIP.read_bytes(), kinds="encoder_self")
    assert r.status_code == 422 and "at most 10,000" in r.json()["detail"]
    assert MAX_MAP_VALUES >= 2 * 1500 * 1501  # a 30 s clip's encoder maps fit two at a time


def test_a_text_model_does_not_take_audio(client: TestClient) -> None:
    r = client.post("/api/attention/audio", data={"model": "minilm-l6"}, files={"file": ("a.wav", CLIP.read_bytes())})
    assert r.status_code == 422 and "does not take audio" in r.json()["detail"]


def test_oversized_body_is_413_while_reading(client: TestClient) -> None:
    big = wav(np.zeros(6 * 1024 * 1024, np.float32))  # 12 MB of silence, over the 10 MB limit
    r = post(client, big)
    assert r.status_code == 413


def test_duration_limit_is_read_from_the_header(client: TestClient) -> None:
    header = wav(np.zeros(16, np.float32))
    frames = 16000 * 60  # claims 60 s, holds 16 samples: refused before anything is decoded
    sizes = struct.pack("<I", 36 + 2 * frames), struct.pack("<I", 2 * frames)  # RIFF and data chunk sizes
    forged = header[:4] + sizes[0] + header[8:40] + sizes[1] + header[44:]
    r = post(client, forged)
    assert r.status_code == 422 and "60.0 s long; at most 30 s" in r.json()["detail"]
    r = post(client, wav(np.zeros(16000 * 31, np.float32)))
    assert r.status_code == 422 and "31.0 s long" in r.json()["detail"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"hello, this is plain text and not audio at all", "not an audio file"),
        (b"\x1aE\xdf\xa3" + b"\0" * 200, "not an audio file"),  # a WebM/Matroska container
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 100, "not an audio file"),
        (b"fLaC" + b"\0" * 100, "FLAC file cannot be decoded"),
        (b"OggS" + b"\x01" * 100, "OGG file cannot be decoded"),
        (b"ID3" + b"\0" * 300, "MP3 file cannot be decoded"),
    ],
)
def test_non_audio_and_undecodable_bytes_are_422(client: TestClient, data: bytes, message: str) -> None:
    r = post(client, data)
    assert r.status_code == 422 and message in r.json()["detail"], r.text
    assert "BytesIO" not in r.json()["detail"]


def test_truncated_files_are_422(client: TestClient) -> None:
    data = CLIP.read_bytes()
    r = post(client, data[: len(data) // 2])
    assert r.status_code == 422 and "WAV file is truncated" in r.json()["detail"]
    r = post(client, data[:30])
    assert r.status_code == 422 and "truncated" in r.json()["detail"]
    flac = soundfile_bytes(speech_at(16000), 16000, "FLAC")
    r = post(client, flac[: len(flac) // 2])
    assert r.status_code == 422 and "FLAC" in r.json()["detail"] and "truncated" in r.json()["detail"]


def test_unsupported_wav_codec_is_422(client: TestClient) -> None:
    data = bytearray(wav(np.zeros(1600, np.float32)))
    data[20:22] = struct.pack("<H", 0x55)  # WAVE_FORMAT_MPEGLAYER3 inside a RIFF header: a codec libsndfile lacks
    r = post(client, bytes(data))
    assert r.status_code == 422 and "unsupported codec" in r.json()["detail"]


@pytest.mark.parametrize(
    ("fmt", "rate", "subtype"),
    [("FLAC", 16000, None), ("MP3", 44100, None), ("WAV", 48000, "FLOAT"), ("OGG", 22050, "VORBIS")],
)
def test_flac_mp3_float_wav_and_ogg_are_read(client: TestClient, fmt: str, rate: int, subtype: str | None) -> None:
    stereo = np.stack([speech_at(rate), speech_at(rate) * 0.5], axis=1)
    r = post(client, soundfile_bytes(stereo, rate, fmt, subtype))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["audio"]["format"] == fmt and body["audio"]["channels"] == 2 and body["audio"]["mixed_down"]
    assert body["audio"]["resampled"] == (rate != 16000)
    assert "amiable" in body["transcript"]


def test_non_finite_float_samples_are_422(client: TestClient) -> None:
    samples = np.zeros(1600, np.float32)
    samples[10] = np.nan
    r = post(client, soundfile_bytes(samples, 16000, "WAV", "FLOAT"))
    assert r.status_code == 422 and "non-finite" in r.json()["detail"]


def test_8_and_24_bit_wav_are_read(client: TestClient) -> None:
    samples = speech_at(16000)
    for width, data in ((1, None), (3, soundfile_bytes(samples, 16000, "WAV", "PCM_24"))):
        if data is None:
            data = ((samples * 127) + 128).clip(0, 255).astype(np.uint8).tobytes()
            out = io.BytesIO()
            with wave.open(out, "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(1)
                w.setframerate(16000)
                w.writeframes(data)
            data = out.getvalue()
        r = post(client, data)
        assert r.status_code == 200, (width, r.text)
        assert r.json()["audio"]["subtype"] == ("PCM_U8" if width == 1 else "PCM_24")


def test_samples_are_listed_and_served(client: TestClient) -> None:
    r = client.get("/api/audio-samples")
    assert r.status_code == 200
    names = {s["name"]: s for s in r.json()}
    assert names["librivox-0930"]["title"] == "he might even have been made amiable himself"
    r = client.get(names["cards-001"]["url"])
    assert r.status_code == 200 and r.headers["content-type"] == "audio/wav" and r.content[:4] == b"RIFF"
    r = client.get("/api/audio-samples/nope")
    assert r.status_code == 404


def test_openapi_documents_the_route(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    post_op = spec["paths"]["/api/attention/audio"]["post"]
    assert {"404", "413", "422", "503"} <= set(post_op["responses"])
    assert base64  # the f16 maps are base64: decode_values above reads them
