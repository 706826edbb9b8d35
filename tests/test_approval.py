"""Stop and approvals without a kernel: the decisions, the gates, ``RunControls``, and a
``Chat`` over the loopback server stopped from code and deciding tool calls."""

from __future__ import annotations

import asyncio
import json
import threading
import time

from support.builders import text_stream, tool_call_stream
from support.tools import LAUNCHED, launch

from luxx_nb import Chat
from luxx_nb.approval import (
    DECLINED_MESSAGE,
    NO_FRONT_END,
    STOPPED,
    ApprovalRequest,
    Decision,
    RunControls,
    no_front_end,
    terminal_gate,
)
from luxx_nb.render.live.tree import RunWidget
from luxx_nb.render.saved.snapshot import HtmlRenderer
from luxx_nb.runner import run_sync

KEY = "sk-test-canary-0123456789abcdef"


def make_chat(server, **kwargs):
    return Chat(base_url=server.base_url, api_key=KEY, model="test-model", tools=[launch], **kwargs)


class Clicker:
    """A view that can take clicks: decides each request from another thread."""

    def __init__(self, answers: dict[str, bool], delay: float = 0.05) -> None:
        self.answers, self.delay = answers, delay
        self.asked: list[ApprovalRequest] = []
        self.told: list[tuple[str, Decision]] = []

    def ask(self, request: ApprovalRequest, controls: RunControls) -> None:
        self.asked.append(request)
        target = json.loads(request.arguments)["target"]
        if target in self.answers:
            timer = threading.Timer(
                self.delay, controls.settle, (request.call_id, self.answers[target])
            )
            timer.start()

    def decided(self, request: ApprovalRequest, decision: Decision) -> None:
        self.told.append((request.call_id, decision))


class ClickingView:
    """A view whose runs offer a Clicker to the run's controls, and record the finish."""

    def __init__(self, clicker: Clicker) -> None:
        self.clicker = clicker
        self.finished: list[str] = []

    def open_run(self, *, model: str, local: bool = False):
        view = self

        class Run:
            def start(self, *, model: str, local: bool = False) -> None:
                from luxx_nb.approval import current_controls

                current_controls().offer(view.clicker)

            def handle(self, event) -> None:
                pass

            def finish(self, state, message=None, detail=None) -> None:
                view.finished.append(state)

        return Run()


def test_decision_labels_and_messages():
    assert Decision(True).label == "approved by the person"
    assert Decision(False).label == "declined by the person"
    assert Decision(False).message == DECLINED_MESSAGE
    assert no_front_end(ApprovalRequest("c", "launch", "{}")).reason == NO_FRONT_END
    assert ApprovalRequest("c", "launch", '{"target": "moon"}').title == 'launch(target="moon")'


def test_terminal_gate_asks_and_only_yes_approves():
    prompts: list[str] = []

    def read(prompt: str) -> str:
        prompts.append(prompt)
        return answers.pop(0)

    answers = ["y", "", "no", " YES "]
    gate = terminal_gate(read)
    request = ApprovalRequest("c", "launch", '{"target": "moon"}')
    assert [gate(request).approved for _ in range(4)] == [True, False, False, True]
    assert prompts[0] == 'Run launch(target="moon")? [y/N] '
    assert gate.__name__ == "ask"

    def closed(prompt: str) -> str:
        raise EOFError

    assert not terminal_gate(closed)(request).approved


def test_controls_decide_with_a_view_each_on_its_own():
    async def main():
        controls = RunControls()
        clicker = Clicker({"a": True, "b": False}, delay=0.1)
        controls.offer(clicker)
        a = ApprovalRequest("1", "launch", '{"target": "a"}')
        b = ApprovalRequest("2", "launch", '{"target": "b"}')
        return await asyncio.gather(controls.decide(a), controls.decide(b)), clicker

    (first, second), clicker = asyncio.run(main())
    assert first.approved and not second.approved
    assert [r.call_id for r in clicker.asked] == ["1", "2"]  # both asked before either click
    assert not RunControls().settle("nobody", True)


def test_controls_without_a_view_use_the_fallback():
    decision = asyncio.run(RunControls().decide(ApprovalRequest("1", "launch", "{}")))
    assert not decision.approved and decision.reason == NO_FRONT_END


def test_approve_and_deny_in_one_round(llm_server):
    LAUNCHED.clear()
    llm_server.enqueue(
        tool_call_stream([("launch", {"target": "moon"}), ("launch", {"target": "mars"})]),
        text_stream("One went."),
    )
    chat = make_chat(llm_server)
    view = ClickingView(Clicker({"moon": True, "mars": False}))
    chat.add_view(view)
    reply = chat.send("go")
    assert LAUNCHED == ["moon"]
    results = {s.id_ref: s for s in reply.steps if s.type == "tool_result"}
    decisions = sorted(s.decision for s in results.values())
    assert decisions == ["approved by the person", "declined by the person"]
    tool_messages = [m for m in chat.history if m["role"] == "tool"]
    contents = sorted(m["content"] for m in tool_messages)
    assert contents[0] == "launched moon"
    assert json.loads(contents[1])["error"] == DECLINED_MESSAGE
    assert reply.text == "One went." and reply.state == "done"


def test_no_front_end_declines_and_the_loop_goes_on(llm_server):
    LAUNCHED.clear()
    llm_server.enqueue(tool_call_stream([("launch", {"target": "moon"})]), text_stream("Ok."))
    chat = make_chat(llm_server)
    reply = chat.send("go", display=False)
    assert LAUNCHED == []
    result = next(s for s in reply.steps if s.type == "tool_result")
    assert not result.success and result.decision == NO_FRONT_END
    assert DECLINED_MESSAGE in json.loads(result.content)["error"]
    assert reply.text == "Ok."


