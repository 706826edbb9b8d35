"""The test server as a process: ``python -m support --port 0 [--corpus DIR] [--script FILE]``.

It prints its base URL on stdout and serves until SIGTERM or SIGINT. ``ServerProcess`` starts
it so, with ``tests/`` on ``PYTHONPATH``; ``python tests/server.py`` does the same from a path.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import signal
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from support.handler import Responder
from support.responses import FIXTURES_DIR
from support.server import LLMServer

__all__ = ["main"]


def _load_script(path: Path) -> tuple[list[Any], Responder | None]:
    """A ``.json`` script is a list of response specs (or ``{"responses": [...]}``); a ``.py``
    script may define ``RESPONSES`` (specs or responses) and ``responder(body)``.
    """
    if path.suffix == ".py":
        spec = importlib.util.spec_from_file_location("_luxx_test_script", path)
        if spec is None or spec.loader is None:
            raise SystemExit(f"cannot load script {path}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return list(getattr(module, "RESPONSES", [])), getattr(module, "responder", None)
    payload = json.loads(path.read_text())
    specs = payload.get("responses", []) if isinstance(payload, dict) else payload
    return list(specs), None


def main(argv: Iterable[str] | None = None) -> int:
    """Run as a process: print the base URL on stdout, serve until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(description="The loopback test server, as a process.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--script", type=Path, help="a .json list of response specs, or a .py")
    parser.add_argument(
        "--corpus", type=Path, default=None, help="default: $LUXX_CORPUS or ../shared/corpus"
    )
    parser.add_argument("--fixtures", type=Path, default=FIXTURES_DIR)
    args = parser.parse_args(list(argv) if argv is not None else None)

    server = LLMServer(args.host, args.port, corpus_dir=args.corpus, fixtures_dir=args.fixtures)
    if args.script:
        specs, responder = _load_script(args.script)
        server.enqueue(*specs)
        server.script(responder)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    server.start()
    print(server.base_url, flush=True)
    while not done.wait(0.2):
        pass
    server.stop()
    return 0
