"""Does captioner-sat-cnn name more real photos when its training scenes include crops of real photos? Chosen on dev
photos and validation scenes -> reports/photo_scenes_choice.{json,md}.

The rule, fixed before the candidate was trained: the candidates, in this order, are the served decoder and the same
recipe retrained with photo scenes added (the `captioner-sat-cnn` line of models/train/captioner.py's docstring, same
seed and 12 epochs, on data/scenes-photos: `python -m models.data.gcompris_photos` then `python -m
models.data.photo_scenes --scenes data/scenes --out data/scenes-photos`, the same 6,000 scenes and splits plus 1,215
training scenes cropped from 106 whole real photos of 45 nouns shipped in Debian's gcompris-qt-data, 27 per noun).
Both decode as served (the served config.json with the candidate's weights). A candidate is allowed when its
validation BLEU-4 is at least 52 and its validation pointing at least 0.86 (as in reports/more_scenes_choice.md).
Among the allowed ones the one naming the most dev photos wins, the served decoder on ties: the retrain is adopted
only when it names more dev photos. Test scenes and evaluation photos are not read; no GCompris photo is a dev or
evaluation photo.
Run: python -m models.evaluate.photo_scenes_choice --candidate DIR
(the validation scenes are those of data/scenes, whose features are read)
"""

from __future__ import annotations

from collections.abc import Sequence

from models.evaluate.more_scenes_choice import run_choice


def main(argv: Sequence[str] | None = None) -> None:
    title = "captioner-sat-cnn with crops of real photos among its training scenes"
    run_choice(argv, "photo_scenes_choice", "with photo scenes", title, __doc__ or "")


if __name__ == "__main__":
    main()
