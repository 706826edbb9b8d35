"""A tool's descriptions from its docstring: the summary the model reads, and one line per
parameter, from Google, NumPy and Sphinx styles through ``docstring_parser`` and from plain
``name: text`` lines.
"""

from __future__ import annotations

import docstring_parser

__all__ = ["describe"]


def describe(doc: str, names: list[str]) -> tuple[str, dict[str, str]]:
    """The docstring's first paragraph, and a description per parameter: Google, NumPy and
    Sphinx styles through ``docstring_parser``, and plain ``name: text`` lines."""
    try:
        parsed = docstring_parser.parse(doc)
    except docstring_parser.ParseError:
        parsed = docstring_parser.parse(doc.split("\n\n", 1)[0])
    summary = parsed.short_description or ""
    if parsed.long_description and not parsed.blank_after_short_description:
        summary = f"{summary} {parsed.long_description.split(chr(10) * 2, 1)[0]}"
    described = {
        p.arg_name.lstrip("*"): " ".join(p.description.split())
        for p in parsed.params
        if p.description and p.arg_name.lstrip("*") in names
    }
    if parsed.long_description:
        for name, text in _plain_lines(parsed.long_description, names).items():
            described.setdefault(name, text)
    return " ".join(summary.split()), described


def _plain_lines(text: str, names: list[str]) -> dict[str, str]:
    """``name: text`` lines, read as the arguments section of a Google docstring would be."""
    found: dict[str, str] = {}
    for paragraph in text.split("\n\n"):
        block = "\n".join("    " + line for line in paragraph.splitlines())
        try:
            parsed = docstring_parser.parse(
                f"Summary.\n\nArgs:\n{block}", docstring_parser.Style.GOOGLE
            )
        except docstring_parser.ParseError:
            continue
        for param in parsed.params:
            if param.arg_name in names and param.description:
                found.setdefault(param.arg_name, " ".join(param.description.split()))
    return found
