"""A small MCP server over stdio that misbehaves on purpose, for the MCP fault rows.

``python tests/mcp_fake.py BEHAVIOUR``. It speaks the protocol by hand (JSON-RPC, one message
a line), as an older server would: ``server/discover`` is an unknown method, ``initialize``
answers with the version the client asked for. Behaviours:

- ``exit-at-start``: writes a line on stderr and exits with status 3 before answering.
- ``crash``: the tool ``crash`` ends the process in the middle of its call.
- ``hang``: the tool ``stall`` never answers.
- ``malformed``: the tool ``garbled`` answers a text part without its ``text``.
- ``bad-schema``: ``bad_schema``'s input schema is not valid JSON Schema; ``good_one`` is.
- ``record PATH``: the tool ``mark`` appends its ``label`` to the file PATH, a line a call,
  so a test sees from outside which calls reached the server.
- ``env``: the tool ``read_env`` answers the value of the variable ``name`` in its
  environment, or ``(unset)``.
- ``clash``: a tool named ``query``, as luxx_nb's built-in is, that answers ``server query``.
- ``slow``: the tool ``nap`` answers after ``seconds``, each call on its own thread (a
  server that runs calls concurrently, as the protocol allows).
- ``image``: the tool ``picture`` answers a PNG, a JPEG, an SVG and bytes that are not
  base64, with text between.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import threading
import time

PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c63f8cfc0f01f0005000201a5f2f0f50000000049454e44ae426082"
    )
).decode()
JPEG = base64.b64encode(b"\xff\xd8\xff\xe0" + b"\x00" * 20 + b"\xff\xd9").decode()
SVG = base64.b64encode(b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>").decode()

OBJECT = {"type": "object", "properties": {}}
TOOLS = {
    "crash": [{"name": "crash", "description": "Crashes the server.", "inputSchema": OBJECT}],
    "hang": [{"name": "stall", "description": "Never answers.", "inputSchema": OBJECT}],
    "malformed": [{"name": "garbled", "description": "Answers garbage.", "inputSchema": OBJECT}],
    "bad-schema": [
        {
            "name": "bad_schema",
            "description": "Its schema is broken.",
            "inputSchema": {"type": "object", "properties": {"n": {"type": "bogus"}}},
        },
        {
            "name": "good_one",
            "description": "Works.",
            "inputSchema": {
                "type": "object",
                "properties": {"n": {"type": "integer"}},
                "required": ["n"],
            },
        },
    ],
    "image": [{"name": "picture", "description": "Draws.", "inputSchema": OBJECT}],
    "env": [
        {
            "name": "read_env",
            "description": "Reads a variable of its environment.",
            "inputSchema": {"type": "object", "properties": {"name": {"type": "string"}}},
        }
    ],
    "clash": [{"name": "query", "description": "The server's own query.", "inputSchema": OBJECT}],
    "slow": [
        {
            "name": "nap",
            "description": "Answers after a while.",
            "inputSchema": {"type": "object", "properties": {"seconds": {"type": "number"}}},
        }
    ],
    "record": [
        {
            "name": "mark",
            "description": "Writes its label down.",
            "inputSchema": {
                "type": "object",
                "properties": {"label": {"type": "string"}},
                "required": ["label"],
            },
        }
    ],
}


_WRITING = threading.Lock()


def send(message: dict) -> None:
    with _WRITING:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()


def nap(request: dict) -> None:
    seconds = request["params"].get("arguments", {}).get("seconds", 1)
    time.sleep(seconds)
    result(request, {"content": [{"type": "text", "text": f"slept {seconds}"}]})


def result(request: dict, value: dict) -> None:
    send({"jsonrpc": "2.0", "id": request["id"], "result": value})


def call(behaviour: str, request: dict) -> None:
    name = request["params"]["name"]
    if name == "crash":
        print("crashing on purpose", file=sys.stderr, flush=True)
        os._exit(1)
    if name == "stall":
        time.sleep(3600)
    if name == "garbled":
        return result(request, {"content": [{"type": "text"}], "isError": False})
    if name == "good_one":
        n = request["params"].get("arguments", {}).get("n")
        return result(request, {"content": [{"type": "text", "text": f"good {n}"}]})
    if name == "read_env":
        value = os.environ.get(request["params"].get("arguments", {}).get("name", ""), "(unset)")
        return result(request, {"content": [{"type": "text", "text": value}]})
    if name == "query":
        return result(request, {"content": [{"type": "text", "text": "server query"}]})
    if name == "nap":
        return threading.Thread(target=nap, args=(request,), daemon=True).start()
    if name == "mark":
        label = request["params"].get("arguments", {}).get("label", "")
        with open(sys.argv[2], "a", encoding="utf-8") as marks:
            marks.write(label + "\n")
        return result(request, {"content": [{"type": "text", "text": f"marked {label}"}]})
    if name == "picture":
        parts = [
            {"type": "text", "text": "Here:"},
            {"type": "image", "data": PNG, "mimeType": "image/png"},
            {"type": "image", "data": JPEG, "mimeType": "image/jpeg"},
            {"type": "image", "data": SVG, "mimeType": "image/png"},
            {"type": "image", "data": "not base64 at all!", "mimeType": "image/png"},
        ]
        return result(request, {"content": parts})
    send({"jsonrpc": "2.0", "id": request["id"], "error": {"code": -32602, "message": name}})


def main() -> None:
    behaviour = sys.argv[1]
    if behaviour == "exit-at-start":
        print("this server refuses to start", file=sys.stderr, flush=True)
        sys.exit(3)
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        if "id" not in request:
            continue  # a notification
        method = request.get("method")
        if method == "initialize":
            version = request["params"].get("protocolVersion", "2025-06-18")
            result(
                request,
                {
                    "protocolVersion": version,
                    "capabilities": {"tools": {}},
                    "serverInfo": {"name": f"fake-{behaviour}", "version": "1"},
                },
            )
        elif method == "tools/list":
            result(request, {"tools": TOOLS[behaviour]})
        elif method == "tools/call":
            call(behaviour, request)
        elif method == "ping":
            result(request, {})
        else:
            error = {"code": -32601, "message": f"Method not found: {method}"}
            send({"jsonrpc": "2.0", "id": request["id"], "error": error})


if __name__ == "__main__":
    main()
