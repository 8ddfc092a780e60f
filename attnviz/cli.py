"""The installed `attnviz` command: app.cli's commands, with what only the evaluation layer can give handed in.

app/ sits below models/evaluate/ in the layer order (/work/shared/STYLE.md), so `attnviz analyze` (app.scale)
cannot import the per-head AER of models.evaluate.reference_aer; this entry point, above both, passes it in.
"""

from app import cli


def main(argv: list[str] | None = None) -> None:
    from models.evaluate.reference_aer import reference_aer

    cli.main(argv, cross_aer=reference_aer)


if __name__ == "__main__":
    main()
