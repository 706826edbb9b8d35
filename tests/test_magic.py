"""``%%luxx`` in a real Jupyter kernel (nbclient / jupyter_client) against the loopback server."""

from __future__ import annotations

import json
import queue
import time

import nbformat
import pytest
from jupyter_client.manager import start_new_kernel
from nbclient import NotebookClient
from support.builders import text_stream, tool_call_stream

KEY = "sk-canary-magic-5f1e2d3c4b5a69788796a5b4"


def run_notebook(cells, **kwargs):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    client = NotebookClient(
        nb, kernel_name="python3", timeout=120, store_widget_state=True, **kwargs
    )
    client.execute()
    return nb


def luxx(server, body, extra=""):
    options = f"--model test-model --base-url {server.base_url} --api-key-env LUXX_TEST_KEY"
    return f"%%luxx {options} {extra}\n{body}"


@pytest.fixture
def key_env(monkeypatch):
    monkeypatch.setenv("LUXX_TEST_KEY", KEY)


def test_cells_read_variables_continue_and_keep_the_key_out(llm_server, key_env):
    llm_server.enqueue(
        tool_call_stream([("list_variables", {})]),
        tool_call_stream([("get_variable", {"name": "sales"})]),
        text_stream("Sales has columns region and amount."),
        text_stream("The total is 60."),
    )
    nb = run_notebook(
        [
            "%load_ext luxx_nb",
            "import pandas as pd\n"
            "sales = pd.DataFrame({'region': ['north', 'south', 'east'], 'amount': [10, 20, 30]})\n"
            "db_password = 'hunter2-canary'",
            luxx(llm_server, "What is in sales?"),
            luxx(llm_server, "And the total?"),
            "%luxx history",
        ]
    )
    first, second = nb.cells[2], nb.cells[3]
    for cell in (first, second):
        kinds = [o.output_type for o in cell.outputs]
        assert "error" not in kinds, cell.outputs
        bundles = [o.data for o in cell.outputs if o.output_type == "display_data"]
        # The live widget tree, replaced by its static snapshot when the run ended.
        assert any("luxx-snapshot" in b.get("text/html", "") for b in bundles)
    requests = llm_server.requests
    assert len(requests) == 4
    assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in requests)
    listing = requests[1].body["messages"][-1]["content"]
    assert "sales" in listing and "DataFrame" in listing
    assert "db_password" not in listing and "hunter2" not in json.dumps(requests[1].body)
    assert "open" not in listing  # IPython's own callables are not the user's variables
    table = requests[2].body["messages"][-1]["content"]
    assert "region" in table and "north" in table  # the tool saw the earlier cell's DataFrame
    roles = [m["role"] for m in requests[3].body["messages"]]
    assert roles == ["user", "assistant", "tool", "assistant", "tool", "assistant", "user"]
    shown = [  # what the saved notebook shows once the runs end: their snapshots
        "".join(o.get("data", {}).get("text/html", "") for o in cell.outputs)
        for cell in (first, second)
    ]
    assert "Sales has columns region and amount." in shown[0] and "The total is 60." in shown[1]
    assert shown[0].index("get_variable") < shown[0].index("Sales has columns")
    history = "".join(o.get("text", "") for o in nb.cells[4].outputs)
    assert "And the total?" in history and "The total is 60." in history
    saved = nbformat.writes(nb)
    assert KEY not in saved and KEY[8:] not in saved


def test_cell_magic_help_lists_the_options():
    # %%luxx? shows this docstring in the pager, which nbclient does not keep: print it instead.
    nb = run_notebook(["%load_ext luxx_nb", "print(get_ipython().find_cell_magic('luxx').__doc__)"])
    help_text = json.dumps([o for c in nb.cells for o in c.outputs])
    for option in ("--model", "--api-key-env", "--no-thinking", "--tools", "--chat", "--new"):
        assert option in help_text


