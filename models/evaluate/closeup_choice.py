"""Does captioner-sat-cnn name more real photos when its training scenes include close-ups? Chosen on dev photos and
validation scenes -> reports/closeup_choice.{json,md}.

The rule, fixed before the candidate was trained: the candidates, in this order, are the served decoder and the same
recipe retrained with close-up scenes added (the `captioner-sat-cnn` line of models/train/captioner.py's docstring,
same seed and 12 epochs, on data/scenes-closeup: `python -m models.data.closeups --scenes data/scenes --out
data/scenes-closeup --n 3000`, the same 6,000 scenes and splits plus 3,000 close-up training scenes, one object
filling most of the frame and cut by its edges, as in most whole photos). Both decode as served (the served
config.json with the candidate's weights). A candidate is allowed when its validation BLEU-4 is at least 52 and its
validation pointing at least 0.86 (as in reports/more_scenes_choice.md). Among the allowed ones the one naming the
most dev photos wins, the served decoder on ties: the retrain is adopted only when it names more dev photos. Test
scenes and evaluation photos are not read.
Run: python -m models.evaluate.closeup_choice --candidate DIR --scenes data/scenes-closeup
(the validation scenes are the same in both folders; --scenes names the one whose features are extracted)
"""

from __future__ import annotations

from collections.abc import Sequence

from models.evaluate.more_scenes_choice import run_choice


def main(argv: Sequence[str] | None = None) -> None:
    title = "captioner-sat-cnn with close-up training scenes"
    run_choice(argv, "closeup_choice", "with close-ups", title, __doc__ or "")


if __name__ == "__main__":
    main()
