"""The chat panel's Python side, without a kernel: ``ChatView(chat)``'s prompt, a message
from the page as the front end sends it (``{"type": "send", "text"}``), turns queued one at a
time (never interleaved, also with a turn a cell started), errors shown, the key never shown,
and Stop and Approve/Deny on a turn sent from the page. The loopback server scripts the model.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import ipywidgets
import pytest
from support.builders import json_error, text_stream, tool_call_stream
from support.tools import LAUNCHED, launch

from luxx_nb import Chat, ChatView
from luxx_nb.render.live.panel import PageButtons, PromptBox, echo_html
from luxx_nb.render.live.stream import StreamWidget
from luxx_nb.render.live.tree import RunWidget

KEY = "sk-panel-canary-0123456789abcdef"


def make_chat(server: Any, **kwargs: Any) -> Chat:
    return Chat(base_url=server.base_url, api_key=KEY, model="test-model", **kwargs)


def page_sends(view: ChatView, text: str) -> None:
    """What the front end's Enter or Send does: one custom message on the box's comm."""
    assert view.panel is not None
    view.panel.box._handle_custom_msg({"type": "send", "text": text}, [])


def descendants(widget: ipywidgets.Widget) -> Iterator[ipywidgets.Widget]:
    yield widget
    for child in getattr(widget, "children", ()):
        yield from descendants(child)


def shown(view: ChatView) -> str:
    """Every synced value of every widget in the view, as the page receives them."""
    return json.dumps([w.get_state() for w in descendants(view)], default=str)


def runs(view: ChatView) -> list[RunWidget]:
    return [w for w in view.children if isinstance(w, RunWidget)]


def wait(condition: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_chat_view_of_a_chat_has_a_labelled_box_and_send_at_its_bottom(llm_server) -> None:
    view = ChatView(make_chat(llm_server))
    assert view.panel is not None and view.children == (view.panel.widget,)
    box = view.panel.box
    assert isinstance(box, PromptBox) and box.placeholder == "Message"
    assert 'textContent = "Send"' in box._esm and 'setAttribute("aria-label"' in box._esm
    assert ChatView(make_chat(llm_server), prompt=False).children == ()
    with pytest.raises(RuntimeError, match="no prompt"):
        ChatView().send("hi")


def test_a_message_from_the_page_streams_a_turn_into_the_view(llm_server) -> None:
    llm_server.enqueue(text_stream("Hello from the model."))
    chat = make_chat(llm_server)
    view = ChatView(chat)
    started = time.monotonic()
    page_sends(view, "Say <b>hello</b>\nplease")
    handled = time.monotonic() - started
    assert handled < 0.1, handled  # the handler only queues: the kernel's shell is free
    wait(lambda: chat.last_reply is not None)
    wait(lambda: runs(view) and runs(view)[0].state == "done")
    echo, run, prompt = view.children
    assert prompt is view.panel.widget and isinstance(run, RunWidget)
    assert echo.value == echo_html("Say <b>hello</b>\nplease")
    assert "&lt;b&gt;hello&lt;/b&gt;" in echo.value and "<b>hello" not in echo.value
    assert chat.last_reply.text == "Hello from the model."
    assert chat.history[0] == {"role": "user", "content": "Say <b>hello</b>\nplease"}
    wait(lambda: "Hello from the model." in shown(view))  # the last flush may follow "done"
    page_sends(view, "   \n")  # an empty prompt sends nothing
    time.sleep(0.1)
    assert len(llm_server.requests) == 1


def test_prompts_sent_while_a_turn_runs_wait_for_it_in_order(llm_server) -> None:
    llm_server.enqueue(
        text_stream("first answer " * 20, fragment_size=8, delay=0.02),
        text_stream("second answer"),
        text_stream("third answer"),
    )
    chat = make_chat(llm_server)
    view = ChatView(chat)
    first = view.send("one")
    wait(lambda: runs(view))
    second, third = view.send("two"), view.send("three")
    note = view.panel.box.note
    assert "2 messages wait for the answer in progress" in note, note
    replies = [f.result(timeout=30) for f in (first, second, third)]
    assert [r.text.strip() for r in replies] == [
        ("first answer " * 20).strip(),
        "second answer",
        "third answer",
    ]
    roles = [(m["role"], m["content"].strip()) for m in chat.history]
    assert roles == [
        ("user", "one"),
        ("assistant", ("first answer " * 20).strip()),
        ("user", "two"),
        ("assistant", "second answer"),
        ("user", "three"),
        ("assistant", "third answer"),
    ]
    # Each request carried the whole conversation before it: no turn began inside another.
    assert [len(r.body["messages"]) for r in llm_server.requests] == [1, 3, 5]
    kinds = [type(w).__name__ for w in view.children]
    assert kinds == ["HTML", "RunWidget"] * 3 + ["VBox"]
    assert view.panel.box.note == ""


def test_a_prompt_waits_for_a_turn_that_a_cell_started(llm_server) -> None:
    llm_server.enqueue(
        text_stream("cell answer " * 20, fragment_size=8, delay=0.02),
        text_stream("panel answer"),
    )
    chat = make_chat(llm_server)
    view = ChatView(chat)
    cell = threading.Thread(target=chat.send, args=("from a cell",))
    cell.start()
    wait(lambda: chat.busy)
    future = view.send("from the panel")
    assert "1 message waits" in view.panel.box.note
    reply = future.result(timeout=30)
    cell.join(10)
    assert reply.text == "panel answer"
    assert [m["content"] for m in chat.history if m["role"] == "user"] == [
        "from a cell",
        "from the panel",
    ]


def test_a_second_send_while_busy_opens_no_run(llm_server) -> None:
    """Refused before any view opens a run for it: no empty run is left in the view."""
    llm_server.enqueue(text_stream("slow " * 40, fragment_size=5, delay=0.02))
    chat = make_chat(llm_server)
    view = ChatView(chat)
    first = threading.Thread(target=chat.send, args=("first",))
    first.start()
    wait(lambda: chat.busy)
    with pytest.raises(RuntimeError, match="still answering"):
        chat.send("second")
    first.join(10)
    assert len(runs(view)) == 1 and not chat.busy
    assert [m["content"] for m in chat.history if m["role"] == "user"] == ["first"]


def test_an_error_shows_in_the_run_and_the_key_is_never_shown(llm_server) -> None:
    llm_server.enqueue(json_error(401, f"Incorrect API key provided: {KEY}"))
    chat = make_chat(llm_server)
    view = ChatView(chat)
    page_sends(view, "hello")
    wait(lambda: runs(view) and runs(view)[0].state == "error")
    state = shown(view)
    assert "401" in state
    for at in range(len(KEY) - 9):
        assert KEY[at : at + 10] not in state


def test_a_failure_outside_the_turn_shows_in_the_note_without_the_key(llm_server) -> None:
    chat = make_chat(llm_server)
    view = ChatView(chat)

    async def broken(prompt: str) -> None:
        raise ValueError(f"could not send with {KEY}")

    chat.asend = broken  # type: ignore[method-assign]
    future = view.send("hello")
    with pytest.raises(ValueError):
        future.result(timeout=10)
    wait(lambda: view.panel.box.failed)
    note = view.panel.box.note
    assert note.startswith("The message was not sent: could not send with")
    assert KEY[:10] not in note and KEY[-10:] not in note
    chat.asend = Chat.asend.__get__(chat)  # type: ignore[method-assign]
    llm_server.enqueue(text_stream("fine again"))
    assert view.send("again").result(timeout=10).text == "fine again"
    assert view.panel.box.note == "" and not view.panel.box.failed


@pytest.mark.parametrize("made", [[], None], ids=["no-subshell-yet", "no-subshells"])
def test_stop_and_approvals_of_a_turn_sent_from_the_page(llm_server, monkeypatch, made) -> None:
    """No subshell made (Voilà), or none possible (ipykernel 6): a page's turn holds no
    shell, so its buttons show at once and its clicks are taken."""
    import luxx_nb.render.live.clicks as clicks

    monkeypatch.setattr(clicks, "subshells", lambda: made)
    LAUNCHED.clear()
    llm_server.enqueue(
        text_stream("word " * 400, fragment_size=5, delay=0.02),
        tool_call_stream([("launch", {"target": "moon"})]),
        text_stream("Launched."),
        tool_call_stream([("launch", {"target": "mars"})]),
        text_stream("Not launched."),
    )
    chat = make_chat(llm_server, tools=[launch])
    view = ChatView(chat)

    def buttons(label: str) -> list[ipywidgets.Button]:
        return [
            w
            for w in descendants(view)
            if isinstance(w, ipywidgets.Button) and w.description == label and not w.disabled
        ]

    page_sends(view, "talk")
    wait(lambda: buttons("Stop"))
    assert isinstance(runs(view)[0]._buttons, PageButtons) and not runs(view)[0]._buttons.hint
    wait(lambda: any(isinstance(w, StreamWidget) for w in descendants(view)))  # text is shown
    buttons("Stop")[0].click()
    wait(lambda: chat.last_reply is not None and not chat._busy)
    assert chat.last_reply.state == "stopped" and chat.last_reply.text

    page_sends(view, "launch to the moon")
    wait(lambda: buttons("Approve"))
    buttons("Approve")[0].click()
    wait(lambda: len(chat.replies) == 2 and not chat._busy)
    assert chat.last_reply.text == "Launched." and LAUNCHED == ["moon"]

    page_sends(view, "launch to mars")
    wait(lambda: buttons("Deny"))
    buttons("Deny")[0].click()
    wait(lambda: len(chat.replies) == 3 and not chat._busy)
    assert LAUNCHED == ["moon"] and "declined by the person" in shown(view)


def test_a_turn_sent_from_code_keeps_the_runs_own_buttons(llm_server) -> None:
    """``view.send`` from code outside a kernel: nobody can click, so no Stop button."""
    llm_server.enqueue(text_stream("ok"))
    view = ChatView(make_chat(llm_server))
    assert view.send("hi").result(timeout=10).text == "ok"
    run = runs(view)[0]
    assert not isinstance(run._buttons, PageButtons)
    assert not [w for w in descendants(view) if isinstance(w, ipywidgets.Button)]


def test_clear_keeps_the_prompt(llm_server) -> None:
    llm_server.enqueue(text_stream("ok"))
    view = ChatView(make_chat(llm_server))
    view.send("hi").result(timeout=10)
    assert len(view.children) == 3
    view.clear()
    assert view.children == (view.panel.widget,)
