"""A scripted stand-in for a tool-using model, so tools.ipynb runs offline and the same every time.

It speaks the OpenAI streaming wire on 127.0.0.1 and plays the model's part of that notebook:
it asks for the notebook's variables, reads the DataFrame it finds, totals it with the
``query`` tool's SQL, calls the notebook's own ``exchange_rate`` tool twice at once, and answers
from what the tools really returned. Its
choices are scripted; the data in its answers comes from the tools. Point the notebook at a
real model (LUXX_BASE_URL, LUXX_API_KEY, LUXX_MODEL) to see a real one decide.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["start"]


def _think_and_call(thinking: str, calls: list[tuple[str, dict[str, Any]]]) -> list[dict]:
    deltas: list[dict] = [{"reasoning_content": word} for word in re.findall(r"\S+\s*", thinking)]
    for index, (name, arguments) in enumerate(calls):
        call = {"index": index, "id": f"call_{name}_{index}", "type": "function"}
        deltas.append({"tool_calls": [{**call, "function": {"name": name, "arguments": ""}}]})
        text = json.dumps(arguments)
        for start in range(0, len(text), 6):
            piece = {"index": index, "function": {"arguments": text[start : start + 6]}}
            deltas.append({"tool_calls": [piece]})
    return deltas


def _say(text: str) -> list[dict]:
    return [{"content": word} for word in re.findall(r"\S+\s*|\n+", text)]


def _table(tool_text: str) -> list[list[str]]:
    """The rows of a ``DataFrame.to_string()`` printed by get_variable."""
    lines = [line.split() for line in tool_text.splitlines() if line.strip()]
    start = next(i for i, cells in enumerate(lines) if cells and cells[0] == "region")
    return [cells for cells in lines[start + 1 :] if len(cells) >= 3 and cells[0].isdigit()]


def _reply(messages: list[dict[str, Any]]) -> tuple[list[dict], str]:
    """The deltas of the next answer, and its finish reason, from the conversation so far."""
    last = messages[-1]
    prompt = next(m["content"] for m in reversed(messages) if m["role"] == "user")
    if "share" in prompt:
        return _share(last)
    if "delivery" in prompt:
        return _delivery(last)
    if "Tokyo" in prompt:
        return _tokyo(last)
    if last["role"] == "user" and "region" in prompt:
        thought = "The user asks about the notebook's data. I should see which variables exist."
        return _think_and_call(thought, [("list_variables", {})]), "tool_calls"
    if last["role"] == "user":
        thought = "Two currencies: I can ask for both rates at once."
        calls = [("exchange_rate", {"currency": c}) for c in ("EUR", "JPY")]
        return _think_and_call(thought, calls), "tool_calls"
    results = [m for m in messages if m["role"] == "tool"]
    if "region" in prompt and len(results) == 1:
        name = re.search(r"^\s*(\w+) \(DataFrame\b", results[0]["content"], re.M)
        thought = f"There is a DataFrame called {name.group(1)}. Let me read it."
        return _think_and_call(thought, [("get_variable", {"name": name.group(1)})]), "tool_calls"
    if "region" in prompt:
        rows = _table(results[-1]["content"])
        best = max(rows, key=lambda cells: float(cells[2]))
        lines = "\n".join(f"| {c[1]} | {c[2]} |" for c in rows)
        text = (
            f"**{best[1]}** sold the most: {best[2]} units.\n\n"
            f"| region | units |\n|---|---|\n{lines}\n"
        )
        return _say(text), "stop"
    rates = [json.loads(m["content"]) for m in results[-2:]]
    lines = "\n".join(f"| {r['currency']} | {r['rate']} |" for r in rates)
    return _say(
        f"Both rates, fetched in parallel:\n\n| currency | per USD |\n|---|---|\n{lines}\n"
    ), "stop"


DELIVERY = {
    "day": "2026-12-04",
    "stops": [{"city": "Lyon", "crates": 3}, {"city": "Dijon", "crates": 5}],
}


def _delivery(last: dict[str, Any]) -> tuple[list[dict], str]:
    """A pydantic-typed tool: a date and a list of models as JSON, then the answer."""
    if last["role"] == "user":
        thought = "A day and two stops: plan_delivery takes both."
        return _think_and_call(thought, [("plan_delivery", DELIVERY)]), "tool_calls"
    result = json.loads(last["content"])
    text = (
        f"The round is on a **{result['weekday']}**: {result['stops']} stops, "
        f"{result['crates']} crates in all."
    )
    return _say(text), "stop"


def _tokyo(last: dict[str, Any]) -> tuple[list[dict], str]:
    """An MCP server's tool (mcp-server-time's get_current_time)."""
    if last["role"] == "user":
        thought = "The time server has get_current_time; Tokyo is Asia/Tokyo."
        calls = [("get_current_time", {"timezone": "Asia/Tokyo"})]
        return _think_and_call(thought, calls), "tool_calls"
    result = json.loads(last["content"])
    text = f"The time server answered for **{result['timezone']}**: open the call to see the time."
    return _say(text), "stop"


SHARE_SQL = (
    "SELECT region, SUM(units) AS units, "
    "ROUND(100.0 * SUM(units) / SUM(SUM(units)) OVER (), 1) AS share "
    "FROM sales GROUP BY region ORDER BY units DESC"
)


def _share(last: dict[str, Any]) -> tuple[list[dict], str]:
    """Totals and shares: one SQL query over the table, then the answer from its rows."""
    if last["role"] == "user":
        thought = "Totals and shares are an aggregate: one SQL query over sales does it."
        return _think_and_call(thought, [("query", {"sql": SHARE_SQL})]), "tool_calls"
    result = json.loads(last["content"])
    rows = result["rows"]
    total = sum(row[1] for row in rows)
    lines = "\n".join(f"| {r[0]} | {r[1]} | {r[2]} % |" for r in rows)
    text = (
        f"{total} units in all; **{rows[0][0]}** has the largest share.\n\n"
        f"| region | units | share |\n|---|--:|--:|\n{lines}\n"
    )
    return _say(text), "stop"


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        deltas, finish = _reply(body["messages"])
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        chunks = [{"choices": [{"index": 0, "delta": d}]} for d in deltas]
        chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
        chunks.append(
            {"choices": [], "usage": {"prompt_tokens": 50, "completion_tokens": len(deltas)}}
        )
        for chunk in chunks:
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
            time.sleep(0.01)
        self.wfile.write(b"data: [DONE]\n\n")


def start() -> str:
    """Serve on a free loopback port in a daemon thread; return the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/v1"
