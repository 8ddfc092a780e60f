"""`attnviz serve [--host --port]`: run the web service."""

import argparse
import json
import os
from pathlib import Path


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


def main(argv: list[str] | None = None) -> None:
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
    args = parser.parse_args(argv)
    if args.hf_model:
        os.environ["ATTNVIZ_HF_MODELS"] = json.dumps(parse_hf_models(args.hf_model, parser))

    # Two cores and OpenMP spin-waiting do not mix: idle threads must sleep.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import uvicorn

    uvicorn.run("app.main:app", host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
