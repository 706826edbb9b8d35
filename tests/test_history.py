"""The notebook's history as text (luxx_nb.history), without a kernel: errors, cells, hiding."""

from __future__ import annotations

import asyncio
import json
import linecache
import sys
import textwrap

import pytest

from luxx_nb.errors import REDACTED
from luxx_nb.history import (
    ERROR_CHARS,
    HIDDEN_LINE,
    HIDDEN_OUTPUT,
    MOST_CELLS,
    NO_ERROR,
    NotebookHistory,
    Redactor,
    format_error,
    notebook_history,
)
from luxx_nb.namespace import NamespaceView
from luxx_nb.tools import ToolContext, invoke, make_tool
from luxx_nb.variable_tools import namespace_tools

CELL_FILE = "/tmp/ipykernel_1/cell3.py"
IPYTHON_FILE = "/venv/lib/python3/site-packages/IPython/core/interactiveshell.py"


def label(filename: str) -> str | None:
    return "Cell In[3]" if filename == CELL_FILE else None


def raised_in_cell(source: str, **variables: object) -> BaseException:
    """Run ``source`` as IPython runs a cell: its text in linecache, exec'd and caught by code
    in IPython's own file (so the traceback starts with IPython's frame, as in a kernel)."""
    linecache.cache[CELL_FILE] = (len(source), None, source.splitlines(True), CELL_FILE)
    runner = "try:\n    exec(code, variables)\nexcept BaseException as exc:\n    caught = exc\n"
    scope = {"code": compile(source, CELL_FILE, "exec"), "variables": variables}
    exec(compile(runner, IPYTHON_FILE, "exec"), scope)
    return scope["caught"]


def test_an_error_reads_as_python_prints_it_with_the_cell_named_and_no_ipython_frames():
    error = raised_in_cell("def f():\n    return 1 / 0\n\nf()\n")
    text = format_error(error, label=label)
    assert text.startswith("Traceback (most recent call last):")
    assert 'File "Cell In[3]", line 4, in <module>' in text
    assert "return 1 / 0" in text and text.endswith("ZeroDivisionError: division by zero")
    assert "interactiveshell" not in text and "exec(code" not in text
    assert CELL_FILE not in text


def test_an_error_has_no_ansi_colours_and_keeps_its_cause():
    source = textwrap.dedent(
        """
        try:
            {}["missing"]
        except KeyError as exc:
            raise ValueError("\\x1b[31mred\\x1b[0m text") from exc
        """
    )
    text = format_error(raised_in_cell(source), label=label)
    assert "\x1b" not in text and "ValueError: red text" in text
    assert "KeyError: 'missing'" in text and "direct cause" in text


def test_a_long_error_keeps_its_start_and_its_end():
    error = raised_in_cell("raise RuntimeError('x' * 50_000 + ' the end')\n")
    text = format_error(error, label=label)
    assert len(text) < ERROR_CHARS + 100
    assert text.startswith("Traceback") and text.endswith(" the end")
    assert "characters cut" in text


def test_a_syntax_error_names_its_cell_and_hides_a_secret_line():
    for source, shown in (("x = (1,\n", True), ("api_key = 'sk-abcdefgh' +\n", False)):
        try:
            compile(source, CELL_FILE, "exec")
        except SyntaxError as exc:
            text = format_error(exc, label=label)
        assert 'File "Cell In[3]", line 1' in text and "SyntaxError" in text
        assert ("x = (1," in text) is shown
        assert "sk-abcdefgh" not in text and "api_key" not in text


def test_a_line_that_names_something_hidden_is_replaced_whole():
    redactor = Redactor(names=["_cache"], deny=["budget"])
    source = textwrap.dedent(
        """\
        import os
        api_key = "sk-live-0123456789"
        openai.api_key = "sk-live-0123456789"
        client = OpenAI(
            base_url="http://x",
            api_key="sk-live-0123456789",
        )
        total = budget * 2
        _cache.clear()
        headers = {"Authorization": "Bearer " + os.environ["MY_TOKEN"]}
        print("fine")"""
    )
    text, hidden = redactor.code(source)
    lines = text.split("\n")
    assert hidden and lines[0] == "import os" and lines[-1] == 'print("fine")'
    assert lines[1:10] == [HIDDEN_LINE] * 3 + ["    " + HIDDEN_LINE] * 2 + [HIDDEN_LINE] * 4
    assert "sk-live" not in text and "http://x" not in text  # the whole statement goes
    assert redactor.code("x = 1\ny = x + 1")[1] is False


def test_code_python_cannot_tokenize_is_hidden_line_by_line():
    redactor = Redactor()
    text, hidden = redactor.code('%env SECRET_TOKEN=abc123\n!ls\ns = """open')
    assert hidden and text.split("\n") == [HIDDEN_LINE, "!ls", 's = """open']


