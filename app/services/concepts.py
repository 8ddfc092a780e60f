"""Live demonstrations for the "How attention works" page, computed by the same code the models use."""

import random
from typing import Any

from app.services.encoding import DECIMALS
from models.contract import TextModel


def shuffle_order(n: int, seed: int) -> list[int]:
    """A permutation of 0..n-1 that keeps the first and last token ([CLS], [SEP]) in place and moves
    at least one other token whenever there are two or more of them."""
    middle = list(range(1, n - 1))
    rng = random.Random(seed)
    shuffled = middle[:]
    while len(middle) > 1 and shuffled == middle:
        rng.shuffle(shuffled)
    return [0, *shuffled, n - 1]


def permutation_demo(model: TextModel, text: str, use_positions: bool, seed: int) -> dict[str, Any]:
    """Self-attention of a sentence and of its shuffled tokens, per layer averaged over heads, and how far
    the shuffled maps are from the original maps shuffled the same way (0 = permutation-equivariant).
    `model` must be the BERT adapter: the demo feeds it token ids, with or without positions."""
    from models.serve.bert import BertAttentionModel  # torch is loaded by now: the model is

    if not isinstance(model, BertAttentionModel):
        raise TypeError(f"the permutation demo needs models.serve.bert's adapter, not {type(model).__name__}")
    ids, tokens = model.tokenize(text)
    order = shuffle_order(len(ids), seed)  # fewer than two tokens between [CLS] and [SEP]: nothing moves
    original = model.attend_ids(ids, tokens, use_positions).stacks[0].weights.mean(dim=1)  # (L, S, S)
    shuffled_tokens = tuple(tokens[i] for i in order)
    shuffled = model.attend_ids([ids[i] for i in order], shuffled_tokens, use_positions).stacks[0].weights
    shuffled = shuffled.mean(dim=1)  # (L, S, S)
    expected = original[:, order][:, :, order]  # the original maps with rows and columns shuffled
    return {
        "use_positions": use_positions,
        "tokens": list(tokens),
        "shuffled_tokens": list(shuffled_tokens),
        "order": order,
        "original": original.double().numpy().round(DECIMALS).tolist(),
        "shuffled": shuffled.double().numpy().round(DECIMALS).tolist(),
        "max_difference": [float(d) for d in (shuffled - expected).abs().amax(dim=(1, 2))],
        "note": "Type at least two words: with one token there is nothing to shuffle." if len(ids) < 4 else None,
    }


def positional_encoding(length: int, d_model: int) -> list[list[float]]:
    """(length, d_model) sinusoidal table of models.nets.transformer, rounded for the wire."""
    from models.nets.transformer import sinusoidal_encoding

    return sinusoidal_encoding(length, d_model).double().numpy().round(DECIMALS).tolist()


def warmup_schedule(d_model: int, warmup: int, steps: int, points: int = 400) -> dict[str, list[float]]:
    """The learning rate of models.nets.transformer.warmup_lr at `points` evenly spaced steps."""
    from models.nets.transformer import warmup_lr

    xs = sorted({max(1, round(i * steps / (points - 1))) for i in range(points)})
    return {"step": [float(x) for x in xs], "lr": [warmup_lr(x, d_model, warmup) for x in xs]}
