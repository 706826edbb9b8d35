"""Render the fault table into docs/faults.md and the README's "## Faults" section.

The rows are ``FAULTS`` in tests/support/faults/, the same rows the tests drive through
``Chat`` and through ``%%luxx`` in a real kernel; ``test_the_committed_table_is_generated_from_
the_rows`` fails when the committed files differ from what this script writes.

    python scripts/fault_table.py          # rewrite both files
    python scripts/fault_table.py --check  # exit 1 when either is out of date

The rows are test support (``support.faults``, found through ``tests/``): pytest's
``pythonpath`` has it for the test, and run as a script this file puts ``tests/`` first.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from support.faults import Fault

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "faults.md"
README = ROOT / "README.md"
SECTION = "## Faults"


GROUPS = ("Network", "HTTP", "Stream", "Tools", "SQL", "Context", "MCP", "Kernel")

INTRO = """\
Each row is a fault injected on purpose: by the loopback OpenAI-compatible server in
`tests/support/`, by a tool, by an MCP server (`tests/mcp_fake.py`), or by interrupting the
kernel; the rows are written in `tests/support/faults/`. Every row runs twice in the test
suite: through `Chat` in process (`tests/test_faults.py`) and through a `%%luxx` cell in one
real Jupyter kernel reused row after row (`tests/test_faults_kernel.py`). For every row the
turn ends with the message shown here in the run's tree, with no traceback in view (a
traceback or the server's raw answer is one click away, in a collapsed *details* or
*traceback*), the kernel stays alive and the next cell works on the same conversation, and
nothing produced before the fault is lost from the reply or the history."""

ROWS_NOTE = """\
The HTTP and Stream rows, and the Network rows about a stream's end, also run on the Responses
and Anthropic wires (`tests/test_faults_wires.py`), with the same answers and faulty bytes in
each API's own events and error bodies; each wire's own faults (Anthropic's 529
`overloaded_error` and an `error` event mid-stream, a Responses `response.failed`) are in
`tests/test_wires.py`. This table is generated from the tests' own rows by
`scripts/fault_table.py`; a test fails when it drifts."""

DETAILS = """\
## Across the rows

- **Retries.** 429 and 5xx before the stream starts are tried three times in all, with
  backoff, honouring `Retry-After` and `retry-after-ms` up to 60 s; a longer wait fails at once
  and says so. 400, 401, 403, 404, 413 and 422 are never retried. While it waits, the status
  line says `retrying` with the reason and the attempt. Redirects are not followed (the key
  would go with them): the message names where the server points.
- **Interrupts.** The kernel's interrupt cancels the run on its loop thread: the HTTP stream is
  closed (the server sees the disconnect), a tool call left without a result gets one saying
  it was interrupted, the partial answer stays in the history, and the cell ends with a
  three-frame `KeyboardInterrupt: Interrupted: what arrived before is kept…`, which still
  stops "Run All". A sync tool's thread cannot be killed: it finishes in the background.
- **Memory.** 200 `%%luxx` turns in a row in one kernel (every tenth with a tool round): after
  20 turns of warm-up, resident memory grows by less than 30 MB and the collector's objects by
  less than 200 a turn (measured: 6 MB and 15), with no thread left behind.
- **The local model, 30 cells in a row.** Not a loopback row: `tests/test_window_local.py`
  sends 30 `%%luxx` cells, each asking for a paragraph, to the real SmolLM2-135M (its 8,192
  tokens) in one kernel, with no key and no options. Every cell answers, no answer runs past
  the room its window kept, the history keeps all 30 exchanges, and once exchanges must go
  the status says `sent the last … of … exchanges to fit 8,192 tokens`. It takes minutes, so
  it runs by hand (`./test.sh -m once tests/test_window_local.py`); measured 2026-12-01: 377 s
  in all, a cell's median 2.8 s, the slowest 100.8 s.
- **Anything else.** A failure nobody foresaw (a bug, a view that raises) still ends the turn
  with `Internal error: …` in the tree and the traceback one click away; only an interrupt
  leaves `Chat.send` as an exception.

## Secrets

- A key given through `--api-key-env VAR` or `Chat(api_key=...)` is sent only in the
  `Authorization` header. `tests/test_secrets.py` checks every byte of a saved notebook
  (outputs, metadata, widget state), every IOPub message of the kernel, the kernel's own
  output and log, every file written under the kernel's IPython and runtime directories,
  Python logging at DEBUG, error messages and details, and the reprs of `Chat`, its endpoint,
  its provider and `%luxx config`, for a canary key, tried both ways and through failures.
- Every message, detail, status and tool result passes through `luxx_nb.errors.redact`
  before anyone sees it: a run of 10 or more characters of the key is replaced by
  `[redacted]`. A provider's own masking ("Incorrect API key provided: sk-ab****cdef") is
  shown as the provider wrote it: its visible ends are shorter than that, never more.
- A key with a trailing newline or spaces (read from a file) is stripped; one with a character
  an HTTP header cannot carry (a smart quote from a copy and paste) fails with a message that
  names the position and the character, never the key. Before this, httpx's own error quoted
  the whole header, key included.

## The notebook's variables

- The built-in tools (`list_variables`, `get_variable`) never show names starting with `_`,
  modules, IPython's own names and callables, or names containing `key`, `token`, `secret` or
  `password`. `--vars a,b` (or `Chat(visible_variables=[...])`) is an allow-list;
  `%config LuxxMagics.hidden_variables = [...]` (or `Chat(hidden_variables=[...])`) a
  deny-list on top of the defaults.
