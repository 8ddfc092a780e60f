"""`attnviz serve [--host --port]`: run the web service."""

import argparse
import os


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="attnviz", description="Attention maps of real neural models.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the web page and JSON API")
    serve.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"), help="interface (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")), help="port (default 8000)")
    args = parser.parse_args(argv)

    # Two cores and OpenMP spin-waiting do not mix: idle threads must sleep.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import uvicorn

    uvicorn.run("app.main:app", host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
