"""The run's buttons: Stop on the status line, and Approve / Deny for a call that asks first.

They only render and click: what a click means is ``approval.RunControls``'s (``stop``,
``settle``), called from the click's thread (a kernel subshell's, ``clicks.py``). Each button's
comm is routed to the subshell the front end sent its click to, so it arrives while the cell
still runs. Labels are plain text; the call's name and arguments are escaped markup.
"""

from __future__ import annotations

import asyncio
import time
from html import escape
from typing import Any

import ipywidgets

from luxx_nb.approval import ApprovalRequest, Decision, RunControls
from luxx_nb.render.live.clicks import route_to_sender
from luxx_nb.render.live.parts import html_part, shared_layout
from luxx_nb.render.markup import FAIL, LABEL, OK, PRE, SCROLL, arguments_html

__all__ = ["ApprovalView", "stop_button"]


def _button(label: str, style: str = "") -> ipywidgets.Button:
    button = ipywidgets.Button(
        description=label,
        button_style=style,
        tooltip=label,
        layout=ipywidgets.Layout(width="auto", height="24px"),
    )
    route_to_sender(button)
    return button


def stop_button(controls: RunControls) -> ipywidgets.Button:
    """``Stop``: ends the run (``RunControls.stop``) and says it is stopping."""
    button = _button("Stop")
    button.add_class("luxx-stop")

    def clicked(_: Any) -> None:
        with button.hold_sync():
            button.disabled = True
            button.description = "Stopping…"
        controls.stop()

    button.on_click(clicked)
    return button


class ApprovalView(ipywidgets.VBox):
    """One call waiting for a person: its name and arguments, ``Approve`` and ``Deny``."""

    def __init__(self, request: ApprovalRequest, controls: RunControls) -> None:
        self.request = request
        head = (
            f'<div style="{LABEL}">approval needed: the model asks to run</div>'
            f"<div><b>{escape(request.name)}</b></div>"
            f"{arguments_html(request.name, request.arguments, plain=PRE, scroll=PRE + SCROLL)[1]}"
        )
        self._approve = _button("Approve", "success")
        self._deny = _button("Deny", "danger")
        self._approve.on_click(lambda _: self._clicked(controls, True))
        self._deny.on_click(lambda _: self._clicked(controls, False))
        self._buttons = ipywidgets.HBox(children=(self._approve, self._deny))
        self._line = html_part("")
        super().__init__(
            children=(html_part(head), self._buttons),
            layout=shared_layout(),
            _dom_classes=("luxx-approval",),
        )

    def _clicked(self, controls: RunControls, approved: bool) -> None:
        with self.hold_sync():
            self._approve.disabled = self._deny.disabled = True
        controls.settle(self.request.call_id, approved)

    def decided(self, decision: Decision) -> None:
        """The buttons give way to the decision's words."""
        color = OK if decision.approved else FAIL
        self._line.value = (
            f'<div style="{LABEL}"><span style="{color}">{escape(decision.label)}</span></div>'
        )
        self.children = (self.children[0], self._line)
        self._buttons.close()
        self._approve.close()
        self._deny.close()

    def __repr__(self) -> str:
        return f"<luxx approval: {self.request.title}>"


FIRST_SUBSHELL_WAIT = 1.5
"""Seconds a run looks for a front end's first subshell (measured in JupyterLab 4.6: 0 before
the kernel's first widget; made once it opens). nbclient never makes one: a call that asks
first is declined after this wait."""
STOP_HINT = "To stop this run, interrupt the kernel (no click reaches it while the cell runs here)."


class RunButtons:
    """One live run's buttons: ``Stop`` beside the status line and a card per call that asks.

    Offered only where a click can arrive while the cell runs (``clicks_can_arrive``);
    elsewhere there is no button, and ``hint`` says the kernel's interrupt stops the run.
    ``show`` opens the run's pending steps, so that a card follows its call.
    """

    def __init__(
        self,
        run: ipywidgets.Box,
        status: ipywidgets.Widget,
        controls: RunControls,
        show: Any,
    ) -> None:
        from luxx_nb.render.live.clicks import clicks_can_arrive, subshells

        self._run, self._status, self._show = run, status, show
        self._controls = controls
        self._cards: dict[str, ApprovalView] = {}
        self._undecided: set[str] = set()
        self._row: ipywidgets.HBox | None = None
        self._stop: ipywidgets.Button | None = None
        self._finished = False
        self.hint = ""
        if clicks_can_arrive():
            self._hold_row()
            self._attach()
        elif subshells() is not None:  # a front end may make its first subshell right now
            self._hold_row()
            self._watch(time.monotonic() + FIRST_SUBSHELL_WAIT)
        else:
            self.hint = STOP_HINT

    def _hold_row(self) -> None:
        """Put the status line in the row that will hold Stop, before the run has a step.

        The run's first child is then the row from start to end: only the row's own children
        change. ipywidgets re-creates the view of every child from the first one that
        changes (``ViewList.update``), so swapping the run's first child once an answer
        streamed made the page build the whole answer again, then drop it (measured in
        JupyterLab, 1 MB: an 83 ms task at the run's end, ``benchmarks/page.py``).
        """
        run, status = self._run, self._status
        self._row = ipywidgets.HBox(children=(status,), layout=shared_layout())
        self._row.add_class("luxx-status-row")
        run.children = (self._row, *run.children[1:])

    def _watch(self, until: float) -> None:
        """JupyterLab makes its widget subshell when the kernel's first widget opens (the
        run's own): look again until ``until``; past it, say how to stop instead."""
        from luxx_nb.render.live.clicks import clicks_can_arrive

        controls = self._controls
        controls.expecting = True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            controls.expecting, self.hint = False, STOP_HINT
            return

        def look() -> None:
            if self._finished:
                return
            if clicks_can_arrive():
                self._attach()
            elif time.monotonic() < until:
                loop.call_later(0.05, look)
                return
            else:
                self.hint = STOP_HINT
            controls.expecting = False

        loop.call_later(0.05, look)

    def _attach(self) -> None:
        if self._row is None:
            self._hold_row()
        assert self._row is not None
        self._stop = stop_button(self._controls)
        self._row.children = (self._status, self._stop)
        self._controls.offer(self)

    @property
    def waiting(self) -> int:
        """Calls shown with Approve / Deny and not decided yet (the status line says so)."""
        return len(self._undecided)

    def ask(self, request: ApprovalRequest, controls: RunControls) -> None:
        self._undecided.add(request.call_id)
        self._show()  # its call first (the card follows it), and the status line's word
        card = self._cards[request.call_id] = ApprovalView(request, controls)
        self._run.children = (*self._run.children, card)

    def decided(self, request: ApprovalRequest, decision: Decision) -> None:
        self._undecided.discard(request.call_id)
        card = self._cards.get(request.call_id)
        if card is not None:
            card.decided(decision)
        self._show()

    def finish(self) -> None:
        """The run is over: the status line alone in its row, with no Stop."""
        self._finished = True
        if self._row is None or self._stop is None:
            return
        self._row.children = (self._status,)
        self._stop.close()
        self._stop = None
