"""`attnviz serve [--host --port] [--ray --replicas N]`: run the web service (one process, or Ray Serve replicas).
`attnviz analyze --model M --corpus FILE`: per-head attention statistics over a corpus, on Ray (app.scale).
`attnviz attend --model M "text" --out maps.npz`: one input's maps to a file, via attnviz.client."""

import argparse
import json
import os
from pathlib import Path
from typing import Any


def parse_hf_models(pairs: list[str], parser: argparse.ArgumentParser) -> dict[str, str]:
    """["name=/path", ...] -> {"name": "/abs/path"}; exits with a usage error on a bad pair or folder."""
    models: dict[str, str] = {}
    for pair in pairs:
        name, sep, path = pair.partition("=")
        if not sep or not name or not path:
            parser.error(f"--hf-model wants NAME=PATH, got {pair!r}")
        folder = Path(path).expanduser().resolve()
        if not (folder / "config.json").is_file():
            parser.error(f"--hf-model {name}: {folder} has no config.json")
        models[name] = str(folder)
    return models


def add_analyze(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    analyze = commands.add_parser("analyze", help="per-head attention statistics over a corpus, on Ray")
    analyze.add_argument("--model", required=True, help="a text model id, e.g. minilm-l6 or transformer-en-es")
    analyze.add_argument(
        "--corpus", required=True, help="a text file, one sentence per line, or a built-in split: bible-test, mix-dev"
    )
    analyze.add_argument("--limit", type=int, default=None, help="only the first N sentences")
    analyze.add_argument("--address", default=None, help="an existing Ray cluster (default: start a local Ray)")
    analyze.add_argument("--workers", type=int, default=2, help="Ray workers, each with one model (default 2)")
    analyze.add_argument("--shard-size", type=int, default=50, help="sentences per shard (default 50)")
    analyze.add_argument("--out", type=Path, default=None, help="output folder (default reports/heads/MODEL-CORPUS)")
    analyze.add_argument("--no-ray", action="store_true", help="run the shards in this process instead of on Ray")


def analyze(args: argparse.Namespace, parser: argparse.ArgumentParser, cross_aer: Any = None) -> None:
    """Run `attnviz analyze`; a bad model, corpus or folder is a usage error, not a traceback."""
    import logging

    from app.core.config import REPO_ROOT
    from app.scale.analyze import AnalysisError, run_analysis
    from app.scale.corpus import CorpusError, load_corpus

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.workers < 1 or (args.limit is not None and args.limit < 1):
        parser.error("--workers and --limit must be at least 1")
    if not args.no_ray:
        require_ray(parser, "attnviz analyze (without --no-ray)")
    try:
        corpus = load_corpus(args.corpus, args.limit)
        out = args.out or REPO_ROOT / "reports" / "heads" / f"{args.model}-{corpus.name}"
        summary = run_analysis(
            args.model, corpus, out, address=args.address, workers=args.workers, shard_size=args.shard_size,
            use_ray=not args.no_ray, cross_aer=cross_aer,
        )  # fmt: skip
    except (AnalysisError, CorpusError) as exc:
        parser.error(str(exc))
    print(f"wrote {summary} and {summary.parent / 'heads.parquet'}")  # noqa: T201 (the command's answer)


def require_ray(parser: argparse.ArgumentParser, what: str) -> None:
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        parser.error(f"{what} needs Ray: pip install -e '.[scale]'")


def serve_on_ray(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    require_ray(parser, "--ray")
    from app.scale.ray_serve import start

    try:
        start(args.host, args.port, args.replicas, address=args.address, ingress=args.ingress)
    except RuntimeError as exc:
        parser.error(str(exc))


def add_attend(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    attend = commands.add_parser("attend", help="the attention maps of one text or photo, to .npz, .csv or .json")
    attend.add_argument("--model", required=True, help="a model id (GET /api/models lists them)")
    attend.add_argument("text", nargs="?", help="the input text (text models)")
    attend.add_argument("--image", type=Path, default=None, help="a photo (image models)")
    attend.add_argument("--out", type=Path, required=True, help="maps.npz, maps.csv or maps.json")
    attend.add_argument("--url", default=None, help="a running server (default: the app, in this process)")


def attend(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """`attnviz attend`: one request through attnviz.client, written in the format the --out suffix names."""
    import sys

    suffix = args.out.suffix.lower()
    if suffix not in (".npz", ".csv", ".json"):
        parser.error(f"--out must end in .npz, .csv or .json, got {args.out.name!r}")
    if (args.text is None) == (args.image is None):
        parser.error("give either a text or --image FILE")
    if args.image is not None and not args.image.is_file():
        parser.error(f"--image {args.image}: no such file")
    from attnviz.client import AttnvizError, Client

    client = Client(args.url) if args.url else Client.in_process()
    try:
        with client:
            result = client.attend_image(args.model, args.image) if args.image else client.attend(args.model, args.text)
    except AttnvizError as exc:
        sys.stderr.write(f"attnviz attend: {exc.status}: {exc.detail}\n")
        raise SystemExit(1) from None
    if suffix == ".npz":
        result.to_npz(args.out)
    elif suffix == ".csv":
        result.to_csv(args.out)
    else:
        result.to_json(args.out)
    sys.stderr.write(f"{len(result.maps)} maps of {result.model} -> {args.out}\n")


def main(argv: list[str] | None = None, cross_aer: Any = None) -> None:
    """The commands. cross_aer: the per-head AER `attnviz analyze` adds on corpora with reference links
    (models.evaluate.reference_aer, handed in by attnviz/cli.py, the installed `attnviz` command)."""
    parser = argparse.ArgumentParser(prog="attnviz", description="Attention maps of real neural models.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the web page and JSON API")
    serve.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"), help="interface (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")), help="port (default 8000)")
    serve.add_argument(
        "--hf-model",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="also serve the Hugging Face model in local folder PATH as NAME (repeatable)",
    )
    serve.add_argument("--ray", action="store_true", help="serve as a Ray Serve deployment (needs the scale extra)")
    serve.add_argument("--replicas", type=int, default=2, help="with --ray: copies of the app (default 2)")
    serve.add_argument("--address", default=None, help="with --ray: an existing Ray cluster (default: start one)")
    serve.add_argument("--ingress", choices=("auto", "haproxy", "proxy"), default="auto",
                       help="with --ray: HTTP in front of the replicas: HAProxy (auto: when installed) or Ray "
                       "Serve's Python proxy")  # fmt: skip
    add_analyze(commands)
    add_attend(commands)
    args = parser.parse_args(argv)
    # Two cores and OpenMP spin-waiting do not mix: idle threads must sleep.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.command == "analyze":
        analyze(args, parser, cross_aer)
        return
    if args.command == "attend":
        attend(args, parser)
        return
    if args.replicas < 1:
        parser.error("--replicas must be at least 1")
    if args.hf_model:
        os.environ["ATTNVIZ_HF_MODELS"] = json.dumps(parse_hf_models(args.hf_model, parser))
    if args.ray:
        serve_on_ray(args, parser)
        return
    import uvicorn

    uvicorn.run("app.main:app", host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
