"""How a ``query`` call shows (luxx_nb/render/query.py), live and in the saved snapshot."""

from __future__ import annotations

import json
from html.parser import HTMLParser

from luxx_nb.events import StepEvent, ToolCallStep, ToolResultStep
from luxx_nb.render.live.parts import ToolCallView
from luxx_nb.render.query import SHOWN_ROWS, query_arguments_html, query_result_html
from luxx_nb.render.saved.snapshot import HtmlRenderer

HOSTILE = "<img src=x onerror=alert(1)><script>alert(2)</script>"
RESULT = {
    "columns": ["region", f"total {HOSTILE}"],
    "types": ["VARCHAR", "HUGEINT"],
    "rows": [[HOSTILE, 7], ["south", None]],
    "row_count": 2,
}
ARGUMENTS = json.dumps({"sql": f"SELECT region, '{HOSTILE}' FROM sales", "limit": 5})


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attributes: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attributes.update(name for name, _ in attrs)


def tags(markup: str) -> Tags:
    parser = Tags()
    parser.feed(markup)
    return parser


def steps(content: str, success: bool = True) -> tuple[ToolCallStep, ToolResultStep]:
    call = ToolCallStep(index=0, id_ref="call_1", name="query", arguments=ARGUMENTS)
    result = ToolResultStep(index=1, id_ref=call.id, name="query", content=content, success=success)
    return call, result


def test_the_sql_is_highlighted_and_its_other_arguments_listed() -> None:
    html = query_arguments_html(ARGUMENTS, "")
    assert html is not None and '<pre class="luxx-code"' in html
    assert '<span class="k">SELECT</span>' in html and "limit=5" in html
    assert query_arguments_html('{"city": "Oslo"}', "") is None
    assert query_arguments_html("not json", "") is None


def test_the_result_is_a_table_with_types_and_count() -> None:
    html = query_result_html(json.dumps(RESULT))
    assert html is not None and "<table" in html and "<th>region" in html
    assert "HUGEINT" in html and "<td>NULL</td>" in html and "2 rows" in html
    many = {**RESULT, "rows": [["a", i] for i in range(500)], "row_count": 10_000_000}
    html = query_result_html(json.dumps(many))
    assert html is not None and html.count("<tr>") == SHOWN_ROWS + 1
    assert f"10,000,000 rows; the first {SHOWN_ROWS} shown (the model got 500)" in html
    assert query_result_html('{"success": false, "error": "x"}') is None
    assert query_result_html("plain text") is None


def test_hostile_values_are_inert_in_the_table_and_the_sql() -> None:
    markup = query_result_html(json.dumps(RESULT)) + query_arguments_html(ARGUMENTS, "")
    found = tags(markup)
    assert found.tags <= {"div", "table", "thead", "tbody", "tr", "th", "td", "pre", "span"}
    assert found.attributes <= {"style", "border", "cellpadding", "class"}
    assert "&lt;script&gt;" in markup and "<script" not in markup


def test_the_live_view_shows_the_table_and_the_failure_as_duckdb_wrote_it() -> None:
    view = ToolCallView(*steps(json.dumps(RESULT)))
    body = view._html.value
    assert "<table" in body and '<span class="k">SELECT</span>' in body and ">SQL<" in body
    error = 'ParserException: Parser Error: syntax error at or near "SELEC"'
    failed = ToolCallView(*steps(json.dumps({"success": False, "error": error}), False))
    assert "syntax error at or near &quot;SELEC&quot;</pre>" in failed._html.value
    assert "&quot;success&quot;" not in failed._html.value


def test_the_snapshot_shows_the_same() -> None:
    renderer = HtmlRenderer()
    renderer.start(model="m")
    for step in steps(json.dumps(RESULT)):
        renderer.handle(StepEvent(step=step))
    renderer.finish("done")
    html = renderer.html()
    assert "<table" in html and '<span class="k">SELECT</span>' in html
    assert "<script>alert" not in html


def test_a_users_own_tool_named_query_shows_as_any_tool() -> None:
    call = ToolCallStep(index=0, id_ref="c", name="query", arguments='{"q": "x"}')
    result = ToolResultStep(index=1, id_ref=call.id, name="query", content="plain", success=True)
    body = ToolCallView(call, result)._html.value
    assert "<table" not in body and "plain</pre>" in body and "&quot;q&quot;" in body