def test_the_redactor_reads_hidden_names_and_values_from_the_namespace():
    namespace = {
        "db_password": "hunter2-canary",
        "_private": "private-canary",
        "_i3": "x = 1",  # IPython's input cache: the code itself, not a secret
        "_": "last-output",
        "sales": "visible-value",
        "others": "not-allowed-canary",
        "os": sys.modules["os"],
        "In": ["", "x = 1"],
    }
    view = NamespaceView(namespace, allow=["sales", "db_password", "os"])
    redactor = Redactor.from_namespace(
        namespace, view, environ={"SERVICE_TOKEN": "env-canary-123", "HOME": "/root-canary"}
    )
    text = redactor.text(
        "hunter2-canary private-canary not-allowed-canary env-canary-123 visible-value "
        "x = 1 last-output /root-canary"
    )
    assert text.split() == [REDACTED] * 4 + ["visible-value", "x", "=", "1"] + [
        "last-output",
        "/root-canary",
    ]
    for name in ("db_password", "_private", "others", "any_secret"):
        assert redactor.hides(name)
    for name in ("sales", "os", "_i3", "_", "In", "print"):
        assert not redactor.hides(name)
    assert "canary" not in repr(redactor)


def test_the_api_key_is_redacted_like_everywhere_else():
    key = "sk-proj-canary-history-0123456789"
    redactor = Redactor(key=key)
    assert key[5:25] not in redactor.text(f"echo {key} and {key[3:20]}")
    assert redactor.code(f"print('{key}')")[0] == f"print('{REDACTED}')"


SECRET = "sk-hidden-value-123"


def history(**kwargs):
    inputs = ["", "x = 21", "x * 2", "", "token_count = 7\ntoken_count", "vars()[name]", "z = 1"]
    outputs = {2: 42, 4: 7, 5: SECRET, 6: "not shown: current"}
    namespace = {"x": 21, "secret_thing": SECRET, "token_count": 7}
    redactor = Redactor.from_namespace(namespace, NamespaceView(namespace), environ={})
    kwargs.setdefault("current", 6)
    return NotebookHistory(inputs, outputs, redactor=redactor, label=label, **kwargs)


def test_cells_give_their_code_and_result_and_hide_what_the_tools_hide():
    h = history()
    assert h.numbers() == [1, 2, 4, 5]  # empty cell 3 and the running cell 6 left out
    assert h.input(2) == "x * 2" and h.output(2) == "42"
    assert h.input(4) == f"{HIDDEN_LINE}\n{HIDDEN_LINE}" and h.output(4) == HIDDEN_OUTPUT
    assert h.output(5) == HIDDEN_OUTPUT  # the very object a hidden variable holds
    assert h.input(3) is None and h.input(999) is None and h.input(6) is None
    assert h.output(1) is None and h.output(6) is None
    assert h.error() is None


def test_a_result_is_its_repr_cut():
    class Loud:
        def __repr__(self) -> str:
            return "\x1b[1mloud\x1b[0m " + "y" * 10_000

    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    h = NotebookHistory(["", "a", "b"], {1: Loud(), 2: Broken()})
    loud = h.output(1)
    assert loud.startswith("loud yyy") and "cut" in loud and len(loud) < 2_100
    assert h.output(2) == "<repr() raised RuntimeError: no repr>"


def test_describe_shows_the_last_cells_and_the_last_error():
    error = raised_in_cell("raise ValueError('bad ' + secret_thing)\n", secret_thing=SECRET)
    text = history(error=error).describe(cells=2)
    assert "In[1]" not in text and "In[2]" not in text
    assert "In[4]:" in text and "In[5]:\nvars()[name]\nOut[5]:\n" + HIDDEN_OUTPUT in text
    assert "The last 2 cell(s)" in text and "The last error:" in text
    assert f"ValueError: bad {REDACTED}" in text and 'File "Cell In[3]", line 1' in text
    assert "secret_thing" not in text and "sk-hidden" not in text and "token_count" not in text
    everything = history().describe(cells=1_000)
    assert "In[1]:\nx = 21" in everything and "Out[2]:\n42" in everything
    assert everything.endswith(NO_ERROR)
    many = NotebookHistory([""] + [f"c{i}" for i in range(50)], {}).describe(cells=1_000)
    assert many.count("In[") == MOST_CELLS


def test_describe_with_no_cell_yet():
    text = NotebookHistory([""], {}).describe()
    assert "No cell has run" in text and text.endswith(NO_ERROR)


def test_the_tool_is_offered_with_the_variable_tools_and_reads_its_context():
    tools = {t.name: t for t in namespace_tools()}
    assert list(tools)[:2] == ["list_variables", "get_variable"] and "notebook_history" in tools
    tool = tools["notebook_history"]
    assert tool.parameters["properties"]["cells"]["type"] == "integer"
    assert tool.parameters["required"] == []
    context = ToolContext(notebook_history=history())
    out = asyncio.run(invoke(tools, "notebook_history", '{"cells": 1}', context))
    assert out.success and "In[5]:" in out.content and "In[4]" not in out.content
    missing = asyncio.run(invoke(tools, "notebook_history", "{}", ToolContext()))
    assert not missing.success and "not available" in json.loads(missing.content)["error"]


def test_the_tool_function_can_be_made_into_a_tool_again():
    assert make_tool(notebook_history).name == "notebook_history"


@pytest.mark.parametrize("cells", [0, -3])
def test_fewer_than_one_cell_means_one(cells):
    assert history().describe(cells=cells).count("In[") == 1
