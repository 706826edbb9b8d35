"""The notebook's variables as tools see them: filtered, read-only, copies, and a record of reads.

In process for the rules, and in a real kernel for ``--vars`` (allow-list),
``LuxxMagics.hidden_variables`` (deny-list) and the record of reads shown in the run's tree.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import numpy as np
import pandas as pd
import pytest
from support.builders import text_stream, tool_call_stream
from support.faults.checks import Recorder, seen_and_hidden
from support.kernel import Kernel, kernel_env
from support.server import LLMServer

from luxx_nb import Chat, ToolContext
from luxx_nb.errors import VariableAccessError
from luxx_nb.events import ToolResultStep
from luxx_nb.namespace import COPY_LIMIT, NamespaceView
from luxx_nb.render.live.parts import ToolCallView
from luxx_nb.tools import invoke, make_tool
from luxx_nb.variable_tools import namespace_tools


def notebook() -> dict[str, Any]:
    return {
        "sales": pd.DataFrame({"region": ["north", "south"], "amount": [10, 20]}),
        "prices": pd.Series([1.5, 2.5], name="price"),
        "grid": np.arange(6).reshape(2, 3),
        "cells": np.array([[1], [2]], dtype=object),
        "rows": [{"id": 1, "tags": ["a"]}],
        "count": 3,
        "_private": 1,
        "json": json,
        "OPENAI_API_KEY": "sk-not-for-tools",
        "db_password": "hunter2",
        "access_token": "t0k3n",
    }


def test_defaults_hide_private_modules_and_secret_looking_names() -> None:
    view = NamespaceView(notebook())
    assert list(view) == ["sales", "prices", "grid", "cells", "rows", "count"]
    for hidden in ("_private", "json", "OPENAI_API_KEY", "db_password", "access_token"):
        assert hidden not in view


def test_allow_and_deny_lists_narrow_and_widen_within_the_defaults() -> None:
    ns = notebook()
    assert list(NamespaceView(ns, allow=["count", "rows", "db_password"])) == ["rows", "count"]
    assert list(NamespaceView(ns, deny=["sales", "grid"])) == ["prices", "cells", "rows", "count"]
    chat = Chat(model="m", base_url="http://127.0.0.1:9/v1", namespace=ns)
    chat.visible_variables, chat.hidden_variables = ["count", "rows"], ("rows",)
    assert list(chat.namespace or ()) == ["count"]


def test_values_handed_to_tools_cannot_change_the_notebook() -> None:
    ns = notebook()
    before = {k: repr(v) for k, v in ns.items()}
    view = NamespaceView(ns, protect=True)
    view["rows"][0]["tags"].append("b")
    view["rows"].clear()
    frame = view["sales"]
    frame.loc[0, "amount"] = -1
    frame["new"] = 1
    series = view["prices"]
    series.iloc[0] = -1.0
    with pytest.raises(ValueError, match="read-only"):
        view["grid"][0, 0] = -1
    view["cells"][0, 0] = -1  # an object array is a deep copy: its items are objects
    assert {k: repr(v) for k, v in ns.items()} == before
    assert view.reads == ("rows", "sales", "prices", "grid", "cells")


def test_no_assignment_deletion_or_attribute_through_the_view_or_the_chat() -> None:
    ns = {"x": [1]}
    chat = Chat(model="m", base_url="http://127.0.0.1:9/v1", namespace=ns)
    for view in (NamespaceView(ns, protect=True), chat.namespace):
        with pytest.raises(TypeError):
            view["x"] = 2  # type: ignore[index]
        with pytest.raises(TypeError):
            del view["x"]  # type: ignore[attr-defined]
        with pytest.raises(AttributeError):
            view.x = 2  # type: ignore[union-attr]
        view["x"].append(2)  # type: ignore[index]
    assert ns == {"x": [1]}


def test_large_or_uncopyable_values_are_refused_not_handed_over_live() -> None:
    ns = {"big": list(range(COPY_LIMIT + 1)), "lock": threading.Lock(), "ok": list(range(10))}
    view = NamespaceView(ns, protect=True)
    with pytest.raises(VariableAccessError, match="more than 1,000,000 items"):
        view["big"]
    with pytest.raises(VariableAccessError, match="cannot be copied for a tool"):
        view["lock"]
    assert view["ok"] == list(range(10)) and view["ok"] is not ns["ok"]
    assert "big" in view and "lock" in view  # membership neither copies nor records a read
    assert view.reads == ("big", "lock", "ok")


def test_membership_and_listing_record_nothing() -> None:
    view = NamespaceView(notebook(), protect=True)
    assert "sales" in view and list(view) and len(view) == 6
    assert view.reads == ()


def run_tool(name: str, arguments: str, view: NamespaceView) -> Any:
    tools = {t.name: t for t in namespace_tools()}
    return asyncio.run(invoke(tools, name, arguments, ToolContext(namespace=view)))


def test_builtin_tools_record_what_the_model_read() -> None:
    view = NamespaceView(notebook(), protect=True)
    shown = run_tool("get_variable", '{"name": "sales"}', view)
    assert "north" in shown.content and shown.variables == ("sales",)
    listed = run_tool("list_variables", "{}", NamespaceView(notebook(), protect=True))
    assert listed.variables == ("sales", "prices", "grid", "cells", "rows", "count")
    missing = run_tool("get_variable", '{"name": "db_password"}', NamespaceView(notebook()))
    assert missing.variables == () and "hunter2" not in missing.content


def test_get_variable_shows_a_value_too_large_to_copy() -> None:
    view = NamespaceView({"big": list(range(COPY_LIMIT + 1))}, protect=True)
    shown = run_tool("get_variable", '{"name": "big"}', view)
    assert shown.success and shown.content.startswith("big (list):\n[0, 1, 2")


def test_a_tool_failing_on_a_refused_variable_says_why() -> None:
    def use(context: ToolContext) -> int:
        """Reads the lock."""
        return len(str(context.namespace["lock"]))

    chosen = make_tool(use)
    view = NamespaceView({"lock": threading.Lock()}, protect=True)
    out = asyncio.run(invoke({"use": chosen}, "use", "{}", ToolContext(namespace=view)))
    assert not out.success and "VariableAccessError" in out.content
    assert "cannot be copied for a tool" in out.content and out.variables == ("lock",)


def test_the_run_shows_which_variables_were_read() -> None:
    result = ToolResultStep(
        index=2,
        id_ref="step-1",
        name="get_variable",
        content="sales: …",
        success=True,
        variables=("sales", "prices", "grid", "rows"),
    )
    view = ToolCallView(name="get_variable")
    view.update(result=result)
    assert view.titles[0].endswith("· read: sales, prices, grid, … 4 variables")
    body = " ".join(w.value for w in view.children[0].children if hasattr(w, "value"))
    assert "variables read: sales, prices, grid, rows" in body


def test_reads_reach_the_step_through_chat() -> None:
    with LLMServer() as server:
        server.enqueue(
            tool_call_stream([("get_variable", {"name": "sales"}), ("list_variables", {})]),
            text_stream("Read them."),
        )
        chat = Chat(model="m", base_url=server.base_url, api_key="k", namespace=notebook())
        recorder = Recorder()
        chat.add_view(recorder)
        reply = chat.send("look")
    reads = {s.name: s.variables for s in reply.steps if isinstance(s, ToolResultStep)}
    assert reads["get_variable"] == ("sales",)
    assert reads["list_variables"] == ("sales", "prices", "grid", "cells", "rows", "count")
    seen, hidden = seen_and_hidden(recorder.runs[0])
    assert "· read: sales" in seen  # the title, in view without a click
    assert "variables read: sales" in hidden  # the call's body, one click away


@pytest.fixture(scope="module")
def kernel() -> Any:
    running = Kernel(kernel_env())
    try:
        yield running
    finally:
        running.close()


def test_vars_and_hidden_variables_in_a_kernel(kernel: Kernel) -> None:
    with LLMServer() as server:
        server.script(
            lambda body: (
                text_stream("Seen.")
                if body["messages"][-1]["role"] == "tool"
                else tool_call_stream([("list_variables", {})])
            )
        )
        kernel.run(
            "%load_ext luxx_nb\n"
            "sales = [1, 2]\nprices = [3]\nnotes = 'n'\napi_key_backup = 'sk-hidden-1'\n"
            "%config LuxxMagics.hidden_variables = ['prices']"
        )
        base = f"%%luxx --model m --base-url {server.base_url} --tools list_variables"
        everything = kernel.run(f"{base}\nall")
        narrowed = kernel.run(f"{base} --vars sales,api_key_backup,prices\nonly some")
        listings = [
            r.body["messages"][-1]["content"]
            for r in server.requests
            if r.body["messages"][-1]["role"] == "tool"
        ]
    assert "sales (list)" in listings[0] and "notes (str)" in listings[0]
    assert "prices" not in listings[0] and "api_key_backup" not in listings[0]
    assert listings[1].splitlines() == ["sales (list): len 2"]
    assert "read: sales, notes" in kernel.seen_and_hidden(everything)[0]
    assert "read: sales" in kernel.seen_and_hidden(narrowed)[0]