def test_config_traits_and_named_chats(llm_server):
    llm_server.enqueue(text_stream("A1"), text_stream("B1"), text_stream("A2"))
    base = llm_server.base_url
    nb = run_notebook(
        [
            "%load_ext luxx_nb",
            f"%config LuxxMagics.base_url = '{base}'\n%config LuxxMagics.model = 'cfg-model'",
            "%%luxx --chat a --no-tools\nfirst a",
            "%%luxx --chat b --no-tools --temperature 0.5 --seed 3\nfirst b",
            "%%luxx --chat a --no-tools\nsecond a",
            "%luxx config",
        ]
    )
    bodies = [r.body for r in llm_server.requests]
    assert [b["model"] for b in bodies] == ["cfg-model"] * 3
    assert bodies[1]["temperature"] == 0.5 and "temperature" not in bodies[0]
    assert bodies[1]["seed"] == 3 and "seed" not in bodies[2]
    assert [m["content"] for m in bodies[2]["messages"]] == ["first a", "A1", "second a"]
    assert "tools" not in bodies[0]
    config_text = "".join(o.get("text", "") for o in nb.cells[5].outputs)
    assert "cfg-model" in config_text and "conversations: a, b" in config_text


def test_interrupt_closes_the_stream_and_the_next_cell_works(llm_server):
    llm_server.enqueue(text_stream("word " * 200, fragment_size=5, delay=0.05), text_stream("next"))
    km, kc = start_new_kernel(kernel_name="python3")
    try:
        execute(kc, "%load_ext luxx_nb")
        msg_id = kc.execute(luxx_cell(llm_server, "long answer please"))
        time.sleep(1.5)
        km.interrupt_kernel()
        reply = wait_reply(kc, msg_id, timeout=15)
        assert reply["content"]["status"] == "error"
        assert reply["content"]["ename"] == "KeyboardInterrupt"
        assert llm_server.wait_for_disconnect(timeout=5)
        outputs = execute(kc, luxx_cell(llm_server, "are you there?"))
        assert not [o for o in outputs if o["msg_type"] == "error"], outputs
        history = execute(kc, "%luxx history")
        text = "".join(o["content"].get("text", "") for o in history if o["msg_type"] == "stream")
        assert "[assistant]\nword word" in text  # the partial answer was kept
        assert text.rstrip().endswith("next")
        sent = llm_server.requests[1].body["messages"]
        assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def luxx_cell(server, body):
    return f"%%luxx --model test-model --base-url {server.base_url} --no-tools\n{body}"


def wait_reply(kc, msg_id, timeout):
    deadline = time.monotonic() + timeout
    while True:
        msg = kc.get_shell_msg(timeout=max(deadline - time.monotonic(), 0.1))
        if msg["parent_header"].get("msg_id") == msg_id:
            return msg


def execute(kc, code, timeout=60):
    """Run ``code``; return its IOPub messages (assert it did not fail to reply)."""
    msg_id = kc.execute(code)
    outputs, deadline = [], time.monotonic() + timeout
    while True:
        try:
            msg = kc.get_iopub_msg(timeout=max(deadline - time.monotonic(), 0.1))
        except queue.Empty as exc:
            raise AssertionError(f"no idle after {timeout} s: {outputs}") from exc
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return outputs
        outputs.append(msg)


def test_prompt_variables_tool_choice_and_reset(llm_server):
    llm_server.enqueue(text_stream("one"), text_stream("two"), text_stream("three"))
    base = f"--model m --base-url {llm_server.base_url}"
    nb = run_notebook(
        [
            "%load_ext luxx_nb",
            "import luxx_nb\nx = 42\nsecret_key = 'sk-nope'\n\n@luxx_nb.tool\n"
            "def double(n: int) -> int:\n    '''Double a number.\n\n    n: the number\n    '''\n"
            "    return 2 * n",
            f"%%luxx {base} --tools double --no-thinking\nx is {{x}}, {{{{x}}}} stays, "
            "{unknown} stays, {secret_key} stays",
            f"%%luxx {base} --no-tools\nsecond",
            "%luxx reset",
            f"%%luxx {base}\nafter reset",
        ]
    )
    first, second, third = (r.body for r in llm_server.requests)
    prompt = first["messages"][0]["content"]
    assert prompt == "x is 42, {x} stays, {unknown} stays, {secret_key} stays"
    assert [t["function"]["name"] for t in first["tools"]] == ["double"]
    assert first["thinking"] == {"type": "disabled"}
    assert "tools" not in second and len(second["messages"]) == 3
    assert [m["content"] for m in third["messages"]] == ["after reset"]
    assert {"list_variables", "get_variable", "double"} <= {
        t["function"]["name"] for t in third["tools"]
    }
    assert "cleared" in "".join(o.get("text", "") for o in nb.cells[4].outputs)


