"""The page's stream view (``render/frontend/stream.js``) in Chromium, without JupyterLab.

The view appends plain text to the open tail's last text node instead of parsing the whole
tail again (issue #18: a long paragraph cost the page the square of its length). That is
right only where the parser would have built the same DOM, so this replays the messages a
real ``StreamWidget`` sends, fragment by fragment, into the view's ``render`` with a stand-in
model, and after every message compares the view's DOM with the kernel's HTML parsed whole:
prose, lists, code, tables, entities and markup the model wrote (escaped), split anywhere.
With the view's stylesheet, it also checks that the newest text stays in the page's rendered
text while it moves into chunks laid out only near the screen.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import comm
import pytest
from comm.base_comm import BaseComm
from support.lab import chromium_page, require_chromium

from benchmarks.answers import answer
from luxx_nb.render.live.stream import StreamCode, StreamWidget
from luxx_nb.render.markup import CHUNK

HOSTILE = (
    "A long paragraph with no break " + "and more words " * 60 + "that ends here.\n\n"
    "Text with a < b & c > d, &amp; an entity, <img src=x onerror=alert(1)> and <b>tags</b>.\n"
    "- one item\n- two *items* with `code`\n  continued\n\n"
    "```python\nx = 1 < 2\nprint('a & b')\n```\n\n"
    "| a | b |\n|---|---|\n| 1 | 2 & 3 |\n\n"
    "> a quote that goes on\n> and on\n\nThe end, with trailing spaces   \nand a last line."
)

SOURCE = resources.files("luxx_nb.render").joinpath("frontend", "stream.js").read_text()

HARNESS = """async ([source, messages, frames]) => {
    const url = URL.createObjectURL(new Blob([source], {type: 'text/javascript'}));
    const view = (await import(url)).default;
    const handlers = {};
    const model = {
        values: {ident: 'one', kind: 'text', html: '', expanded: true, label: ''},
        get(key) { return this.values[key]; },
        set(key, value) { this.values[key] = value; },
        on(name, handler) { (handlers[name] ||= []).push(handler); },
        off() {}, send() {}, save_changes() {},
    };
    view.initialize({model});
    const el = document.createElement('div');
    document.body.append(el);
    view.render({model, el});
    const body = el.querySelector('.luxx-md');
    const expected = document.createElement('div');
    const wrong = [];
    const hidden = [];
    const squash = (text) => text.replace(/\\s+/g, ' ').trim();
    let appended = 0;
    for (const name of ['appendData', 'insertData']) {
        const original = CharacterData.prototype[name];
        CharacterData.prototype[name] = function (...args) {
            appended += 1;
            return original.apply(this, args);
        };
    }
    const frame = () => new Promise((done) => requestAnimationFrame(done));
    for (const [index, [message, html]] of messages.entries()) {
        for (const handler of handlers['msg:custom']) handler(message);
        expected.innerHTML = html;
        const shown = document.createElement('div');
        for (const part of body.querySelectorAll('.luxx-chunk, .luxx-open, .luxx-tail')) {
            shown.append(...part.cloneNode(true).childNodes);
        }
        shown.normalize();
        expected.normalize();
        if (!shown.isEqualNode(expected)) wrong.push([index, shown.innerHTML, html]);
        // The newest text is in what the page renders at once, not a frame later.
        const walker = document.createTreeWalker(expected, NodeFilter.SHOW_TEXT);
        let last = '';
        for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            if (node.data.trim()) last = squash(node.data);
        }
        if (!squash(body.innerText).includes(last)) hidden.push([index, last]);
        if (frames) {  // as a person who follows the end of the answer
            window.scrollTo(0, document.documentElement.scrollHeight);
            await frame();
        }
    }
    await frame();
    const chunks = [...body.querySelectorAll('.luxx-chunk, .luxx-open')].map(
        (part) => [part.className, getComputedStyle(part).contentVisibility]);
    return {wrong: wrong.slice(0, 3), appended, messages: messages.length,
            hidden: hidden.slice(0, 3), chunks};
}"""


def messages(text: str, size: int) -> list[tuple[dict[str, Any], str]]:
    """The delta messages a widget sends for ``text`` in ``size``-character fragments,
    each with the whole HTML the page should show after it."""
    sent: list[dict[str, Any]] = []

    class Recording(BaseComm):
        def publish_msg(self, msg_type: str, data: Any = None, *args: Any, **kw: Any) -> None:
            if msg_type == "comm_msg" and (data or {}).get("method") == "custom":
                sent.append(data["content"])

    original = comm.create_comm
    comm.create_comm = Recording
    try:
        widget = StreamWidget("text", saved_state=False)
        out = []
        for at in range(0, len(text), size):
            widget.append(text[at : at + size])
            before = len(sent)
            widget.flush()
            if len(sent) > before:
                out.append((sent[-1], widget.full_html()))
        widget.finalize()
        out.append((sent[-1], widget.full_html()))
    finally:
        comm.create_comm = original
    return out


@pytest.mark.timeout(120)
def test_appended_text_builds_the_dom_the_parser_would() -> None:
    cases = [messages(HOSTILE, size) for size in (1, 3, 4, 7)]
    cases.append(messages(answer(8_000), 4))
    with chromium_page(require_chromium()) as page:
        for case in cases:
            seen = page.evaluate(HARNESS, [SOURCE, json.loads(json.dumps(case))])
            assert not seen["wrong"], seen["wrong"]
            # Most updates of prose take the cheap path (the rest parse the tail).
            assert seen["appended"] > seen["messages"] / 2, seen


@pytest.mark.timeout(120)
def test_streamed_text_stays_rendered_as_it_moves_into_chunks() -> None:
    """With the view's stylesheet: after every message the newest text is in the page's
    rendered text (``innerText``) at once. Chromium leaves a new ``content-visibility: auto``
    element out of it until its next frame; the end of a run moved a one-paragraph answer
    from the tail into such a chunk, and the browser test of Stop read the answer as gone.
    A new chunk is laid out as any block until the next frame, then only near the screen."""
    paragraph = "The answer goes on and on, word after word. " * 60
    long = messages(answer(300_000), 3_000)
    with chromium_page(require_chromium()) as page:
        page.add_style_tag(content=StreamCode._css)
        short = page.evaluate(HARNESS, [SOURCE, messages(paragraph, 6), True])
        assert not short["wrong"] and not short["hidden"], short
        assert short["chunks"] == [["luxx-chunk", "auto"]]
        seen = page.evaluate(HARNESS, [SOURCE, json.loads(json.dumps(long)), True])
        assert not seen["wrong"] and not seen["hidden"], seen["hidden"]
        assert len(seen["chunks"]) >= 300_000 // (2 * CHUNK), seen["chunks"]
        assert set(map(tuple, seen["chunks"])) == {("luxx-chunk", "auto")}
