"""Markdown to safe HTML: hostile input stays inert; incremental rendering equals the whole."""

from __future__ import annotations

import random
from html.parser import HTMLParser

import pytest

from luxx_nb.render import markdown as md_module
from luxx_nb.render.markdown import IncrementalMarkdown, render_markdown

DANGEROUS_TAGS = {"script", "style", "iframe", "img", "svg", "object", "embed", "link", "meta"}
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href"}


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))


def elements(html: str) -> list[tuple[str, dict[str, str | None]]]:
    collector = _Collector()
    collector.feed(html)
    collector.close()
    return collector.elements


def assert_inert(html: str) -> None:
    """No element that runs code, no event handler, no URL but http(s)/mailto."""
    for tag, attrs in elements(html):
        assert tag not in DANGEROUS_TAGS, html
        for name, value in attrs.items():
            assert not name.startswith("on"), html
            assert name != "style" or (value or "").startswith("text-align:"), html
            if name in URL_ATTRIBUTES:
                assert (value or "").split(":", 1)[0] in {"http", "https", "mailto"}, html


HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<svg onload="alert(1)"><circle/></svg>',
    '<iframe src="https://evil.example"></iframe>',
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    '<a href="javascript:alert(1)">x</a>',
    "<style>body { display: none }</style>",
    '<p style="background:url(javascript:alert(1))">x</p>',
    '<div onclick="alert(1)">\n\nblock\n\n</div>',
    "<details open ontoggle=alert(1)>",
    "![x](javascript:alert(1))",
    '![x](https://example.com/a.png" onerror="alert(1))',
    "<!-- comment --><b onmouseover=alert(1)>x</b>",
]
CONTEXTS = [
    "{}",
    "text before {} and after",
    "`{}`",
    "```html\n{}\n```",
    "    {}",
    "| a | b |\n|---|---|\n| {} | 2 |",
    "- item {}\n- other",
    "> {}",
    "$\\text{{{}}}$",
    "$$\n\\text{{{}}}\n$$",
    "# {}",
]


@pytest.mark.parametrize("context", CONTEXTS)
@pytest.mark.parametrize("payload", HOSTILE)
def test_hostile_input_comes_out_inert(payload: str, context: str) -> None:
    html = render_markdown(context.format(payload))
    assert_inert(html)
    assert "<script" not in html and "<img" not in html and "<style" not in html


def test_raw_html_is_escaped_not_dropped() -> None:
    assert render_markdown("<b>bold</b>") == "<p>&lt;b&gt;bold&lt;/b&gt;</p>\n"


def test_math_text_cannot_smuggle_markup() -> None:
    html = render_markdown("$\\text{<img src=x onerror=alert(1)>}$")
    assert "<math" in html and "&lt;img" in html
    assert_inert(html)


def test_math_href_is_dropped() -> None:
    html = render_markdown("$\\href{javascript:alert(1)}{x}$")
    assert "href" not in html and "<math" in html


def test_links_open_safely_in_a_new_tab() -> None:
    html = render_markdown("[docs](https://example.com/x)")
    assert 'href="https://example.com/x"' in html
    assert 'rel="noopener noreferrer"' in html and 'target="_blank"' in html


def test_images_become_links_so_nothing_loads_by_itself() -> None:
    html = render_markdown("![chart](https://example.com/c.png?q=secret)")
    assert "<img" not in html and "chart</a>" in html


def test_tables_keep_their_alignment() -> None:
    html = render_markdown("| a | b |\n|:--|--:|\n| 1 | 2 |")
    assert "<table>" in html and '<td style="text-align:right">2</td>' in html


def test_code_is_highlighted_and_escaped() -> None:
    html = render_markdown("```python\ndef f(x):\n    return '<b>'\n```")
    assert '<pre class="luxx-code"><code><span class="k">def</span>' in html
    assert "&lt;b&gt;" in html and "<b>" not in html


def test_unknown_language_is_plain_escaped_code() -> None:
    html = render_markdown("```nosuchlang\na < b\n```")
    assert html == '<pre class="luxx-code"><code>a &lt; b\n</code></pre>\n'


def test_strikethrough() -> None:
    assert render_markdown("~~old~~") == "<p><s>old</s></p>\n"


def test_math_becomes_mathml() -> None:
    inline = render_markdown("Energy $E = mc^2$ here.")
    assert '<span class="math inline"><math' in inline and "<msup>" in inline
    block = render_markdown("$$\n\\frac{a}{b}\n$$")
    assert 'display="block"' in block and "<mfrac>" in block