def test_unknown_tool_name_is_a_usage_error(llm_server):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("%load_ext luxx_nb"),
        nbformat.v4.new_code_cell(f"%%luxx -m m --base-url {llm_server.base_url} --tools nope\nhi"),
    ]
    NotebookClient(nb, kernel_name="python3", timeout=60, allow_errors=True).execute()
    shown = "".join(o.get("text", "") for o in nb.cells[1].outputs)  # IPython prints usage errors
    assert "UsageError: Unknown tool(s): nope. Available: list_variables, get_variable" in shown
    assert not llm_server.requests


def test_a_key_pasted_into_api_key_env_is_not_echoed_and_timeout_applies(llm_server):
    from support.builders import hang

    pasted = "sk-proj-pasted-by-mistake-0123456789"
    llm_server.enqueue(hang(3))
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("%load_ext luxx_nb"),
        nbformat.v4.new_code_cell(
            f"%%luxx -m m --base-url {llm_server.base_url} --api-key-env {pasted}\nhi"
        ),
        nbformat.v4.new_code_cell(
            f"%%luxx -m m --base-url {llm_server.base_url} --timeout 0.5\nhi"
        ),
    ]
    NotebookClient(nb, kernel_name="python3", timeout=60, allow_errors=True).execute()
    outputs = json.dumps([cell.outputs for cell in nb.cells])  # the cell itself holds it, sadly
    assert pasted not in outputs and "not the key itself" in outputs
    shown = "".join(o.get("data", {}).get("text/plain", "") for o in nb.cells[2].outputs)
    assert "sent nothing for 0.5 s" in shown


# -- the notebook's own history: {error}, {In[n]}, {Out[n]}, notebook_history, %luxx code -------


def test_interpolate_reads_the_history_only_when_given_one():
    from luxx_nb.history import NO_ERROR, NotebookHistory
    from luxx_nb.notebook import interpolate

    history = NotebookHistory(["", "x = 1\nx + 1"], {1: 2})
    namespace = {"error": "my own variable", "x": 1}
    prompt = "{error} | {In[1]} | {Out[1]} | {In[9]} | {Out[0]} | {{In[1]}} | {x}"
    assert interpolate(prompt, namespace, (), history) == (
        f"{NO_ERROR} | x = 1\nx + 1 | 2 | {{In[9]}} | {{Out[0]}} | {{In[1]}} | 1"
    )
    assert interpolate(prompt, namespace) == (
        "my own variable | {In[1]} | {Out[1]} | {In[9]} | {Out[0]} | {In[1]} | 1"
    )


def test_last_answer_is_the_last_assistant_text():
    from luxx_nb.notebook import last_answer

    messages = [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "first"},
        {"role": "user", "content": "q2"},
        {"role": "assistant", "content": None, "tool_calls": []},
        {"role": "tool", "content": "result"},
        {"role": "assistant", "content": "second"},
        {"role": "user", "content": "q3"},
    ]
    assert last_answer(messages) == "second"
    assert last_answer(messages[:1]) is None


def test_prompt_references_to_the_last_error_and_to_earlier_cells(llm_server):
    llm_server.enqueue(text_stream("none yet"), text_stream("I see"))
    base = f"--model m --base-url {llm_server.base_url}"
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(source)
        for source in (
            "%load_ext luxx_nb",
            f"%%luxx {base} --no-tools\nAny error? {{error}}",
            "x = 21\nx * 2",
            "def f():\n    return 1 / 0\n\nf()",
            f"%%luxx {base}\nWhy? {{error}}\nCode: {{In[3]}}\nResult: {{Out[3]}}\n"
            "Unknown: {In[999]} {Out[4]} {{In[3]}}",
        )
    ]
    NotebookClient(nb, kernel_name="python3", timeout=120, allow_errors=True).execute()
    assert [o.output_type for o in nb.cells[3].outputs] == ["error"]
    first, second = (r.body["messages"][-1]["content"] for r in llm_server.requests)
    assert first == "Any error? (no error has been raised in this notebook yet)"
    why, rest = second.split("\nCode: ")
    assert why.startswith("Why? Traceback (most recent call last):\n")
    assert 'File "Cell In[4]", line 4, in <module>\n    f()' in why
    assert 'File "Cell In[4]", line 2, in f\n    return 1 / 0' in why
    assert why.endswith("ZeroDivisionError: division by zero")
    assert "\x1b" not in why and "interactiveshell" not in why and "ipykernel" not in why
    assert rest == "x = 21\nx * 2\nResult: 42\nUnknown: {In[999]} {Out[4]} {In[3]}"
    offered = [t["function"]["name"] for t in llm_server.requests[1].body["tools"]]
    assert offered[:2] == ["list_variables", "get_variable"] and "notebook_history" in offered


