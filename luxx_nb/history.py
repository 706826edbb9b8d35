"""The notebook's own past as text for the model: earlier cells, their results, the last error.

``NotebookHistory`` is a snapshot taken when a run starts (the magic builds it from IPython's
input and output history and ``sys.last_value``; this module never imports IPython). It gives
the text behind ``{In[n]}``, ``{Out[n]}`` and ``{error}`` in a prompt, and behind the built-in
``notebook_history`` tool, which finds it in its ``ToolContext``.

Nothing it gives shows what the variable tools hide (``Redactor``): a line of code that names
a hidden variable or a secret-looking name is replaced by a note, with the result of its cell;
the string values of hidden variables, of secret-looking environment variables and the API key
are replaced by ``[redacted]`` wherever they appear.
"""

from __future__ import annotations

import functools
import io
import os
import re
import tokenize
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from luxx_nb.errors import REDACTED, redact
from luxx_nb.namespace import IPYTHON_NAMES, NamespaceView, is_machinery, looks_secret
from luxx_nb.tools.definition import Tool, ToolContext, make_tool
from luxx_nb.tools.result import cut

__all__ = ["NotebookHistory", "Redactor", "format_error", "notebook_history"]

INPUT_CHARS = 4_000
"""Most characters of one cell's code shown (``{In[n]}``, and each cell of the tool)."""
OUTPUT_CHARS = 2_000
"""Most characters of one result's repr shown (``{Out[n]}``, and each result of the tool)."""
ERROR_CHARS = 4_000
"""Most characters of the last error (its start and its end are kept, the middle is cut)."""
MOST_CELLS = 20
"""Most cells ``notebook_history`` shows in one call."""

HIDDEN_LINE = "# [hidden: this line names a variable the tools do not show]"
HIDDEN_OUTPUT = "[hidden: this result comes from code that names a variable the tools do not show]"
NO_ERROR = "(no error has been raised in this notebook yet)"

_SHORTEST_SECRET = 6  # a hidden string shorter than this is not searched for (it would mangle)
_LONGEST_SECRET = 100_000
_IDENTIFIER = re.compile(r"[^\W\d]\w*")
_IPYTHON_CACHE = re.compile(r"_{1,3}|_i{1,3}|_i?\d+|_ih|_oh|_dh|_exit_code|__\w+__")
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
_INTERNAL = ("/IPython/", "/ipykernel/")


def _ipython_own(name: str) -> bool:
    """IPython's names and caches (``In``, ``_``, ``_i3``, ``_3``...): the history itself."""
    return name in IPYTHON_NAMES or _IPYTHON_CACHE.fullmatch(name) is not None


class Redactor:
    """What the history must not show, read from the namespace when the run starts.

    ``names``: the variables the view hides (IPython's own caches and modules aside); a line of
    code naming one of them, a name in ``deny``, or any secret-looking name is hidden whole.
    ``values``: their string values, secret-looking environment variables and the key, replaced
    wherever they appear. Its repr shows counts, never a value.
    """

    __slots__ = ("_deny", "_ids", "_key", "_names", "_values")

    def __init__(
        self,
        names: Iterable[str] = (),
        values: Iterable[str] = (),
        *,
        deny: Iterable[str] = (),
        ids: Iterable[int] = (),
        key: str | None = None,
    ) -> None:
        self._names = frozenset(names)
        self._deny = frozenset(deny)
        longest_first = sorted({v for v in values if len(v) >= _SHORTEST_SECRET}, key=len)
        self._values = tuple(reversed(longest_first))
        self._ids = frozenset(ids)
        self._key = key

    @classmethod
    def from_namespace(
        cls,
        namespace: Mapping[str, Any],
        view: NamespaceView,
        *,
        deny: Iterable[str] = (),
        key: str | None = None,
        environ: Mapping[str, str] = os.environ,
    ) -> Redactor:
        """The hidden names and values of ``namespace`` as ``view`` (the tools' view) sees it."""
        names, values, ids = [], [], []
        for name in list(namespace):
            if not isinstance(name, str) or _ipython_own(name):
                continue
            try:
                value = namespace[name]
            except KeyError:
                continue
            if name in view or is_machinery(value):
                continue
            names.append(name)
            ids.append(id(value))
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            if isinstance(value, str) and len(value) <= _LONGEST_SECRET:
                values.append(value)
        values += [v for k, v in environ.items() if looks_secret(k) and len(v) >= 8]
        return cls(names, values, deny=deny, ids=ids, key=key)

    def hides(self, name: str) -> bool:
        """Whether a line of code that mentions ``name`` is hidden."""
        return name in self._names or name in self._deny or looks_secret(name)

    def hides_value(self, value: Any) -> bool:
        """Whether ``value`` is the very object a hidden variable holds."""
        return value is not None and not isinstance(value, bool) and id(value) in self._ids

    def text(self, text: str) -> str:
        """``text`` with every hidden value and the key replaced, and no ANSI colours."""
        text = _ANSI.sub("", text)
        for value in self._values:
            if value in text:
                text = text.replace(value, REDACTED)
        return redact(text, self._key)

    def code(self, source: str) -> tuple[str, bool]:
        """``source`` with each statement naming something hidden replaced; and whether any was."""
        lines = source.split("\n")
        hidden = False
        for first, last in _statements(source, len(lines)):
            span = "\n".join(lines[first : last + 1])
            if any(self.hides(m.group()) for m in _IDENTIFIER.finditer(span)):
                hidden = True
                for i in range(first, last + 1):
                    indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
                    lines[i] = indent + HIDDEN_LINE
        return self.text("\n".join(lines)), hidden

    def __repr__(self) -> str:
        return f"<Redactor: {len(self._names)} hidden names, {len(self._values)} hidden values>"


