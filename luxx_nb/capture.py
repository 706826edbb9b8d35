"""What a tool prints goes into its own step; ``input()`` in a tool fails at once.

Tools run on their own threads (sync) or as tasks on the loop thread (async), while the cell
that started them waits. In a kernel, ``sys.stdout`` is ipykernel's ``OutStream``, which sends
a write from a thread that has no cell of its own to whichever cell runs at that moment: a
tool that outlives its cell (a hung one, past its time limit) would print into a later cell.
So while any tool is alive, ``sys.stdout`` and ``sys.stderr`` are replaced by a ``_Redirect``
that looks up a context variable set only in the tool's own context: a tool's writes go to
its ``Capture``, everyone else's to the stream that was there before. Keyed by context rather
than thread, it also tells apart async tools sharing the loop thread.

``input()``, ``getpass()`` and reads of ``sys.stdin`` inside a tool would wait for a keyboard
nobody is watching (in a kernel, a prompt in some cell; in a script, the terminal the person
is typing into) until the time limit: they raise ``ToolInputError`` instead.

Not captured: writes to file descriptors 1 and 2 by C code or child processes, streams a
library saved before the tool ran (a logging handler made earlier holds the old stream), and
threads the tool starts itself (a new thread starts with an empty context).
"""

from __future__ import annotations

import builtins
import contextvars
import getpass
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from luxx_nb.errors import ToolInputError

__all__ = ["Capture", "active", "capturing", "current"]

OUTPUT_LIMIT = 20_000
"""Characters of printed output kept per call; the rest is counted, not stored."""

INPUT_MESSAGE = (
    "input() is not available inside a tool: the model is waiting for the tool and nobody is "
    "at the keyboard. Take the value as a parameter of the tool instead."
)

_current: contextvars.ContextVar[Capture | None] = contextvars.ContextVar(
    "luxx_tool_capture", default=None
)


class Capture:
    """The output of one tool call, stdout and stderr interleaved as written, bounded."""

    def __init__(self, limit: int = OUTPUT_LIMIT) -> None:
        self._parts: list[str] = []
        self._kept = 0
        self._dropped = 0
        self._limit = limit
        self._lock = threading.Lock()

    def write(self, text: str) -> None:
        with self._lock:
            room = self._limit - self._kept
            if room > 0:
                self._parts.append(text[:room])
                self._kept += min(room, len(text))
            self._dropped += max(0, len(text) - max(room, 0))

    def text(self) -> str:
        with self._lock:
            text = "".join(self._parts)
            if self._dropped:
                text += f"\n[... {self._dropped:,} more characters of output not kept]"
            return text


def current() -> Capture | None:
    """The capture of the tool running in this context, if any."""
    return _current.get()


class _Redirect:
    """Stands in for ``sys.stdout`` or ``sys.stderr`` while tools are alive."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        capture = _current.get()
        if capture is None:
            return self._stream.write(text)
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        capture.write(text)
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if _current.get() is None:
            self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class _Stdin:
    """Stands in for ``sys.stdin`` while tools are alive: a tool's reads fail at once."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def _check(self) -> None:
        if _current.get() is not None:
            raise ToolInputError(INPUT_MESSAGE)

    def read(self, *args: Any) -> Any:
        self._check()
        return self._stream.read(*args)

    def readline(self, *args: Any) -> Any:
        self._check()
        return self._stream.readline(*args)

    def readlines(self, *args: Any) -> Any:
        self._check()
        return self._stream.readlines(*args)

    def __iter__(self) -> Any:
        self._check()
        return iter(self._stream)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _refuse_input(original: Callable[..., Any]) -> Callable[..., Any]:
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if _current.get() is not None:
            raise ToolInputError(INPUT_MESSAGE)
        return original(*args, **kwargs)

    guarded.__wrapped__ = original  # type: ignore[attr-defined]
    guarded.__doc__ = getattr(original, "__doc__", None)
    return guarded


_lock = threading.Lock()
_alive = 0
_installed: dict[str, tuple[Any, Any]] = {}  # name -> (what we put there, what was there)

_PLACES: dict[str, tuple[Any, str, Callable[[Any], Any]]] = {
    "stdout": (sys, "stdout", _Redirect),
    "stderr": (sys, "stderr", _Redirect),
    "stdin": (sys, "stdin", _Stdin),
    "input": (builtins, "input", _refuse_input),
    "getpass": (getpass, "getpass", _refuse_input),
}


def _install() -> None:
    """Put ours in each place, unless it is there already.

    Checked at every tool start, not only the first: while a hung tool keeps ours alive,
    something else (pytest between tests, ``redirect_stdout`` in a cell) may have replaced it.
    """
    for name, (owner, attribute, wrap) in _PLACES.items():
        was = getattr(owner, attribute, None)
        if was is None or (name in _installed and _installed[name][0] is was):
            continue
        ours = wrap(was)
        setattr(owner, attribute, ours)
        _installed[name] = (ours, was)


def _uninstall() -> None:
    """Put back what was there, unless someone replaced ours meanwhile (then leave theirs)."""
    for name, (ours, was) in _installed.items():
        owner, attribute, _ = _PLACES[name]
        if getattr(owner, attribute, None) is ours:
            setattr(owner, attribute, was)
    _installed.clear()


def _hold() -> None:
    """One more tool is alive: make sure the redirects are in place."""
    global _alive
    with _lock:
        _alive += 1
        _install()


def _release() -> None:
    """A tool has ended (really ended: a timed-out thread counts until it returns)."""
    global _alive
    with _lock:
        _alive -= 1
        if _alive == 0:
            _uninstall()


def active() -> int:
    """How many tool runs hold the redirects now (for tests)."""
    with _lock:
        return _alive


@contextmanager
def capturing(capture: Capture) -> Iterator[Capture]:
    """Capture this context's output into ``capture`` while the block runs: a sync tool's whole
    call on its thread, or an async tool's await on the loop's.

    The only way to hold the redirects: each block counts as one live tool until it ends (a
    thread past its time limit counts until its function returns), and the last one to end
    puts the streams back. Nobody else counts.
    """
    _hold()
    token = _current.set(capture)
    try:
        yield capture
    finally:
        _current.reset(token)
        _release()
