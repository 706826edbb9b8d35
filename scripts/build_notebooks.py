"""Write the example notebooks' sources, then execute them so they are committed with outputs.

Strict nbval compares outputs only for executed cells, so the notebooks are saved executed.
Run from the repository root: ``python scripts/build_notebooks.py [name ...]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent.parent / "notebooks"
md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell

ENDPOINT_NOTE = (
    "**Endpoint.** {what} To use another model, set `LUXX_BASE_URL`, `LUXX_MODEL` and the key's "
    "variable before starting Jupyter, or in a cell: `%config LuxxMagics.base_url = "
    '"https://api.deepseek.com"`, `%config LuxxMagics.model = "deepseek-chat"` and '
    '`%config LuxxMagics.api_key_env = "DEEPSEEK_API_KEY"` (the *name* of the variable holding '
    "the key; a key is never written in a cell)."
)

NOTEBOOKS = {
    "quickstart": [
        md(
            "# luxx_nb quickstart\n\n"
            "A `%%luxx` cell sends its body to a language model and shows the answer as it "
            "streams: thinking, text rendered as Markdown, tool calls, and a status line.\n\n"
            + ENDPOINT_NOTE.format(
                what="With no endpoint and no key configured, as here, luxx_nb starts a *tiny "
                "local model* on this machine (SmolLM2-135M through llama.cpp; "
                '`pip install "luxx_nb[local]"`). It is fast and offline, and not clever: the '
                "status line says so."
            )
        ),
        code("%load_ext luxx_nb"),
        md(
            "## A first run\n\n`--temperature 0 --seed 1` make the answer repeatable (this "
            "notebook is checked in CI against its saved outputs)."
        ),
        code(
            "%%luxx --temperature 0 --seed 1 --max-tokens 60\nIn one sentence, what is a notebook?"
        ),
        md(
            "## Memory across cells\n\nEach `%%luxx` cell continues the conversation; `--new` "
            "starts a fresh one and `--chat NAME` keeps several side by side."
        ),
        code("%%luxx --temperature 0 --seed 1 --max-tokens 60\nSay that again, shorter."),
        code("%luxx history"),
        md(
            "## Markdown\n\nAnswers render as Markdown the way a markdown cell does: headings, "
            "lists, tables, code with highlighting, and `$math$`."
        ),
        code(
            '%%luxx --new --temperature 0 --seed 1 --max-tokens 80 --system "Answer with a short '
            'bulleted list."\nName three fruits.'
        ),
        md(
            "## Thinking\n\nModels that think (DeepSeek R1 and V3.2, Qwen3, gpt-oss, Magistral, "
            "GLM…) stream their reasoning first; luxx_nb shows it in a collapsible section that "
            "folds once the answer starts. The tiny local model does not think; with a key:\n\n"
            "```\n%%luxx -m deepseek-reasoner --base-url https://api.deepseek.com "
            "--api-key-env DEEPSEEK_API_KEY\nIs 9.11 larger than 9.9?\n```\n\n"
            "`--thinking` / `--no-thinking` ask a model that can switch."
        ),
        md("`%luxx help`, `%luxx config` and `%%luxx?` say the rest."),
        code("%luxx config"),
    ],
    "tools": [
        md(
            "# Tools: the model reads your variables\n\n"
            "luxx_nb offers the model two built-in tools, `list_variables()` and "
            "`get_variable(name)`, that read this notebook's variables (read-only; private "
            "names, modules and names that look like secrets are never shown), and every "
            "function you decorate with `@luxx_nb.tool`.\n\n"
            + ENDPOINT_NOTE.format(
                what="A model has to decide to call tools, and the tiny local model cannot. "
                "Unless `LUXX_BASE_URL` is set, this notebook starts a **scripted stand-in** "
                "(`stand_in_model.py` beside it) that plays the model's part of this "
                "conversation, so it runs offline and gives the same outputs every time. Its "
                "choices are scripted; what it reports comes from the real tool results."
            )
        ),
        code(
            "import os\n\n"
            'if not os.environ.get("LUXX_BASE_URL"):\n'
            "    import stand_in_model\n\n"
            '    os.environ["LUXX_BASE_URL"] = stand_in_model.start()\n'
            '    os.environ["LUXX_MODEL"] = "stand-in"\n'
            "%load_ext luxx_nb"
        ),
        code(
            "import pandas as pd\n\n"
            "sales = pd.DataFrame(\n"
            '    {"region": ["north", "south", "east", "west"], "units": [120, 340, 95, 210]}\n'
            ').astype({"region": "category"})\n'
            'api_token = "never-shown-to-the-model"  # secret-looking names stay hidden'
        ),
        md("## Reading a DataFrame\n\nOpen a tool call to see its arguments and its result."),
        code("%%luxx\nWhich region sold the most in `sales`?"),
        md(
            "## Questions that need computing: `query`\n\n"
            "Each DataFrame (pandas, polars) or Arrow table the tools can see is also a table "
            "for the built-in `query` tool: one read-only SQL `SELECT` in DuckDB, over the "
            "frame itself (no copy), with nothing to write and no file or network to reach. "
            "The call shows its SQL highlighted and its result as a table."
        ),
        code("%%luxx\nWhat share of all units did each region sell in `sales`?"),
        md(
            "## Your own tool, called in parallel\n\nA typed function with a docstring is "
            "enough; the JSON schema comes from the signature. This one imitates a slow API "
            "(about a second per call); the model asks for two rates at once and both run "
            "together, so the cell takes about one second, not two."
        ),
        code(
            "import time\nfrom typing import Literal\n\nimport luxx_nb\n\nRATES = "
            '{"EUR": 0.92, "JPY": 151.3, "GBP": 0.79}\n'
            'LATENCY = {"EUR": 1.0, "JPY": 1.2, "GBP": 1.1}  # seconds, as a slow API would\n\n\n'
            "@luxx_nb.tool\n"
            'def exchange_rate(currency: Literal["EUR", "JPY", "GBP"]) -> dict:\n'
            '    """How many units of a currency one US dollar buys.\n\n'
            "    currency: the ISO code of the currency\n"
            '    """\n'
            "    time.sleep(LATENCY[currency])\n"
            '    return {"currency": currency, "rate": RATES[currency]}'
        ),
        code("%%luxx\nWhat are the EUR and JPY exchange rates?"),
        md(
            "## Typed arguments, checked by pydantic\n\nDates, models, dataclasses, "
            "`TypedDict`s, tuples and `Field` constraints work as in pydantic: the model sees "
            "their JSON schema, and the function gets a `datetime.date` and `Stop` objects. "
            "Arguments that do not fit come back to the model as a failed call, one line per "
            "problem (`stops[1].crates: Input should be greater than or equal to 0`)."
        ),
        code(
            "import datetime\nfrom typing import Annotated\n\n"
            "from pydantic import BaseModel, Field\n\n\n"
            "class Stop(BaseModel):\n"
            "    city: str\n"
            '    crates: Annotated[int, Field(ge=0, description="crates to unload")]\n\n\n'
            "@luxx_nb.tool\n"
            "def plan_delivery(day: datetime.date, stops: list[Stop]) -> dict:\n"
            '    """Plan a delivery round: its weekday, stops and crates.\n\n'
            "    Args:\n"
            "        day: the day of the round\n"
            "        stops: where the van stops, in order\n"
            '    """\n'
            "    crates = sum(stop.crates for stop in stops)\n"
            '    return {"weekday": day.strftime("%A"), "stops": len(stops), "crates": crates}'
        ),
        code("%%luxx\nPlan a delivery on 4 December 2026: 3 crates to Lyon, then 5 to Dijon."),
        md(
            "## Tools from an MCP server\n\nAny Model Context Protocol server's tools join the "
            "notebook's: `%luxx mcp add NAME -- COMMAND ARGS...` (here `mcp-server-time` from "
            "PyPI). It starts on the first run that offers its tools, once per kernel, and stops "
            "with the kernel. `--tools time` offers only that server's tools."
        ),
        code(
            "import sys\n\n"
            "%luxx mcp add time -- {sys.executable} -m mcp_server_time --local-timezone UTC"
        ),
        code("%%luxx --tools time\nWhat time is it in Tokyo?"),
        code("%luxx tools"),
    ],
    "embedding": [
        md(
            "# Embedding: `Chat` and `ChatView` from code\n\n"
            "The engine behind `%%luxx` is a plain object: `Chat` keeps the conversation and "
            "`ChatView(chat)` is a widget that shows its runs, which you can place in any "
            "layout.\n\n"
            + ENDPOINT_NOTE.format(
                what="`Chat()` reads the same environment variables; with none, as here, it "
                "uses the tiny local model. `Chat(model=..., base_url=..., api_key=...)` "
                "names an endpoint directly."
            )
        ),
        code(
            "import ipywidgets as widgets\n\nfrom luxx_nb import Chat, ChatView\n\n"
            'chat = Chat(temperature=0, max_tokens=50, extra_body={"seed": 1})\n'
            "view = ChatView(chat)\n"
            'notes = widgets.HTML("<b>Notes</b><br>The conversation appears on the left.")\n'
            'widgets.HBox([view, notes], layout={"width": "100%"})'
        ),
        code('reply = chat.send("Name a color.")\nprint(reply.text)'),
        md(
            "`send` returns a `Reply`: its text, thinking, steps (each with the original "
            "service's shape), usage and token count."
        ),
        code("[step.to_dict()['type'] for step in reply.steps], reply.error"),
        md(
            "## Events\n\n`chat.stream(prompt)` yields the events themselves (`process_step`, "
            "`error`, `done`), each with `.data` and `.sse()`."
        ),
        code(
            'names = [event.name async for event in chat.stream("And another one?")]\n'
            "names[-1], len(names) > 2"
        ),
        code("[message['role'] for message in chat.history]"),
    ],
}


def build(name: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = NOTEBOOKS[name]
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=300,
        store_widget_state=True,
        resources={"metadata": {"path": str(HERE)}},
    )
    client.execute()
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    nbformat.write(nb, HERE / f"{name}.ipynb")
    print(f"wrote notebooks/{name}.ipynb")


if __name__ == "__main__":
    for name in sys.argv[1:] or list(NOTEBOOKS):
        build(name)
