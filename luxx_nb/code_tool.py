"""``run_python``: code the model writes, run in the notebook only with a person's consent.

Off unless asked for (``allow_code``: ``%%luxx --allow-code``, the ``LuxxMagics.allow_code``
trait, ``Chat(allow_code=True)``), and each call asks first (Approve / Deny, ``approval.py``)
unless ``approve_code=False`` says otherwise. Approved code runs as a cell would: in the
notebook's own namespace (it may create and change variables), on the thread that runs the
cell (``runner.on_caller``: matplotlib, GUI toolkits and ``signal`` expect the main thread).
What it printed, its last expression's value and what it displayed go into its step: figures
as the kernel's own PNG (checked by ``images.py``), other rich output (a DataFrame's table) as
HTML the views sanitize. The model gets text: the output, the value's repr (cut), a note of
each thing shown, or the error with its traceback.

A time limit and Stop end the code the way the kernel's interrupt does: ``KeyboardInterrupt``
raised in the running thread (``SIGINT`` sent to it, which also wakes a blocking ``sleep``;
where another handler holds ``SIGINT``, an asynchronous exception, which waits for the next
Python instruction). A kernel interrupt is the person's own: it ends the whole run.
"""

from __future__ import annotations

import ast
import asyncio
import base64
import contextlib
import ctypes
import io
import itertools
import linecache
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from html import escape
from typing import Any

from luxx_nb import runner
from luxx_nb.capture import Capture, capturing
from luxx_nb.events import Image
from luxx_nb.images import checked, model_note
from luxx_nb.tools.definition import Tool, make_tool
from luxx_nb.tools.result import ToolOutput, cut

__all__ = ["CODE_TOOL", "code_tool", "with_code_tool"]

CODE_TOOL = "run_python"
_VALUE_CHARS = 2_000
_SHOWN_HTML = 200_000
"""Characters of one rich output shown in the step; longer shows as its text."""
_ENDING_GRACE = 5.0
"""Seconds the code is given to stop after the interrupt, before the run goes on without it."""
_serial = itertools.count(1)


class _Ended(KeyboardInterrupt):
    """Raised in the code's thread where ``SIGINT`` cannot be used (an asynchronous exception)."""


class _Job:
    """One approved piece of code: run on the caller's thread, ended from the loop's."""

    def __init__(self, code: str, namespace: MutableMapping[str, Any]) -> None:
        self.code = code
        self.namespace = namespace
        self.picked = False  # ``run`` has begun (on the caller's thread)
        self.done = threading.Event()
        self._ending = False
        self._lock = threading.Lock()
        self._thread: int | None = None

    def run(self) -> ToolOutput:
        """On the thread that waits for the run: the code, captured."""
        capture = Capture()
        try:
            with self._lock:
                self.picked = True
                if self._ending:
                    return _result("", "", (), (), None, ended=True)
                self._thread = threading.get_ident()
            try:
                with capturing(capture):
                    return _execute(self.code, self.namespace, capture)
            finally:
                with self._lock:
                    self._thread = None
        except KeyboardInterrupt:
            if not self._ending:
                raise  # the person's interrupt: the whole run ends, as a cell's would
            return _result("", capture.text(), (), (), None, ended=True)
        finally:
            self.done.set()
            if self._ending:
                _absorb_late_interrupt()

    def end(self) -> bool:
        """Interrupt the code if it runs, keep it from starting if not (from another thread).
        True if it had begun: then wait for ``done``."""
        with self._lock:
            self._ending = True
            thread = self._thread
            if thread is not None:
                main = thread == threading.main_thread().ident
                if main and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
                    signal.pthread_kill(thread, signal.SIGINT)  # also wakes a blocking call
                else:  # a handler of its own, or a worker thread (signals go to the main one)
                    ctypes.pythonapi.PyThreadState_SetAsyncExc(
                        ctypes.c_ulong(thread), ctypes.py_object(_Ended)
                    )
            return self.picked


def _absorb_late_interrupt() -> None:
    """An interrupt sent as the code returned may land just after: let it land here."""
    with contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait(0.05)


def _execute(code: str, namespace: MutableMapping[str, Any], capture: Capture) -> ToolOutput:
    filename = f"<run_python {next(_serial)}>"
    try:
        tree = ast.parse(code, filename, "exec")
    except SyntaxError as exc:
        message = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        return _result("", "", (), (), f"{message}\n(the code did not run)")
    linecache.cache[filename] = (len(code), None, code.splitlines(keepends=True), filename)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    if not isinstance(namespace, dict):
        return _result("", "", (), (), "run_python needs the notebook's own namespace (a dict)")
    shown = _Shown()
    value: Any = None
    error: str | None = None
    with shown.capturing():
        try:
            exec(compile(tree, filename, "exec"), namespace)
            if last is not None:
                value = eval(compile(ast.Expression(last.value), filename, "eval"), namespace)
        except Exception as exc:
            error = _traceback(exc, filename)
        shown.figures()
    value_text = ""
    if value is not None:
        value_text = shown.value(value)
    return _result(value_text, capture.text(), shown.images, shown.html, error, notes=shown.notes)