def test_notebook_history_tool_shows_the_cells_but_nothing_the_tools_hide(llm_server, key_env):
    llm_server.enqueue(
        tool_call_stream([("notebook_history", {"cells": 10})]), text_stream("Seen it.")
    )
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(source)
        for source in (
            "%load_ext luxx_nb",
            "db_password = 'hunter2-canary-value'",
            "import os\nnote = 'the key is ' + os.environ['LUXX_TEST_KEY']",
            "note",
            "config = {'user': 'ann', 'pw': db_password}",
            "config",
            "visible = 5\nvisible + 1",
            "raise ValueError('bad ' + db_password)",
            luxx(llm_server, "What did I run?", "--tools notebook_history"),
        )
    ]
    NotebookClient(nb, kernel_name="python3", timeout=120, allow_errors=True).execute()
    assert not [o for o in nb.cells[8].outputs if o.output_type == "error"], nb.cells[8].outputs
    asked, answered = llm_server.requests
    assert [t["function"]["name"] for t in asked.body["tools"]] == ["notebook_history"]
    result = answered.body["messages"][-1]["content"]
    assert "In[7]:\nvisible = 5\nvisible + 1\nOut[7]:\n6" in result
    assert "In[4]:\nnote\nOut[4]:\n'the key is [redacted]'" in result
    assert "Out[6]:\n{'user': 'ann', 'pw': '[redacted]'}" in result
    assert "# [hidden: this line names a variable the tools do not show]" in result
    assert "The last error:" in result and "ValueError: bad [redacted]" in result
    for leak in ("hunter2", "db_password", "LUXX_TEST_KEY", KEY, KEY[8:20], KEY[-12:]):
        assert leak not in result, leak


def execute_with_reply(kc, code, timeout=60):
    """Run ``code``; return its execute_reply and what it printed (stdout and stderr)."""
    msg_id = kc.execute(code)
    reply = wait_reply(kc, msg_id, timeout)
    printed, deadline = [], time.monotonic() + timeout
    while True:
        msg = kc.get_iopub_msg(timeout=max(deadline - time.monotonic(), 0.1))
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            printed.append(msg["content"]["text"])
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return reply["content"], "".join(printed)


def next_inputs(reply):
    return [p["text"] for p in reply.get("payload", []) if p.get("source") == "set_next_input"]


def test_luxx_code_puts_the_last_answer_code_into_a_new_cell(llm_server):
    answer = "Try this:\n\n```python\nprint('one')\n```\n\nthen:\n\n~~~\nx = 2\n~~~\n"
    llm_server.enqueue(text_stream(answer), text_stream("No code this time."))
    km, kc = start_new_kernel(kernel_name="python3")
    try:
        execute(kc, "%load_ext luxx_nb")
        reply, printed = execute_with_reply(kc, "%luxx code")
        assert not next_inputs(reply) and "no answer in conversation 'default' yet" in printed
        execute(kc, luxx_cell(llm_server, "some code please"))
        reply, printed = execute_with_reply(kc, "%luxx code")
        assert next_inputs(reply) == ["print('one')\n\nx = 2"]
        assert "2 code blocks are in a new cell below" in printed
        reply, printed = execute_with_reply(kc, "%luxx code 2")
        assert next_inputs(reply) == ["x = 2"] and "code block 2 of 2" in printed
        reply, printed = execute_with_reply(kc, "%luxx code 3")
        assert not next_inputs(reply) and reply["status"] == "error"
        assert "takes 1 to 2, not '3'" in printed
        execute(kc, luxx_cell(llm_server, "and now?"))
        reply, printed = execute_with_reply(kc, "%luxx code")
        assert not next_inputs(reply) and "The last answer has no code block" in printed
        reply, printed = execute_with_reply(kc, "%luxx help")
        assert "%luxx code [N]" in printed
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