- A tool's context cannot assign or delete a variable (the view has no such methods, and
  `context.chat.namespace` is the same read-only view), and what it reads is a copy it may
  change freely: a pandas object is a shallow copy under copy-on-write (pandas 3; a deep copy
  otherwise), a numpy array a read-only view, anything else a deep copy of at most a million
  items (about a second, measured). A variable too large or impossible to copy (a lock, a
  connection) is refused with a message instead of handed over live. This guards against
  accidents, not against a tool that means harm: a tool is the notebook owner's code.
- Each tool call records the variables it read (`ToolResultStep.variables`): the tool's
  title in the tree ends in `· read: sales, prices`, and its body says `variables read: …`.

## SQL (`query`)

- Each hostile statement of the SQL rows is a `query` call the loopback server scripts, run on
  the real closed DuckDB engine. After each row, no query thread is left running (checked
  within 2 s), none of the files the statements name (`luxx_sql_copy.csv`,
  `luxx_sql_attach.db`, `luxx_sql_export`, DuckDB's `.tmp`) exists in the working or the temp
  directory, and the tables (`sales`, `things`, `secret_sales`) are unchanged.
- Statements that are SELECTs but reach outside (`read_csv`, `read_text`, `glob`, `sniff_csv`,
  `getenv`) fail inside DuckDB, because external access is off and locked; everything else
  fails before DuckDB runs it, on its statement type. `tests/test_sql.py` tries more (`RESET`,
  `CALL`, a file planted in DuckDB's own temp directory) and checks the settings as DuckDB
  reports them.
- The time limit and the kernel interrupt end the query itself (`con.interrupt()` through
  `luxx_nb.tools.on_cancel`), not only the wait for it: the call's thread ends at once.

## Tools that print, hang or ask

- While a tool runs, `sys.stdout` and `sys.stderr` are redirected by context: what the tool
  prints (and only that tool) goes into its own step, under *printed*, and never into a cell,
  even when a hung tool prints after its time limit. The model sees the tool's return value;
  when the tool returned `None`, it sees what the tool printed instead. Not captured: writes
  straight to file descriptors 1 and 2 (C code, child processes), streams a library saved
  earlier (a logging handler), and threads the tool starts itself (they print as any thread).
- `input()`, `getpass()` and reads of `sys.stdin` inside a tool fail at once with
  `ToolInputError` (an `EOFError`): nobody is at the keyboard while the model waits.
- numpy numbers and arrays in a result are sent as the numbers and lists they hold. A result
  that JSON cannot carry (an object, a set, a cycle, nesting too deep for the encoder) becomes a
  failed result that says so; a result over 20,000 characters is cut, with its size.

## Hostile text

Model text and thinking, tool arguments, results and printed output, variable reprs, tool
names and error messages carrying `<script>`, `<img src=x onerror=…>`, `<svg onload=…>`,
`<iframe>`, `javascript:` links, `<style>` and `style=` attributes, or raw HTML in Markdown are
rendered as inert text: `tests/test_faults_hostile.py` parses every HTML value the kernel sends
(widget states and incremental updates) and finds no element, attribute or link they created.
A real browser's check is `tests/test_browser.py`.
"""


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def table(rows: tuple[Fault, ...] | None = None) -> str:
    """The table's Markdown, from ``rows`` (default: every row of the fault table)."""
    if rows is None:
        from support.faults import FAULTS

        rows = FAULTS
    lines = [
        "| Group | Fault | What the person sees | Kernel | Kept |",
        "| --- | --- | --- | --- | --- |",
    ]
    for group in GROUPS:
        for row in rows:
            if row.group == group:
                cells = (group, row.fault, row.sees, "alive; next cell works", row.kept)
                lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def document() -> str:
    """The whole of docs/faults.md."""
    return f"# Faults, bad input and secrets\n\n{INTRO}\n\n{table()}\n{ROWS_NOTE}\n\n{DETAILS}"


def readme_section() -> str:
    """The README's section, heading included, up to (not including) the next heading."""
    return (
        f"{SECTION}\n\n{INTRO}\n\n{table()}\n{ROWS_NOTE}\n\n"
        "Also checked: 200 `%%luxx` turns in a row keep the kernel's memory and threads flat;\n"
        "a canary key shows in zero bytes of notebooks, IOPub, logs and files; tools get copies\n"
        "of variables, never the live ones, and the run shows which they read; hostile text is\n"
        "inert. How, and the limits: [docs/faults.md](docs/faults.md).\n\n"
    )


def updated_readme(text: str) -> str:
    start = text.index(f"\n{SECTION}\n") + 1
    end = text.index("\n## ", start + len(SECTION)) + 1
    return text[:start] + readme_section() + text[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only say whether they are current")
    args = parser.parse_args(argv)
    wanted = {DOC: document(), README: updated_readme(README.read_text(encoding="utf-8"))}
    stale = [p for p, text in wanted.items() if not p.exists() or p.read_text("utf-8") != text]
    if args.check:
        for path in stale:
            print(f"out of date: {path.relative_to(ROOT)}")
        return 1 if stale else 0
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(wanted[path], encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "tests"))  # run by its path: only scripts/ is on sys.path
    sys.exit(main())
