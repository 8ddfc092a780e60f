"""The rule that picks a captioner's served decoding (models/evaluate/decoding_choice.py)."""

from models.evaluate.decoding_choice import choose


def row(named: int, bleu: float, pointing: float) -> dict[str, float]:
    return {"dev_named": named, "val_bleu4": bleu, "val_pointing": pointing}


def test_the_smallest_beam_naming_most_dev_photos_without_losing_on_validation() -> None:
    rows = {1: row(12, 52.0, 0.85), 3: row(13, 53.0, 0.86), 5: row(13, 53.5, 0.87)}
    assert choose(rows) == 3


def test_a_beam_that_lowers_validation_bleu_or_pointing_is_not_allowed() -> None:
    assert choose({1: row(12, 52.0, 0.85), 3: row(14, 51.9, 0.90), 5: row(13, 52.0, 0.85)}) == 5
    assert choose({1: row(12, 52.0, 0.85), 3: row(14, 53.0, 0.84)}) == 1


def test_greedy_unless_a_wider_beam_names_more_dev_photos() -> None:
    assert choose({1: row(12, 52.0, 0.85), 3: row(12, 55.0, 0.90)}) == 1
    assert choose({1: row(12, 52.0, 0.85), 3: row(11, 55.0, 0.90)}) == 1


def test_the_catalog_says_how_each_captioner_is_decoded() -> None:
    """The model picker's description of a captioner served with beam search names the beam its config sets."""
    import json

    from models.catalog import CATALOG
    from models.serve.captioner import WEIGHTS_DIR

    for spec in CATALOG:
        config_path = WEIGHTS_DIR / spec.id / "config.json"
        if spec.task != "captioning" or not config_path.exists():
            continue
        beam = json.loads(config_path.read_text()).get("beam", 1)
        assert (f"beam search of width {beam}" in spec.description) == (beam > 1), spec.id