def _traceback(exc: BaseException, filename: str) -> str:
    """The error as a cell shows it: only the frames from the code on."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != filename:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb)).rstrip()


class _Shown:
    """What the code displays: ``display()`` calls, new matplotlib figures, the last value."""

    def __init__(self) -> None:
        self.images: list[Image] = []
        self.html: list[str] = []
        self.notes: list[str] = []
        self._before: set[int] = set()  # figures open before the code ran
        self._drawn: list[Any] = []  # the figures shown

    @contextlib.contextmanager
    def capturing(self) -> Iterator[None]:
        """While the code runs: its ``display()`` calls kept here, not sent to the cell."""
        plt = _pyplot()
        self._before = set(plt.get_fignums()) if plt is not None else set()
        shell = _shell()
        if shell is None:
            yield
            return
        from IPython.utils.capture import capture_output

        with capture_output(stdout=False, stderr=False, display=True) as captured:
            yield
        for output in captured.outputs:
            self.add(output.data)

    def add(self, data: dict[str, Any]) -> None:
        """One rich output (a mime bundle): an image, HTML, or its text."""
        plain = str(data.get("text/plain", ""))
        for mime in ("image/png", "image/jpeg"):
            if isinstance(data.get(mime), str):
                image = checked(data[mime], mime)
                if isinstance(image, Image):
                    self.images.append(image)
                    self.notes.append(model_note(image))
                else:
                    self.notes.append(f"[{image}]")
                return
        html = data.get("text/html")
        if isinstance(html, str) and len(html) <= _SHOWN_HTML:
            self.html.append(html)
            self.notes.append(f"[Shown to the person as a table or rich output: {cut(plain, 500)}]")
        elif plain:
            self.html.append(f"<pre>{escape(plain)}</pre>")
            self.notes.append(f"[Shown to the person: {cut(plain, 500)}]")

    def figures(self) -> None:
        """Every figure the code made (as PNG), closed so the cell does not show it again."""
        plt = _pyplot()
        if plt is None:
            return
        for number in plt.get_fignums():
            figure = plt.figure(number)
            if number in self._before and not figure.stale:
                continue
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png", bbox_inches="tight")
            self.add({"image/png": base64.b64encode(buffer.getvalue()).decode("ascii")})
            self._drawn.append(figure)
            if number not in self._before:
                plt.close(figure)

    def value(self, value: Any) -> str:
        """The last expression's value: shown as a cell would show it, its repr for the model."""
        shell = _shell()
        if shell is not None and not any(value is figure for figure in self._drawn):
            data, _ = shell.display_formatter.format(value)
            if set(data) - {"text/plain"}:
                self.add(data)
        try:
            text = repr(value)
        except Exception as exc:
            text = f"<repr() raised {type(exc).__name__}: {exc}>"
        return cut(text, _VALUE_CHARS)


def _pyplot() -> Any:
    """matplotlib's pyplot if the notebook already uses it (never imported here)."""
    return sys.modules.get("matplotlib.pyplot")


def _shell() -> Any:
    if "IPython" not in sys.modules:
        return None
    from IPython import get_ipython

    return get_ipython()


def _result(
    value: str,
    printed: str,
    images: Sequence[Image],
    html: Sequence[str],
    error: str | None,
    *,
    notes: Sequence[str] = (),
    ended: bool = False,
) -> ToolOutput:
    """What the model reads and the step shows."""
    parts = []
    if printed:
        parts.append(f"Output:\n{printed}")
    parts += list(notes)
    if value:
        parts.append(f"Value: {value}")
    success = error is None and not ended
    if ended:
        parts.append("The code was interrupted (its time limit, or the person's Stop).")
    elif error is not None:
        parts.append(f"Error:\n{error}")
    content = "\n".join(parts) or "The code ran; it printed nothing and its value is None."
    return ToolOutput(
        content=content,
        success=success,
        detail=error,
        output=printed,
        images=tuple(images),
        html=tuple(html),
    )


def code_tool(
    namespace: Callable[[], MutableMapping[str, Any] | None], *, approve: bool = True
) -> Tool:
    """``run_python`` over the namespace ``namespace()`` gives when a call runs."""

    async def run_python(code: str) -> ToolOutput:
        """Run Python code in the person's notebook, as a new cell would: it sees and may
        change the notebook's variables, and the person sees everything it prints, displays
        (plots, tables) and returns. Each call is shown to the person, who may decline it.
        Prefer the read-only tools to look at data; use this to compute, plot or change.

        code: the Python source to run; the value of its last line is shown, as in a cell.
        """
        target = namespace()
        if target is None:
            return _result("", "", (), (), "There is no notebook namespace to run code in.")
        job = _Job(code, target)
        work = asyncio.ensure_future(runner.on_caller(job.run))
        try:
            return await asyncio.shield(work)
        except asyncio.CancelledError:
            # The time limit (``invoke``'s ``wait_for``) or Stop: interrupt the code and wait
            # for it to return, so nothing of it runs on after the call has ended.
            if job.end():
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(None, job.done.wait, _ENDING_GRACE)
            work.cancel()
            raise

    return make_tool(run_python, name=CODE_TOOL, approve=approve)


def with_code_tool(
    offered: list[Tool], namespace: Mapping[str, Any], *, approve: bool = True
) -> list[Tool]:
    """``offered`` and ``run_python`` over ``namespace``, unless a tool of that name is there."""
    if any(t.name == CODE_TOOL for t in offered):
        return offered
    return [*offered, code_tool(lambda: namespace, approve=approve)]  # type: ignore[arg-type,return-value]
