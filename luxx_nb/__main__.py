"""``python -m luxx_nb "prompt"``: one streamed answer in the terminal (local model by default)."""

from __future__ import annotations

import argparse
import sys

from .chat import Chat
from .render.text import TextRenderer

DEFAULT_PROMPT = "In two sentences, what is a Jupyter notebook?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m luxx_nb", description=__doc__)
    parser.add_argument("prompt", nargs="?", default=DEFAULT_PROMPT)
    parser.add_argument("-m", "--model", help="model name; 'local' (default without a key)")
    parser.add_argument("--base-url", help="OpenAI-compatible endpoint")
    parser.add_argument("--temperature", type=float, default=None)
    args = parser.parse_args(argv)
    chat = Chat(model=args.model, base_url=args.base_url, temperature=args.temperature)
    chat.add_view(_Terminal())
    reply = chat.send(args.prompt)
    return 1 if reply.error else 0


class _Terminal:
    """Shows each run as text on stdout."""

    def open_run(self, *, model: str, local: bool = False) -> TextRenderer:
        return TextRenderer(sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
