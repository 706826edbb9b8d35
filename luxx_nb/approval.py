"""A run's controls: Stop, and the approval of tools that act (``@tool(approve=True)``).

Pure decision logic, no widgets and no kernel: an ``ApprovalRequest`` (one call's name and
arguments) gets a ``Decision`` (approved or declined, by whom, why) from a ``Gate``. The run's
``RunControls`` is the one object a run's views and its caller share: ``stop()`` (thread-safe,
from a button's click or from code) and ``decide(request)``, which asks the first view that
can take clicks (``offer``), else the terminal on stdin, else declines because nobody can
answer. A view decides a request from any thread with ``RunControls.settle``; the decision
lands on the run's loop. Nothing runs before a decision, and a run that ends or is stopped
while a call waits leaves that call declined.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from luxx_nb.render.formatting import call_title
from luxx_nb.runner import on_caller

__all__ = [
    "DECLINED_MESSAGE",
    "ApprovalRequest",
    "Approver",
    "Decision",
    "Gate",
    "RunControls",
    "current_controls",
    "no_front_end",
    "terminal_gate",
]

DECLINED_MESSAGE = "The person declined this call."
NO_FRONT_END = (
    "Declined: nobody can approve this call here (no front end sends clicks to this kernel "
    "while a cell runs: nbclient, papermill, or a front end without kernel subshells)."
)
STOPPED = "Declined: the run ended before anyone decided."


@dataclass(frozen=True)
class ApprovalRequest:
    """One call that waits for a person: its id, the tool's name and the JSON arguments."""

    call_id: str
    name: str
    arguments: str

    @property
    def title(self) -> str:
        """``name(a=1)``, as a person would write the call (plain text: escape before markup)."""
        return call_title(self.name, self.arguments, limit=200)


@dataclass(frozen=True)
class Decision:
    """Approved or not; ``by`` says who decided (``the person``, ``the terminal``, ``luxx``),
    ``reason`` why luxx declined on its own ("" for a person's decision)."""

    approved: bool
    by: str = "the person"
    reason: str = ""

    @property
    def label(self) -> str:
        """What the step shows: ``approved by the person``, ``declined: <why>``."""
        if self.approved:
            return f"approved by {self.by}"
        return self.reason or f"declined by {self.by}"

    @property
    def message(self) -> str:
        """The failure the model gets for a declined call."""
        return DECLINED_MESSAGE if not self.reason else f"{DECLINED_MESSAGE} {self.reason}"


class Gate(Protocol):
    """Whatever decides a request: a view's buttons, the terminal, a policy."""

    async def __call__(self, request: ApprovalRequest) -> Decision: ...


class Approver(Protocol):
    """A view that shows a request with Approve and Deny and calls ``controls.settle``."""

    def ask(self, request: ApprovalRequest, controls: RunControls) -> None: ...

    def decided(self, request: ApprovalRequest, decision: Decision) -> None: ...


def no_front_end(request: ApprovalRequest) -> Decision:
    """Nobody can click: declined, with the reason in the step and the model's result."""
    return Decision(False, "luxx", NO_FRONT_END)


def terminal_gate(
    read: Callable[[str], str] = input,
) -> Callable[[ApprovalRequest], Decision]:
    """Ask on stdin ``Run name(args)? [y/N]``; only ``y`` or ``yes`` approves."""

    def ask(request: ApprovalRequest) -> Decision:
        try:
            answer = read(f"Run {request.title}? [y/N] ")
        except (EOFError, OSError):
            return Decision(False, "luxx", "Declined: stdin closed before an answer.")
        approved = answer.strip().lower() in ("y", "yes")
        return Decision(approved, "the terminal")

    return ask


class RunControls:
    """One run's Stop and approvals, shared by the run, its views and its caller.

    ``stop`` and ``settle`` may be called from any thread (a widget's click arrives on a kernel
    subshell's thread); the run's own work stays on its loop.
    """

    def __init__(
        self,
        *,
        fallback: Callable[[ApprovalRequest], Decision] | None = None,
        on_stop: Callable[[], None] | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._fallback = fallback or no_front_end
        self._on_stop = on_stop
        self._approvers: list[Approver] = []
        self._waiting: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Future[Decision]]] = {}
        self.stopped = False
        self.expecting = False
        """A view may yet take clicks (it looks for a front end's first subshell)."""
        self.decisions: dict[str, Decision] = {}

    @classmethod
    def for_this_task(
        cls,
        running: Callable[[], bool],
        *,
        fallback: Callable[[ApprovalRequest], Decision] | None = None,
    ) -> RunControls:
        """Controls whose ``stop`` cancels the current task, on its own loop, while
        ``running()`` still says the run goes on (a late click cancels nothing)."""
        loop, task = asyncio.get_running_loop(), asyncio.current_task()

        def cancel() -> None:
            if task is not None and running():
                task.cancel()

        return cls(fallback=fallback, on_stop=lambda: loop.call_soon_threadsafe(cancel))

    def offer(self, approver: Approver) -> None:
        """A view that can take clicks during the run offers to ask for approvals."""
        with self._lock:
            self._approvers.append(approver)

    @property
    def can_ask(self) -> bool:
        return bool(self._approvers)

    def stop(self) -> None:
        """End the run as an interrupt would, from any thread; calls waiting are declined."""
        with self._lock:
            if self.stopped:
                return
            self.stopped = True
            on_stop = self._on_stop
        if on_stop is not None:
            on_stop()

    async def decide(self, request: ApprovalRequest) -> Decision:
        """The decision for one call: a view's click, else the fallback (terminal or none)."""
        while self.expecting and not self._approvers and not self.stopped:
            await asyncio.sleep(0.05)  # a view is looking for a way for clicks to arrive
        with self._lock:
            approvers = list(self._approvers)
        if self.stopped:
            decision = Decision(False, "luxx", STOPPED)
        elif not approvers:
            fallback = self._fallback
            decision = await on_caller(lambda: fallback(request))  # stdin: the cell's thread
        else:
            decision = await self._asked(request, approvers)
        self.decisions[request.call_id] = decision
        return decision

    async def _asked(self, request: ApprovalRequest, approvers: list[Approver]) -> Decision:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Decision] = loop.create_future()
        with self._lock:
            self._waiting[request.call_id] = (loop, future)
        for approver in approvers:
            approver.ask(request, self)
        try:
            decision = await future
        except asyncio.CancelledError:
            self.decisions[request.call_id] = Decision(False, "luxx", STOPPED)
            for approver in approvers:
                approver.decided(request, self.decisions[request.call_id])
            raise
        finally:
            with self._lock:
                self._waiting.pop(request.call_id, None)
        for approver in approvers:
            approver.decided(request, decision)
        return decision

    def settle(self, call_id: str, approved: bool) -> bool:
        """A person's click, from any thread; False when the call no longer waits."""
        with self._lock:
            waiting = self._waiting.get(call_id)
        if waiting is None:
            return False
        loop, future = waiting
        decision = Decision(approved, "the person")

        def resolve() -> None:
            if not future.done():
                future.set_result(decision)

        loop.call_soon_threadsafe(resolve)
        return True


_current: contextvars.ContextVar[RunControls | None] = contextvars.ContextVar(
    "luxx_run_controls", default=None
)


def current_controls() -> RunControls | None:
    """The controls of the run whose views are being opened (set by ``Chat`` around a run)."""
    return _current.get()


def set_controls(controls: RunControls | None) -> contextvars.Token[RunControls | None]:
    return _current.set(controls)