def test_stop_from_code_during_a_slow_stream(llm_server):
    llm_server.enqueue(text_stream("word " * 400, fragment_size=5, delay=0.02))
    chat = make_chat(llm_server)
    stopped_at: list[float] = []

    def stop_later() -> None:
        time.sleep(0.6)
        stopped_at.append(time.monotonic())
        assert chat.stop()

    threading.Thread(target=stop_later).start()
    reply = chat.send("talk", display=False)
    took = time.monotonic() - stopped_at[0]
    assert took < 1.0, took
    assert reply.state == "stopped" and reply.stopped and not reply.interrupted
    assert reply.text.startswith("word ") and len(reply.text) < len("word " * 400)
    assert chat.history[-1] == {"role": "assistant", "content": reply.text}
    assert llm_server.wait_for_disconnect(2.0)
    assert not chat.stop()  # nothing runs now
    llm_server.enqueue(text_stream("Next."))
    assert chat.send("again", display=False).text == "Next."


def test_stop_while_a_call_waits_declines_it(llm_server):
    LAUNCHED.clear()
    llm_server.enqueue(tool_call_stream([("launch", {"target": "moon"})]))
    chat = make_chat(llm_server)
    clicker = Clicker({})  # never clicks
    view = ClickingView(clicker)
    chat.add_view(view)

    def stop_when_asked() -> None:
        while not clicker.asked:
            time.sleep(0.02)
        chat.stop()

    threading.Thread(target=stop_when_asked).start()
    reply = chat.send("go")
    assert LAUNCHED == [] and reply.state == "stopped" and view.finished == ["stopped"]
    result = next(s for s in reply.steps if s.type == "tool_result")
    assert result.decision == STOPPED and not result.success
    assert clicker.told and not clicker.told[0][1].approved
    assert chat.history[-1]["role"] == "tool"  # every call has its result: the history is valid


def test_widgets_and_snapshot_show_stop_and_decisions(llm_server, monkeypatch):
    """In a kernel's place: a RunWidget offered clicks gets a Stop button and a card."""
    import luxx_nb.render.live.clicks as clicks

    monkeypatch.setattr(clicks, "clicks_can_arrive", lambda: True)
    LAUNCHED.clear()
    llm_server.enqueue(tool_call_stream([("launch", {"target": "<b>moon</b>"})]), text_stream("k"))
    chat = make_chat(llm_server)
    runs: list[RunWidget] = []
    snapshot = HtmlRenderer()

    class View:
        def open_run(self, *, model, local=False):
            run = RunWidget(model=model, local=local)
            run.observe(lambda change: changes.append((change.old, change.new)), "children")
            runs.append(run)
            return run

    changes: list[tuple[tuple, tuple]] = []
    chat.add_view(View())
    chat.add_view(type("S", (), {"open_run": lambda self, **k: snapshot})())
    waiting: list[str] = []  # the status line while the card waits

    def approve() -> None:
        while not runs or len(runs[0].children) < 3:
            time.sleep(0.02)
        card = runs[0].children[-1]
        assert "&lt;b&gt;moon&lt;/b&gt;" in card.children[0].value
        row = runs[0].children[0]
        assert [b.description for b in row.children[1:]] == ["Stop"]
        buttons = card.children[1].children
        assert [b.description for b in buttons] == ["Approve", "Deny"]
        waiting.append(runs[0]._status.value)
        buttons[0].click()

    thread = threading.Thread(target=approve)
    thread.start()
    reply = chat.send("go")
    thread.join()
    assert LAUNCHED == ["<b>moon</b>"] and reply.state == "done"
    assert "waiting for your approval (launch)" in waiting[0]
    assert "waiting for your approval" not in runs[0]._status.value
    row = runs[0].children[0]
    assert row.children == (runs[0]._status,)  # the Stop button is gone with the run
    # Once the run shows a step, its children only grow: the page re-creates the view of
    # every child from the first one that changes, and a stream's view is its whole answer.
    grown = [(old, new) for old, new in changes if len(old) > 1]
    assert len(grown) >= 2 and all(new[: len(old)] == old for old, new in grown), grown
    assert "approved by the person" in snapshot.html()
    from luxx_nb.render.live.controls import ApprovalView

    card = next(c for c in runs[0].children if isinstance(c, ApprovalView))
    assert "approved by the person" in card.children[-1].value


def test_run_sync_of_a_stopped_turn_returns():
    async def main():
        controls = RunControls.for_this_task(lambda: True)
        controls.stop()
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            return "cancelled"
        return "slept"

    assert run_sync(main()) == "cancelled"


def test_chat_view_run_has_a_stop_button_that_stops(llm_server, monkeypatch):
    import luxx_nb.render.live.clicks as clicks
    from luxx_nb import ChatView

    monkeypatch.setattr(clicks, "clicks_can_arrive", lambda: True)
    llm_server.enqueue(text_stream("word " * 400, fragment_size=5, delay=0.02))
    chat = make_chat(llm_server)
    view = ChatView(chat)

    def click_stop() -> None:
        while not view.children or len(view.children[0].children) < 2:
            time.sleep(0.02)
        time.sleep(0.3)
        row = view.children[0].children[0]
        row.children[1].click()  # the Stop button, as the front end's click runs it

    thread = threading.Thread(target=click_stop)
    thread.start()
    reply = chat.send("talk")
    thread.join()
    assert reply.state == "stopped" and reply.text
    run = view.children[0]
    assert run.state == "stopped" and run.children[0].children == (run._status,)
    assert "stopped" in run._status.value
