"""The fault table: every fault injected on purpose, one row each, in the order the tests run.

``FAULTS`` is the single table. ``tests/test_faults.py`` drives every row through ``Chat`` in
process; ``tests/test_faults_kernel.py`` drives the same rows through ``%%luxx`` cells in one
real kernel (which imports ``in_kernel``); ``tests/test_faults_wires.py`` runs the HTTP and
Stream rows on the other two wires. ``docs/faults.md`` and the README's "## Faults" are
rendered from ``FAULTS`` by ``scripts/fault_table.py``.

The modules: ``row`` (the row type and what rows are built from), ``functions`` (the rows'
tools, MCP servers and variables), the rows by group (``wire_rows``, ``tool_rows``,
``context_rows``), ``checks`` (observing and checking a row) and ``in_kernel``.
"""

from __future__ import annotations

from support.faults.context_rows import CONTEXT_ROWS, MCP_ROWS
from support.faults.row import Fault
from support.faults.tool_rows import HOSTILE_SQL, TOOL_ROWS
from support.faults.wire_rows import WIRE_ROWS

__all__ = ["FAULTS", "FAULTS_BY_ID", "Fault"]

FAULTS: tuple[Fault, ...] = (*WIRE_ROWS, *TOOL_ROWS, *HOSTILE_SQL, *CONTEXT_ROWS, *MCP_ROWS)

FAULTS_BY_ID = {row.id: row for row in FAULTS}