def test_bad_math_shows_its_source() -> None:
    html = render_markdown("$\\frac{1}{$")
    assert '<code class="luxx-math-error">\\frac{1}{</code>' in html


def test_currency_is_not_math() -> None:
    assert render_markdown("It costs $5 and $10.") == "<p>It costs $5 and $10.</p>\n"


DOCUMENT = """# Title

Some *intro* with `code`, a [link](https://example.com) and $x^2 + y^2$.
A second line <img src=x onerror=alert(1)>.

## Lists

- one
- two
  continued

- three (now loose)

1. first
2. second

| col a | col b |
|:------|------:|
| 1     | 2     |

```python
def f(x):

    return x * 2
```

$$
\\int_0^1 x\\,dx = \\frac{1}{2}
$$

> a quote
> more

Text right after.
***
    indented code

    more indented

Last paragraph with ~~strike~~ and emoji 🙂.
"""


def feed_randomly(text: str, seed: int, check_prefixes: bool = False) -> tuple[list[str], int]:
    rng = random.Random(seed)
    incremental = IncrementalMarkdown()
    blocks: list[str] = []
    longest_tail = position = 0
    while position < len(text):
        size = rng.randint(1, 40)
        update = incremental.feed(text[position : position + size])
        position += size
        blocks += update.blocks
        longest_tail = max(longest_tail, len(update.tail))
        if check_prefixes:
            assert "".join(blocks) + update.tail == render_markdown(text[:position])
    final = incremental.finish()
    assert final.tail == ""
    return blocks + final.blocks, longest_tail


@pytest.mark.parametrize("seed", range(25))
def test_incremental_equals_whole_at_every_prefix(seed: int) -> None:
    blocks, _ = feed_randomly(DOCUMENT, seed, check_prefixes=True)
    assert "".join(blocks) == render_markdown(DOCUMENT)
    assert len(blocks) > 10


def test_incremental_handles_crlf_split_across_fragments() -> None:
    text = "para one\r\n\r\npara two\r\n\r\n- a\r\n- b\r\n"
    incremental = IncrementalMarkdown()
    parts = [
        incremental.feed(piece)
        for piece in ("para one\r", "\n\r", "\npara two\r\n\r", "\n- a\r\n- b\r\n")
    ]
    html = "".join(b for part in parts for b in part.blocks) + "".join(incremental.finish().blocks)
    assert html == render_markdown(text)


def test_code_fence_stays_open_until_it_closes() -> None:
    incremental = IncrementalMarkdown()
    update = incremental.feed("```python\nx = 1\n\n\ny = 2\n\nz = 3\n")
    assert update.blocks == [] and "z" in update.tail
    update = incremental.feed("```\n\nAfter.")
    assert len(update.blocks) == 1 and "z" in update.blocks[0]
    assert update.tail == "<p>After.</p>\n"


def test_tail_stays_bounded_and_parsing_follows_the_tail(monkeypatch: pytest.MonkeyPatch) -> None:
    paragraphs = [f"Paragraph {n}: " + "lorem *ipsum* dolor sit amet " * 12 for n in range(300)]
    text = "\n\n".join(paragraphs)
    parser = md_module.markdown_parser()
    parsed_lengths: list[int] = []
    real_parse = parser.parse

    def recording_parse(source: str, env: object = None) -> object:
        parsed_lengths.append(len(source))
        return real_parse(source, env)

    monkeypatch.setattr(parser, "parse", recording_parse)
    blocks, longest_tail = feed_randomly(text, seed=7)
    monkeypatch.undo()
    assert len(text) > 100_000
    assert longest_tail < 2_000
    assert max(parsed_lengths) < 2 * max(len(p) for p in paragraphs) + 100
    assert "".join(blocks) == render_markdown(text)


def test_markdown_module_does_not_import_widgets() -> None:
    import subprocess
    import sys

    code = (
        "import sys, luxx_nb.render.markdown, luxx_nb.render.text;"
        "print('ipywidgets' in sys.modules, 'anywidget' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_code_blocks_are_the_code_the_answer_shows_in_order():
    from luxx_nb.render.markdown import code_blocks

    text = (
        "Intro `inline` is not a block.\n\n```python\nprint(1)\n```\n\n"
        "- a list item:\n\n  ~~~~\n  ```not a fence end\n  x = 2\n  ~~~~\n\n"
        "Then:\n\n    indented = 3\n\n$$\na = b\n$$\n\n```\nunclosed to the end"
    )
    assert code_blocks(text) == [
        "print(1)\n",
        "```not a fence end\nx = 2\n",
        "indented = 3\n",
        "unclosed to the end",
    ]
    assert code_blocks("No code here, only `inline`.") == []
