"""Subword pieces -> words, for word-level attention maps.

WordPiece marks a continuation with "##"; SentencePiece marks a word start with "▁", so a piece
without it that begins with a letter or digit continues the previous word. Special tokens are
always words of their own. (static/js/attention_math.js applies the same rule in the browser.)
"""

from models.outputs import AttentionStack

SPECIAL = {"[CLS]", "[SEP]", "[PAD]", "[UNK]", "<s>", "</s>", "<pad>", "<unk>"}


def word_groups(tokens: tuple[str, ...]) -> tuple[list[list[int]], tuple[str, ...]]:
    """Token indices of each word, and each word's label (pieces joined, markers removed)."""
    sentencepiece = any(t.startswith("▁") for t in tokens)

    def continues(token: str, previous: str) -> bool:
        if sentencepiece:
            special = token in SPECIAL or previous in SPECIAL or token.startswith("<unk:")
            return not token.startswith("▁") and not special and token[:1].isalnum()
        return token.startswith("##")

    groups: list[list[int]] = []
    for i, token in enumerate(tokens):
        if i > 0 and continues(token, tokens[i - 1]):
            groups[-1].append(i)
        else:
            groups.append([i])
    labels = tuple("".join(tokens[i].removeprefix("##").removeprefix("▁") for i in g) or "▁" for g in groups)
    return groups, labels


def merge_words(stack: AttentionStack) -> AttentionStack:
    """Word-level maps: weights summed over a key word's pieces, averaged over a query word's pieces,
    so every row still sums to 1."""
    row_groups, row_labels = word_groups(stack.row_tokens)
    col_groups, col_labels = word_groups(stack.col_tokens)
    R, C = stack.weights.shape[2:]
    weights = stack.weights.float()
    rows = weights.new_zeros((len(row_groups), R))  # (R', R): mean over a word's pieces
    for w, group in enumerate(row_groups):
        rows[w, group] = 1.0 / len(group)
    cols = weights.new_zeros((C, len(col_groups)))  # (C, C'): sum over a word's pieces
    for w, group in enumerate(col_groups):
        cols[group, w] = 1.0
    return AttentionStack(stack.kind, rows @ weights @ cols, row_labels, col_labels)  # (L, H, R', C')
