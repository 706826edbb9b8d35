"""Markdown to safe HTML, the way a Jupyter markdown cell shows it, without raw HTML.

The page executes whatever HTML reaches it (see FIELD-NOTES), and the text comes from a model
that may repeat a hostile tool result. So: markdown-it with raw HTML off, code highlighted by
pygments (which escapes), math turned into MathML by latex2mathml, and then the whole output
through ``nh3`` with an allow-list of exactly the tags and attributes this module emits.

Images are rendered as links, not fetched: an auto-loaded ``![](https://host/?q=secret)`` is
how a prompt injection exfiltrates data, and a link needs a click.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import Element, tostring

import nh3
from latex2mathml.converter import convert_to_element
from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.dollarmath import dollarmath_plugin
from pygments.lexer import Lexer
from pygments.lexers import get_lexer_by_name
from pygments.token import STANDARD_TYPES
from pygments.util import ClassNotFound

__all__ = [
    "CODE_CSS",
    "IncrementalMarkdown",
    "Update",
    "code_blocks",
    "highlight_code",
    "highlight_spans",
    "markdown_parser",
    "render_markdown",
    "sanitize_html",
]

_MATHML_TAGS = {
    "math", "mrow", "mi", "mn", "mo", "ms", "mtext", "mspace", "msub", "msup", "msubsup",
    "mfrac", "msqrt", "mroot", "mover", "munder", "munderover", "mtable", "mtr", "mtd",
    "mstyle", "mpadded", "mphantom", "menclose", "merror", "mmultiscripts", "mprescripts",
    "none", "semantics", "annotation",
}  # fmt: skip
_MATHML_ATTRIBUTES = {
    "display", "xmlns", "mathvariant", "mathsize", "mathcolor", "mathbackground",
    "displaystyle", "scriptlevel", "stretchy", "fence", "separator", "form", "lspace",
    "rspace", "minsize", "maxsize", "largeop", "movablelimits", "symmetric", "accent",
    "accentunder", "linethickness", "columnalign", "rowalign", "columnspacing", "rowspacing",
    "columnlines", "rowlines", "frame", "rowspan", "columnspan", "width", "height", "depth",
    "voffset", "notation", "encoding",
}  # fmt: skip
_HTML_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "s", "code", "pre",
    "blockquote", "ul", "ol", "li", "a", "table", "thead", "tbody", "tr", "th", "td", "span",
    "div",
}  # fmt: skip
_CODE_CLASSES = {name for name in STANDARD_TYPES.values() if name}
_ALIGN = {"text-align:left", "text-align:right", "text-align:center"}
_ATTRIBUTES: dict[str, set[str]] = {
    "a": {"href", "title"},
    "ol": {"start"},
    **{tag: _MATHML_ATTRIBUTES for tag in _MATHML_TAGS},
}
_CLASSES = {
    "pre": {"luxx-code"},
    "code": {"luxx-math-error"},
    "span": {"math", "inline"} | _CODE_CLASSES,
    "div": {"math", "block", "inline"},
}


_CLEAN_OPTIONS: dict[str, Any] = {
    "tags": _HTML_TAGS | _MATHML_TAGS,
    "clean_content_tags": {"script", "style", "iframe", "object", "embed", "template"},
    "attributes": _ATTRIBUTES,
    "tag_attribute_values": {"th": {"style": _ALIGN}, "td": {"style": _ALIGN}},
    "set_tag_attribute_values": {"a": {"target": "_blank"}},
    "link_rel": "noopener noreferrer",
    "url_schemes": {"http", "https", "mailto"},
    "allowed_classes": _CLASSES,
    "strip_comments": True,
}
_clean: Callable[[str], str] = (
    nh3.Cleaner(**_CLEAN_OPTIONS).clean
    if hasattr(nh3, "Cleaner")  # nh3 >= 0.3 builds the allow-list once
    else functools.partial(nh3.clean, **_CLEAN_OPTIONS)
)


def sanitize_html(fragment: str) -> str:
    """Keep only the tags, attributes, classes and URL schemes this module itself emits."""
    return _clean(fragment)


@functools.lru_cache(maxsize=64)
def _lexer(language: str) -> Lexer | None:
    try:
        return get_lexer_by_name(language, stripnl=False, ensurenl=True)
    except ClassNotFound:
        return None


_CODE_COLORS = {
    "k": "keyword", "kc": "keyword", "kd": "keyword", "kn": "keyword", "kp": "keyword",
    "kr": "keyword", "kt": "builtin", "ow": "operator", "o": "operator", "nb": "builtin",
    "bp": "builtin", "nf": "def", "fm": "def", "nc": "def", "nd": "meta", "s": "string",
    "s1": "string", "s2": "string", "sa": "string", "sb": "string", "sc": "string",
    "sd": "string", "se": "string", "sh": "string", "si": "string", "sr": "string-2",
    "ss": "string-2", "m": "number", "mi": "number", "mf": "number", "mh": "number",
    "mo": "number", "il": "number", "c": "comment", "c1": "comment", "cm": "comment",
    "ch": "comment", "cs": "comment", "cp": "meta", "cpf": "string", "nv": "variable",
    "vc": "variable-2", "vi": "variable-2", "na": "attribute", "nt": "tag", "gh": "header",
    "gu": "header", "gd": "string-2", "gi": "string", "err": "error",
}  # fmt: skip
"""Token classes that get a color (from JupyterLab's editor theme); the others stay plain."""


def _spans(code: str, lexer: Lexer) -> str:
    """Highlighted code, with a span only where it shows: a colored class, merged runs.

    pygments' own HTML gives every token a span, colored or not (punctuation, whitespace,
    plain names): measured 7 bytes of HTML per character of Python, which a streamed answer
    sends twice. The same colors come out of about a third of that.
    """
    out: list[str] = []
    run_class, run = "", []
    for ttype, value in lexer.get_tokens(code):
        cls = STANDARD_TYPES.get(ttype, "")
        cls = cls if cls in _CODE_COLORS else ""
        if cls != run_class and run:
            out.append(_span(run_class, "".join(run)))
            run = []
        run_class = cls
        run.append(value)
    if run:
        out.append(_span(run_class, "".join(run)))
    return "".join(out)


def _span(cls: str, text: str) -> str:
    text = html.escape(text, quote=False)
    return f'<span class="{cls}">{text}</span>' if cls and text.strip() else text


def highlight_spans(code: str, language: str = "") -> str:
    """Escaped code, with colored spans when the language is known (for ``.luxx-code``)."""
    lexer = _lexer(language.lower()) if language else None
    return _spans(code, lexer) if lexer is not None else html.escape(code, quote=False)


def highlight_code(code: str, language: str = "") -> str:
    """A ``<pre>`` block: colored spans when the language is known, escaped text otherwise."""
    return f'<pre class="luxx-code"><code>{highlight_spans(code, language)}</code></pre>\n'


def _math_html(latex: str, display: bool) -> str:
    """MathML for ``latex``; the escaped source in ``<code>`` when it does not convert.

    latex2mathml writes entities into text nodes and then unescapes its whole output, which
    lets ``\\text{<img ...>}`` through raw; decoding the text nodes and serializing the tree
    ourselves escapes them properly.
    """
    try:
        root = convert_to_element(latex, display="block" if display else "inline")
    except Exception:
        return f'<code class="luxx-math-error">{html.escape(latex)}</code>'
    _decode_text(root)
    return tostring(root, encoding="unicode")


def _decode_text(root: Element) -> None:
    for element in root.iter():
        if element.text:
            element.text = html.unescape(element.text)
        if element.tail:
            element.tail = html.unescape(element.tail)


def _render_fence(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    info = tokens[idx].info.strip()
    return highlight_code(tokens[idx].content, info.split(maxsplit=1)[0] if info else "")


def _render_code_block(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    return highlight_code(tokens[idx].content)


def _render_image(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    token = tokens[idx]
    alt = self.renderInlineAsText(token.children or [], options, env) or "image"
    src = html.escape(str(token.attrGet("src") or ""))
    return f'<a href="{src}">{html.escape(alt)}</a>'


@functools.lru_cache(maxsize=1)
def markdown_parser() -> MarkdownIt:
    """The one configured parser: CommonMark + tables + strikethrough + dollar math."""
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    dollarmath_plugin(
        md,
        allow_labels=False,
        allow_space=True,
        allow_digits=False,
        allow_blank_lines=False,
        double_inline=True,
        renderer=lambda content, options: _math_html(content, options["display_mode"]),
    )
    md.add_render_rule("fence", _render_fence)
    md.add_render_rule("code_block", _render_code_block)
    md.add_render_rule("image", _render_image)
    return md


_NEWLINES = re.compile(r"\r\n?")


def normalize_source(text: str) -> str:
    """Line endings and NULs as markdown-it normalizes them, so line numbers agree with it."""
    return _NEWLINES.sub("\n", text).replace("\0", "\ufffd")


def render_markdown(text: str) -> str:
    """Safe HTML for a Markdown text; nothing in ``text`` can add markup that runs."""
    md = markdown_parser()
    return sanitize_html(md.render(normalize_source(text)))


def code_blocks(text: str) -> list[str]:
    """The code of each code block in ``text``, in order: what the rendered answer shows as code
    (fenced or indented, found by the same parser), without the fences."""
    tokens = markdown_parser().parse(normalize_source(text))
    return [t.content for t in tokens if t.type in ("fence", "code_block")]


def _code_css() -> str:
    fallbacks = {
        "keyword": "#008000", "builtin": "#008000", "operator": "#aa22ff", "def": "#0000ff",
        "meta": "#aa22ff", "string": "#ba2121", "string-2": "#a45a77", "number": "#080",
        "comment": "#408080", "variable": "#19177c", "variable-2": "#05a", "attribute": "#00c",
        "tag": "#008000", "header": "blue", "error": "#f00",
    }  # fmt: skip
    roles: dict[str, list[str]] = {}
    for cls, role in _CODE_COLORS.items():
        roles.setdefault(role, []).append(f".luxx-code .{cls}")
    rules = [  # one rule per role, not per class: this CSS travels with every stream widget
        f"{','.join(selectors)} {{ color: var(--jp-mirror-editor-{role}-color, {color}); }}"
        for role, selectors in roles.items()
        for color in (fallbacks[role],)
    ]
    rules.append(".luxx-code .c, .luxx-code .c1, .luxx-code .cm { font-style: italic; }")
    rules.append(".luxx-code .k, .luxx-code .kd, .luxx-code .kn { font-weight: bold; }")
    return "\n".join(rules) + "\n"


CODE_CSS = _code_css()
"""Colors for highlighted code, from JupyterLab's editor theme variables (light/dark aware)."""


@dataclass(frozen=True)
class Update:
    """What one ``feed`` changed: blocks that just became final, and the open tail."""

    blocks: list[str]
    tail: str


class IncrementalMarkdown:
    """Render a growing Markdown text at a cost that follows its open end, not its length.

    Only the not-yet-final suffix is kept and parsed. A top-level block is final once a later
    top-level block starts after a blank line: appended text can then no longer change how it
    parses (an unclosed code fence runs to the end, so it stays open until its closing fence).
    Final blocks plus the tail equal ``render_markdown`` of the whole text, except that a link
    reference defined after its use is not seen by blocks already final.
    """

    def __init__(self) -> None:
        self._pending = ""
        self._after_cr = False
        self._references: dict[str, Any] = {}

    def feed(self, delta: str) -> Update:
        self._pending += self._normalize(delta)
        md = markdown_parser()
        env: dict[str, Any] = {"references": dict(self._references)}
        tokens = md.parse(self._pending, env)
        groups = _top_level_groups(tokens)
        lines = self._pending.split("\n")
        final = 0
        for index in range(1, len(groups)):
            line = groups[index][2]
            if line is not None and line > 0 and not lines[line - 1].strip(" \t"):
                final = index
        blocks = [self._render(tokens[start:end], env) for start, end, _ in groups[:final]]
        tail = self._render(tokens[groups[final][0] if groups else len(tokens) :], env)
        if final:
            cut = groups[final][2] or 0
            self._remember_references(md, "\n".join(lines[:cut]))
            self._pending = "\n".join(lines[cut:])
        return Update(blocks=[block for block in blocks if block], tail=tail)

    def finish(self, delta: str = "") -> Update:
        """``delta`` is the last of the text; everything still open becomes final."""
        update = self.feed(delta)
        self._pending, self._after_cr = "", False
        return Update(blocks=[*update.blocks, *([update.tail] if update.tail else [])], tail="")

    def _normalize(self, delta: str) -> str:
        if self._after_cr and delta.startswith("\n"):
            delta = delta[1:]
        if delta:
            self._after_cr = delta.endswith("\r")
        return normalize_source(delta)

    def _remember_references(self, md: MarkdownIt, final_source: str) -> None:
        """Keep link references defined in text that leaves the buffer, for later blocks."""
        if "]:" in final_source:
            env: dict[str, Any] = {"references": dict(self._references)}
            md.parse(final_source, env)
            self._references = env["references"]

    @staticmethod
    def _render(tokens: list[Token], env: dict[str, Any]) -> str:
        if not tokens:
            return ""
        md = markdown_parser()
        return sanitize_html(md.renderer.render(tokens, md.options, env))


def _top_level_groups(tokens: list[Token]) -> list[tuple[int, int, int | None]]:
    """(first token, end token, first source line or None) of each top-level block."""
    groups: list[tuple[int, int, int | None]] = []
    start = 0
    for index, token in enumerate(tokens):
        if token.level == 0 and token.nesting <= 0:
            opener = tokens[start]
            groups.append((start, index + 1, opener.map[0] if opener.map else None))
            start = index + 1
    return groups
