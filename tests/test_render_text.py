"""The plain-text view: readable in a terminal, free of ANSI escapes when not a terminal."""

from __future__ import annotations

import asyncio
import io
import re

from support.sample_run import HOSTILE, growing, replay, sample_events

from luxx_nb.events import DoneEvent, StatusEvent, TextStep, ThinkingStep, Usage
from luxx_nb.render import Renderer, TextRenderer

EXPECTED = f"""\
│ The user wants the weather in Paris. I should call `get_weather` with the city.
│
│ Then check the notebook variable too.
→ get_weather(city="Paris")
✓ get_weather: {{"temp": 21, "note": "{HOSTILE}"}}
→ read_variable(name="df")
✗ read_variable: NameError: name 'df' is not defined {HOSTILE}
It is **21 °C** and sunny in Paris {HOSTILE}.

| city | temp |
|:--|--:|
| Paris | 21 |

```python
print('hi')
```

Energy: $E = mc^2$.
Error: The server closed the stream {HOSTILE}
gpt-test · done · <TIME> · 42 tokens
"""


def render(events: list, **kwargs: object) -> str:
    out = io.StringIO()
    asyncio.run(replay(TextRenderer(out), events, model="gpt-test", **kwargs))
    return re.sub(r"\d+\.\d s", "<TIME>", out.getvalue())


def test_text_renderer_is_a_renderer() -> None:
    assert isinstance(TextRenderer(io.StringIO()), Renderer)


def test_the_sample_run_reads_plainly() -> None:
    assert render(sample_events()) == EXPECTED


def test_no_ansi_escapes_unless_a_terminal() -> None:
    assert "\x1b[" not in render(sample_events())

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Terminal()
    asyncio.run(replay(TextRenderer(out), sample_events()))
    assert "\x1b[2m│ \x1b[0m" in out.getvalue() and "\x1b[31m✗ read_variable" in out.getvalue()


def test_text_streams_as_it_comes() -> None:
    out = io.StringIO()
    renderer = TextRenderer(out)
    renderer.start(model="m")
    seen = []
    for event in growing(TextStep, 0, ["Hel", "lo ", "world"]):
        renderer.handle(event)
        seen.append(out.getvalue())
    assert seen == ["Hel", "Hello ", "Hello world"]


def test_thinking_then_text_is_separated_by_a_blank_line() -> None:
    events = [*growing(ThinkingStep, 0, ["hmm\nyes"]), *growing(TextStep, 1, ["Answer."])]
    assert render(events).startswith("│ hmm\n│ yes\n\nAnswer.\ngpt-test · done")


def test_local_runs_say_so_and_estimate_tokens() -> None:
    out = io.StringIO()
    renderer = TextRenderer(out)
    renderer.start(model="smollm2", local=True)
    for event in growing(TextStep, 0, ["x" * 40]):
        renderer.handle(event)
    renderer.handle(StatusEvent(state="retrying", detail="attempt 2"))
    renderer.finish("interrupted")
    lines = out.getvalue().splitlines()
    assert lines[0] == "(answer from a tiny local model running on this machine)"
    assert lines[2] == "… retrying attempt 2"
    assert re.fullmatch(r"smollm2 · interrupted · \d+\.\d s · ~10 tokens", lines[3])


def test_a_failed_run_prints_its_error_once() -> None:
    out = io.StringIO()
    renderer = TextRenderer(out)
    renderer.start(model="m")
    renderer.handle(DoneEvent(message_id="1", token_count=3, usage=Usage()))
    renderer.finish("error", "connection refused")
    assert out.getvalue().splitlines()[0] == "Error: connection refused"
    assert out.getvalue().count("connection refused") == 1


def test_a_thought_under_ten_seconds_reads_in_tenths():
    from luxx_nb.render.formatting import thought_label

    assert thought_label(0.4) == "Thought for 0.4 s"
    assert thought_label(0.0) == "Thought for 0.1 s"
    assert thought_label(3.25) == "Thought for 3.2 s"
    assert thought_label(12.6) == "Thought for 13 s"