def _statements(source: str, count: int) -> list[tuple[int, int]]:
    """(first, last) line index of each logical line: a call or a string over several lines is
    one. Code Python cannot tokenize (a ``%magic``, a syntax error) is taken line by line."""
    spans, start = [], None
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type in (tokenize.NL, tokenize.COMMENT) and start is None:
                spans.append((token.start[0] - 1, token.end[0] - 1))
            elif token.type in (tokenize.NEWLINE, tokenize.ENDMARKER):
                if start is not None:
                    spans.append((start, token.end[0] - 1))
                start = None
            elif start is None and token.type not in (tokenize.INDENT, tokenize.DEDENT):
                start = token.start[0] - 1
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return [(i, i) for i in range(count)]
    covered = {i for first, last in spans for i in range(first, last + 1)}
    spans += [(i, i) for i in range(count) if i not in covered]
    return [(max(first, 0), min(last, count - 1)) for first, last in spans]


def format_error(
    error: BaseException,
    *,
    label: Callable[[str], str | None] = lambda filename: None,
    redactor: Redactor | None = None,
    limit: int = ERROR_CHARS,
) -> str:
    """The exception as Python prints it, in plain text: IPython's own frames left out, a
    cell's file named as IPython names it (``label``: "Cell In[3]"), hidden code replaced."""
    redactor = redactor or Redactor()
    exc = traceback.TracebackException(type(error), error, error.__traceback__, compact=True)
    seen: set[int] = set()
    pending = [exc]
    while pending:
        item = pending.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        item.stack = _frames(item.stack, label, redactor)
        if hasattr(item, "filename"):  # a SyntaxError: its file and its line of code
            item.filename = label(item.filename or "") or item.filename
            if item.text and redactor.code(item.text)[1]:
                item.text, item.offset = HIDDEN_LINE, None
                if hasattr(item, "end_offset"):
                    item.end_offset = None
        pending += [e for e in (item.__cause__, item.__context__) if e is not None]
        pending += getattr(item, "exceptions", None) or ()
    return _cut_middle(redactor.text("".join(exc.format())).rstrip("\n"), limit)


def _frames(
    stack: traceback.StackSummary, label: Callable[[str], str | None], redactor: Redactor
) -> traceback.StackSummary:
    frames = list(stack)
    while frames and any(part in frames[0].filename.replace("\\", "/") for part in _INTERNAL):
        frames.pop(0)  # IPython's run_code and the machinery above the cell
    kept = []
    for frame in frames:
        line = redactor.code(frame.line)[0] if frame.line else ""
        name = label(frame.filename) or frame.filename
        kept.append(
            traceback.FrameSummary(name, frame.lineno, frame.name, lookup_line=False, line=line)
        )
    return traceback.StackSummary.from_list(kept)


