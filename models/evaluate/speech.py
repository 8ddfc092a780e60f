"""Whisper tiny.en measured on real and synthetic speech -> reports/whisper.json:

- word error rate on the transcribed clips of Debian pocketsphinx-testdata (LibriVox readings and card names),
  after a small normaliser (case, punctuation, hyphens, numbers 0-99 as words, "Mr." as "mister");
- word timing error: sentences built from separately synthesised words (Debian espeak-ng, US English), each
  word's audio trimmed of silence and placed at a known offset with pauses between words; the error of a word
  is |Whisper's start - where it was placed|, over the words whose transcript matches the placed word.

Run: python -m models.evaluate.speech (about a minute on one core).
"""

import difflib
import io
import json
import logging
import re
import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.serve.audio import SAMPLE_RATE, decode_audio

log = logging.getLogger(__name__)

REPORT = Path("reports/whisper.json")
UNITS = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen " \
    "seventeen eighteen nineteen".split()
TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
TITLES = {"mr": "mister", "mrs": "missus", "dr": "doctor", "st": "saint"}
TIMING_SENTENCES = (  # everyday words espeak-ng says clearly
    "the quick brown fox jumps over the lazy dog",
    "please call stella and ask her to bring these things",
    "seven green apples fell from the old tree",
    "my father bought a small red boat last summer",
    "we will meet at the station before noon",
)
PAUSE_S = 0.3  # silence between placed words
LEAD_S = 0.5  # silence before the first word


def number_words(n: int) -> str:
    if n < 20:
        return UNITS[n]
    tens, unit = divmod(n, 10)
    return TENS[tens - 2] + ("" if unit == 0 else " " + UNITS[unit])


def normalise(text: str) -> list[str]:
    """Words for scoring: lower case, hyphens as spaces, punctuation dropped, 0-99 spelled out, titles expanded."""
    text = re.sub(r"[-‐–—]", " ", text.lower())
    words = []
    for word in re.sub(r"[^a-z0-9' ]", " ", text).split():
        word = word.strip("'")
        if word.isdigit() and int(word) < 100:
            words += number_words(int(word)).split()
        elif word:
            words.append(TITLES.get(word, word))
    return words


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    """Word-level Levenshtein distance (substitutions, insertions, deletions)."""
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


def wav_bytes(samples: np.ndarray, rate: int = SAMPLE_RATE) -> bytes:
    """float samples in [-1, 1] -> a 16-bit mono WAV file."""
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return out.getvalue()


def synthesise_word(word: str, folder: Path) -> np.ndarray:
    """One word from espeak-ng at 16 kHz, trimmed to where its level first and last passes 2% of its peak."""
    path = folder / "w.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(path), word], check=True, capture_output=True)
    samples = decode_audio(path.read_bytes()).samples
    loud = np.flatnonzero(np.abs(samples) > 0.02 * np.abs(samples).max())
    return samples[loud[0] : loud[-1] + 1]


@dataclass(frozen=True)
class PlacedClip:
    """A sentence of separately synthesised words: the 16 kHz samples and each word's start in seconds."""

    words: tuple[str, ...]
    starts: tuple[float, ...]
    samples: np.ndarray


def placed_clip(sentence: str, folder: Path) -> PlacedClip:
    pieces, starts, cursor = [np.zeros(int(LEAD_S * SAMPLE_RATE), np.float32)], [], LEAD_S
    for word in sentence.split():
        audio = synthesise_word(word, folder)
        starts.append(cursor)
        pause = np.zeros(int(PAUSE_S * SAMPLE_RATE), np.float32)
        pieces += [audio, pause]
        cursor += (len(audio) + len(pause)) / SAMPLE_RATE
    return PlacedClip(tuple(sentence.split()), tuple(starts), np.concatenate(pieces))


def timing_errors(model: object, sentences: tuple[str, ...] = TIMING_SENTENCES) -> list[dict[str, object]]:
    """Per placed word that Whisper transcribed (matched by difflib over normalised words): placed and heard
    start in seconds. Needs espeak-ng on PATH."""
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for sentence in sentences:
            clip = placed_clip(sentence, Path(tmp))
            out = model.attend(wav_bytes(clip.samples))  # type: ignore[attr-defined]
            heard = [(normalise(w.word), w.start) for w in out.words]
            flat = [(word, start) for words, start in heard for word in words[:1]]
            matcher = difflib.SequenceMatcher(a=list(clip.words), b=[w for w, _ in flat], autojunk=False)
            for block in matcher.get_matching_blocks():
                for k in range(block.size):
                    i, j = block.a + k, block.b + k
                    rows.append({"sentence": sentence, "word": clip.words[i], "placed": round(clip.starts[i], 3),
                                 "heard": flat[j][1], "error": round(abs(flat[j][1] - clip.starts[i]), 3)})
            missed = len(clip.words) - sum(b.size for b in matcher.get_matching_blocks())
            log.info("%s -> %s (%d words unmatched)", sentence, out.transcript, missed)
    return rows


def pocketsphinx_wer(model: object, clips: dict[str, tuple[Path, str]]) -> dict[str, object]:
    """Word error rate over clips (name -> (wav, reference transcript))."""
    errors = words = 0
    per_clip = []
    for name, (path, reference) in clips.items():
        out = model.attend(path.read_bytes())  # type: ignore[attr-defined]
        ref, hyp = normalise(reference), normalise(out.transcript)
        distance = edit_distance(ref, hyp)
        errors, words = errors + distance, words + len(ref)
        per_clip.append({"clip": name, "reference": reference, "transcript": out.transcript, "errors": distance,
                         "words": len(ref)})
    return {"clips": len(clips), "words": words, "errors": errors, "wer": errors / max(words, 1),
            "per_clip": per_clip}


def main() -> None:
    import torch

    from app.api.routes.audio import sample_clips
    from models.serve.whisper import load_whisper_tiny_en

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(1)
    model = load_whisper_tiny_en()
    clips = {name: (clip.path, clip.transcript) for name, clip in sample_clips().items()}
    report: dict[str, object] = {"model": "whisper-tiny-en", "wer": pocketsphinx_wer(model, clips)}
    if shutil.which("espeak-ng"):
        rows = timing_errors(model)
        errors = np.array([float(r["error"]) for r in rows])  # type: ignore[arg-type]
        placed = sum(len(s.split()) for s in TIMING_SENTENCES)
        report["timing"] = {"placed_words": placed, "matched_words": len(rows),
                            "mean_abs_error_s": round(float(errors.mean()), 3),
                            "max_abs_error_s": round(float(errors.max()), 3),
                            "within_0_2_s": int((errors <= 0.2).sum()), "words": rows}
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(json.dumps(report, indent=1))
    wer = report["wer"]
    log.info("WER %.1f%% over %d clips; timing: %s", 100 * wer["wer"], wer["clips"],  # type: ignore[index]
             {k: v for k, v in report.get("timing", {}).items() if k != "words"})  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
