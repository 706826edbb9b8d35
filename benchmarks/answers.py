"""Deterministic answers of any size, shaped like a model's: prose, lists, now and then code.

Every answer starts with ``Lorem``, the marker a harness looks for to time the first
fragment on the page.
"""

from __future__ import annotations

__all__ = ["MARKER", "answer"]

MARKER = "Lore"

_PARAGRAPH = (
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor "
    "incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud "
    "exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat. Duis aute irure "
    "dolor in reprehenderit in voluptate velit esse cillum dolore eu fugiat nulla pariatur. "
    "Excepteur sint occaecat cupidatat non proident, sunt in culpa qui officia deserunt "
    "mollit anim id est laborum.\n\n"
)
_LIST = (
    "- the **north** region sold the most, by a wide margin\n"
    "- the south and east regions were close to each other\n"
    "- returns were low everywhere, under two percent\n\n"
)
_CODE = (
    "```python\n"
    "totals = sales.groupby('region')['amount'].sum()\n"
    "print(totals.sort_values(ascending=False).head(3))\n"
    "```\n\n"
)
_UNIT = _PARAGRAPH * 4 + _LIST + _PARAGRAPH * 3 + _CODE


def answer(size: int) -> str:
    """``size`` characters of Markdown: about 85% prose, 10% lists, 5% code."""
    return (_UNIT * (size // len(_UNIT) + 1))[:size]