def _cut_middle(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    head = limit // 4
    tail = limit - head
    cut = len(text) - head - tail
    return f"{text[:head]}\n[... {cut:,} of {len(text):,} characters cut ...]\n{text[-tail:]}"


class NotebookHistory:
    """The cells a notebook had run when a run started, read only through redacted text.

    ``inputs[n]`` is cell n's code as typed (IPython's raw input history, ``inputs[0]`` empty),
    ``outputs[n]`` its result; ``error`` the last exception; ``current`` the running cell,
    never shown. ``label`` names a cell's file in a traceback.
    """

    __slots__ = ("_current", "_error", "_inputs", "_label", "_outputs", "_redactor")

    def __init__(
        self,
        inputs: Sequence[str],
        outputs: Mapping[int, Any],
        error: BaseException | None = None,
        *,
        redactor: Redactor | None = None,
        label: Callable[[str], str | None] = lambda filename: None,
        current: int | None = None,
    ) -> None:
        self._inputs = tuple(inputs)
        self._outputs = dict(outputs)
        self._error = error
        self._redactor = redactor or Redactor()
        self._label = label
        self._current = current

    def numbers(self) -> list[int]:
        """The cells with code, oldest first, the running one left out."""
        return [
            n for n, code in enumerate(self._inputs) if n and code.strip() and n != self._current
        ]

    def input(self, n: int, limit: int = INPUT_CHARS) -> str | None:
        """Cell n's code, hidden lines replaced; None if there is no such cell."""
        if n not in self.numbers():
            return None
        return cut(self._redactor.code(self._inputs[n].rstrip("\n"))[0], limit)

    def output(self, n: int, limit: int = OUTPUT_CHARS) -> str | None:
        """Cell n's result as its repr (cut); None if the cell gave no result."""
        if n not in self._outputs or n == self._current:
            return None
        value = self._outputs[n]
        code = self._inputs[n] if 0 <= n < len(self._inputs) else ""
        if self._redactor.hides_value(value) or self._redactor.code(code)[1]:
            return HIDDEN_OUTPUT
        try:
            text = repr(value)
        except Exception as exc:
            text = f"<repr() raised {type(exc).__name__}: {exc}>"
        return cut(self._redactor.text(text), limit)

    def error(self, limit: int = ERROR_CHARS) -> str | None:
        """The last exception raised in the notebook, as text; None if there was none."""
        if self._error is None:
            return None
        try:
            return format_error(
                self._error, label=self._label, redactor=self._redactor, limit=limit
            )
        except Exception as exc:  # a broken exception object must not break the run
            return self._redactor.text(f"{type(self._error).__name__} (not shown: {exc!r})")

    def describe(self, cells: int = 5) -> str:
        """The last ``cells`` cells (code, then result) and the last error, for the model."""
        numbers = self.numbers()[-max(1, min(cells, MOST_CELLS)) :]
        blocks = []
        for n in numbers:
            block = f"In[{n}]:\n{self.input(n)}"
            result = self.output(n)
            if result is not None:
                block += f"\nOut[{n}]:\n{result}"
            blocks.append(block)
        if not blocks:
            blocks.append("No cell has run in this notebook before this one.")
        else:
            blocks.insert(0, f"The last {len(numbers)} cell(s), oldest first:")
        error = self.error()
        blocks.append(f"The last error:\n{error}" if error else NO_ERROR)
        return "\n\n".join(blocks)

    def __repr__(self) -> str:
        return f"<NotebookHistory: {len(self.numbers())} cells>"


def notebook_history(context: ToolContext, cells: int = 5) -> str | dict[str, Any]:
    """Show the notebook's last cells: the code of each (In), its result (Out, cut when long),
    and the last error raised with its traceback. Call it to see what the user ran, or why a
    cell failed.

    Args:
        cells: How many of the last cells to show (1 to 20).
    """
    history = getattr(context, "notebook_history", None)
    if history is None:
        return {
            "success": False,
            "error": "The notebook's history is not available here: only a %%luxx cell in "
            "IPython or Jupyter provides it.",
        }
    return history.describe(cells)


@functools.cache
def history_tool() -> Tool:
    """The ``notebook_history`` tool, offered beside ``list_variables`` and ``get_variable``;
    made on first use (see ``sql.query_tool``)."""
    return make_tool(notebook_history)
