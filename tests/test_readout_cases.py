"""One subword-to-word rule and one rollout, in Python and in the browser, checked on the same cases.

models/readouts.py (word_groups, merge_words, attention_rollout) and static/js/lib/math.js
(attnMath.wordGroups, mergeWords, rollout) must give the answers in tests/data/readout_cases.json:
tokenisations (WordPiece, SentencePiece, punctuation, ¿ ¡, digits, special tokens, a lone ▁),
word-level merges of small maps, and rollouts of small (L, H, N, N) stacks.

The JS rollout does not renormalise the rows of 0.5 A + 0.5 I, Python does; with row-stochastic
inputs (checked below) both are the same matrix. Python's merge_words computes in float32, so its
merges are compared with atol 1e-6; everything else with atol 1e-9.
"""

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from playwright.sync_api import Page

from models.contract import AttentionStack
from models.readouts import attention_rollout, merge_words, word_groups

CASES: dict[str, Any] = json.loads((Path(__file__).parent / "data" / "readout_cases.json").read_text(encoding="utf-8"))
TOKENISATIONS = CASES["tokenisations"]
MERGES = CASES["merges"]
ROLLOUTS = CASES["rollouts"]
ATOL = 1e-9
ATOL_FLOAT32 = 1e-6  # merge_words works in float32


def ids(cases: list[dict[str, Any]]) -> list[str]:
    return [c["name"] for c in cases]


def test_rollout_inputs_are_row_stochastic() -> None:
    """The precondition under which the JS rollout (no renormalisation) equals Python's."""
    for case in ROLLOUTS:
        attentions = np.array(case["attentions"])  # (L, H, N, N)
        np.testing.assert_allclose(attentions.sum(-1), 1, atol=1e-12, err_msg=case["name"])
        assert (attentions >= 0).all(), case["name"]


# --- Python: models/readouts.py ----------------------------------------------------------------


@pytest.mark.parametrize("case", TOKENISATIONS, ids=ids(TOKENISATIONS))
def test_word_groups(case: dict[str, Any]) -> None:
    groups, labels = word_groups(tuple(case["tokens"]))
    assert groups == case["groups"]
    assert list(labels) == case["labels"]


@pytest.mark.parametrize("case", MERGES, ids=ids(MERGES))
def test_merge_words(case: dict[str, Any]) -> None:
    weights = torch.tensor(case["values"], dtype=torch.float64)[None, None]  # (1, 1, R, C)
    merged = merge_words(AttentionStack("cross", weights, tuple(case["row_tokens"]), tuple(case["col_tokens"])))
    assert list(merged.row_tokens) == case["row_labels"]
    assert list(merged.col_tokens) == case["col_labels"]
    np.testing.assert_allclose(merged.weights[0, 0].double().numpy(), case["expected"], rtol=0, atol=ATOL_FLOAT32)


@pytest.mark.parametrize("case", ROLLOUTS, ids=ids(ROLLOUTS))
def test_attention_rollout(case: dict[str, Any]) -> None:
    rollout = attention_rollout(torch.tensor(case["attentions"], dtype=torch.float64))  # (L, N, N)
    np.testing.assert_allclose(rollout.numpy(), case["expected"], rtol=0, atol=ATOL)


# --- the browser: static/js/lib/math.js in headless Chromium ----------------------------------

RUN_IN_BROWSER = """async ({tokenisations, merges, rollouts}) => {
  const attnMath = await import("/static/js/lib/math.js");
  const plain = (rows) => rows.map((r) => Array.from(r));
  return {
    groups: tokenisations.map((c) => attnMath.wordGroups(c.tokens)),
    merges: merges.map((c) => {
      const m = attnMath.mergeWords(c.values, c.row_tokens, c.col_tokens);
      return { ...m, values: plain(m.values) };
    }),
    rollouts: rollouts.map((c) => {
      const mapsByLayer = c.attentions.map((heads) =>
        heads.map((values) => ({ values, shape: [values.length, values[0].length] })));
      return mapsByLayer.map((_, layer) => plain(attnMath.rollout(mapsByLayer, layer)));
    }),
  };
}"""


def close(actual: Any, expected: Any, atol: float) -> bool:
    a, e = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    return a.shape == e.shape and bool(np.allclose(a, e, rtol=0, atol=atol))


@pytest.mark.browser
def test_browser_matches_the_cases(live_server: str, page: Page) -> None:
    page.goto(live_server + "/")  # same origin, so the module can be imported
    js = page.evaluate(RUN_IN_BROWSER, {"tokenisations": TOKENISATIONS, "merges": MERGES, "rollouts": ROLLOUTS})

    wrong = []
    for case, got in zip(TOKENISATIONS, js["groups"], strict=True):
        if got != {"groups": case["groups"], "labels": case["labels"]}:
            wrong.append(f"wordGroups {case['name']!r}: {got}")
    for case, got in zip(MERGES, js["merges"], strict=True):
        labels = (got["rowTokens"], got["colTokens"]) == (case["row_labels"], case["col_labels"])
        if not labels or not close(got["values"], case["expected"], ATOL):
            wrong.append(f"mergeWords {case['name']!r}: {got}")
    for case, got in zip(ROLLOUTS, js["rollouts"], strict=True):
        if not close(got, case["expected"], ATOL):
            wrong.append(f"rollout {case['name']!r}: {got}")
    assert wrong == [], "static/js/lib/math.js disagrees with readout_cases.json:\n" + "\n".join(wrong)
