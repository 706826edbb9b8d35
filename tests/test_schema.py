"""Tools from typed functions through pydantic (``luxx_nb/tools/``: schema.py, arguments.py,
docstrings.py): schemas, validation, docstrings and results, for the annotations pydantic
brings beyond the JSON basics."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import decimal
import enum
import json
import pathlib
import subprocess
import sys
import uuid
from typing import Annotated, Any, Literal, Optional, TypedDict

import jsonschema
import pydantic
import pytest
from pydantic import BaseModel, Field

from luxx_nb.errors import ToolDefinitionError
from luxx_nb.tools import Tool, ToolContext, ToolOutput, invoke, make_tool, tool
from luxx_nb.tools import definition as tools_module
from luxx_nb.tools.arguments import MAX_PROBLEM_CHARS, MAX_PROBLEMS
from luxx_nb.variable_tools import namespace_tools


@dataclasses.dataclass
class Point:
    x: float
    y: float = 0.0


class Span(TypedDict):  # typing's TypedDict: pydantic wants typing_extensions' before 3.12
    start: int
    end: int


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Order(BaseModel):
    item: str
    quantity: Annotated[int, Field(ge=0, description="How many, 0 or more.")]
    where: Point
    size: tuple[int, int] = (1, 1)


class Tree(BaseModel):
    label: str
    children: list[Tree] = []


def plan(
    start: Point,
    day: datetime.date,
    span: Span,
    order: Order,
    box: tuple[int, int],
    tags: set[str],
    at: datetime.datetime,
    when: datetime.time,
    ref: uuid.UUID,
    price: decimal.Decimal,
    path: pathlib.Path,
    colour: Colour = Colour.RED,
    limit: Annotated[int, Field(ge=1, le=10)] = 5,
) -> dict[str, Any]:
    """Plan a delivery.

    Args:
        start: Where it starts.
        day: The day.
        span: The hours.
        order: What to deliver.
        box: Width and height.
        tags: Labels.
        at: A moment.
        when: A time of day.
        ref: The order's id.
        price: The price.
        path: A file.
        colour: The van's colour.
        limit: Most stops.
    """
    return {
        "types": [
            type(v).__name__ for v in (start, day, span, order, box, tags, at, when, ref, price)
        ],
        "path": type(path).__name__.replace("Posix", "").replace("Windows", ""),
        "colour": colour.name,
        "limit": limit,
        "where": order.where.x,
    }


GOOD = {
    "start": {"x": 1, "y": 2.5},
    "day": "2026-12-01",
    "span": {"start": 8, "end": 17},
    "order": {"item": "tea", "quantity": 3, "where": {"x": 4}, "size": [2, 3]},
    "box": [3, 4],
    "tags": ["a", "b"],
    "at": "2026-12-01T10:00:00Z",
    "when": "10:30",
    "ref": "12345678-1234-5678-1234-567812345678",
    "price": "9.99",
    "path": "/tmp/x.csv",
    "colour": "blue",
}


@pytest.fixture(autouse=True)
def _clean_registry():
    saved = dict(tools_module._registry)
    yield
    tools_module._registry.clear()
    tools_module._registry.update(saved)


def call(made: Tool, arguments: Any) -> ToolOutput:
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return asyncio.run(invoke({made.name: made}, made.name, text, ToolContext()))


def error_of(output: ToolOutput) -> str:
    assert output.success is False, output.content
    return json.loads(output.content)["error"]


def check_openai_compatible(schema: dict[str, Any]) -> None:
    """A valid JSON Schema, an object at the top, and nothing pydantic-only inside."""
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert isinstance(schema["required"], list)
    text = json.dumps(schema)
    assert '"title"' not in text and '"discriminator"' not in text and '"const"' not in text

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            assert ref is None or ref.removeprefix("#/$defs/") in schema.get("$defs", {}), ref
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)


# -- schemas ---------------------------------------------------------------------------------


def test_the_new_annotations_are_described():
    props = make_tool(plan).parameters["properties"]
    assert props["start"] == {
        "description": "Where it starts.",
        "type": "object",
        "properties": {"x": {"type": "number"}, "y": {"type": "number", "default": 0.0}},
        "required": ["x"],
        "additionalProperties": False,
    }
    assert props["day"] == {"description": "The day.", "type": "string", "format": "date"}
    assert props["at"]["format"] == "date-time" and props["when"]["format"] == "time"
    assert props["ref"]["format"] == "uuid" and props["path"]["type"] == "string"
    assert props["span"]["properties"] == {"start": {"type": "integer"}, "end": {"type": "integer"}}
    assert props["span"]["required"] == ["start", "end"]
    assert props["box"]["prefixItems"] == [{"type": "integer"}, {"type": "integer"}]
    assert props["box"]["minItems"] == props["box"]["maxItems"] == 2
    assert props["tags"] == {
        "description": "Labels.",
        "type": "array",
        "items": {"type": "string"},
        "uniqueItems": True,
    }
    quantity = props["order"]["properties"]["quantity"]
    assert quantity == {"type": "integer", "minimum": 0, "description": "How many, 0 or more."}
    assert props["order"]["properties"]["where"]["properties"]["x"] == {"type": "number"}
    assert props["colour"] == {
        "description": "The van's colour.",
        "type": "string",
        "enum": ["red", "blue"],
        "default": "red",
    }
    assert props["limit"] == {
        "description": "Most stops.",
        "type": "integer",
        "minimum": 1,
        "maximum": 10,
        "default": 5,
    }
    assert make_tool(plan).parameters["required"] == [k for k in GOOD if k != "colour"]


def test_annotated_description_wins_over_the_docstring():
    def f(n: Annotated[int, Field(description="From Field.")], m: int) -> None:
        """Doc.

        n: From the docstring.
        m: Only here.
        """

    props = make_tool(f).parameters["properties"]
    assert props["n"]["description"] == "From Field." and props["m"]["description"] == "Only here."


def test_a_recursive_model_keeps_its_reference():
    def grow(tree: Tree) -> str:
        """Grow a tree."""
        return tree.label

    schema = make_tool(grow).parameters
    assert schema["properties"]["tree"]["properties"]["children"]["items"] == {
        "$ref": "#/$defs/Tree"
    }
    assert set(schema["$defs"]) == {"Tree"}
    check_openai_compatible(schema)
    nested = {"tree": {"label": "a", "children": [{"label": "b", "children": [{"label": 3}]}]}}
    assert "tree.children[0].children[0].label: Input should be a valid string" in error_of(
        call(make_tool(grow), nested)
    )


def test_parameter_names_pydantic_uses_itself_are_fine():
    def f(schema: str, model_config: int, copy: bool = False, json: str = "") -> str:
        """Names BaseModel has as attributes."""
        return f"{schema} {model_config} {copy} {json!r}"

    made = make_tool(f)
    assert set(made.parameters["properties"]) == {"schema", "model_config", "copy", "json"}
    assert call(made, {"schema": "s", "model_config": 2}).content == "s 2 False ''"


def test_schemas_of_every_example_tool_are_valid_and_openai_compatible():
    def nullable(a: Optional[Literal["x"]] = None, b: list[Colour | None] | None = None) -> None:  # noqa: UP045
        """Nullables."""

    examples = [plan, nullable, *(t.fn for t in namespace_tools())]
    for fn in examples:
        made = fn if isinstance(fn, Tool) else make_tool(fn)
        check_openai_compatible(made.parameters)
    assert make_tool(nullable).parameters["properties"]["a"] == {
        "type": ["string", "null"],
        "enum": ["x", None],
        "default": None,
    }


def test_refusals_name_what_is_missing():
    class Opaque:
        pass

    def takes_opaque(thing: Opaque) -> None:
        """Doc."""

    def takes_callback(callback: Any = None, *, other: list[Opaque]) -> None:
        """Doc."""

    with pytest.raises(ToolDefinitionError, match=r"parameter 'thing': unsupported annotation"):
        tool(takes_opaque)
    with pytest.raises(ToolDefinitionError, match=r"parameter 'other': unsupported annotation"):
        tool(takes_callback)
    with pytest.raises(ToolDefinitionError, match=r"parameter 'keys': dict keys must be str"):
        tool(make_fn("keys", dict[int, str]))


def make_fn(name: str, annotation: Any) -> Any:
    def fn(**kwargs: Any) -> None:
        """Doc."""

    import inspect

    fn.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation)]
    )
    fn.__annotations__ = {name: annotation}
    return fn


# -- validation and conversion -----------------------------------------------------------------


def test_the_function_receives_converted_values():
    made = make_tool(plan)
    out = call(made, GOOD)
    assert out.success, out.content
    result = json.loads(out.content)
    assert result["types"] == [
        "Point",
        "date",
        "dict",
        "Order",
        "tuple",
        "set",
        "datetime",
        "time",
        "UUID",
        "Decimal",
    ]
    assert result["path"] == "Path" and result["colour"] == "BLUE"
    assert result["limit"] == 5 and result["where"] == 4.0


def test_bad_arguments_one_line_per_problem_with_the_path():
    bad = {
        **GOOD,
        "start": {"x": "abc"},
        "day": "yesterday",
        "order": {"item": "tea", "quantity": -1, "where": {"x": 1}},
        "box": [1],
        "limit": 11,
    }
    message = error_of(call(make_tool(plan), bad))
    assert message.startswith("Invalid arguments for plan: ")
    lines = message.removeprefix("Invalid arguments for plan: ").split("; ")
    assert 'start.x: Input should be a valid number, got "abc"' in lines
    assert any(line.startswith("day: Input should be a valid date") for line in lines)
    assert "order.quantity: Input should be greater than or equal to 0, got -1" in lines
    assert "box[1]: required, but missing" in lines
    assert "limit: Input should be less than or equal to 10, got 11" in lines
    assert "Traceback" not in message and "pydantic" not in message.lower()
    assert "errors.pydantic.dev" not in message


def test_problems_are_bounded():
    def many(**kwargs: Any) -> None:
        """Doc."""

    import inspect

    names = [f"p{i}" for i in range(30)]
    many.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, annotation=int) for n in names]
    )
    many.__annotations__ = dict.fromkeys(names, int)
    long_text = "x" * 5_000
    message = error_of(call(make_tool(many), {n: long_text for n in names}))
    lines = message.removeprefix("Invalid arguments for many: ").split("; ")
    assert len(lines) == MAX_PROBLEMS + 1 and lines[-1] == "... and 22 more problems"
    assert all(len(line) <= MAX_PROBLEM_CHARS for line in lines)
    assert len(message) < 2_500


def test_an_integer_written_as_a_float_is_an_integer():
    def f(n: int, point: Point, sizes: list[int]) -> str:
        """Doc."""
        return f"{n!r} {point.x!r} {sizes!r}"

    made = make_tool(f)
    assert call(made, '{"n": 4.0, "point": {"x": 2}, "sizes": [1.0, 2]}').content == (
        "4 2.0 [1, 2]"
    )
    assert "n: Input should be a valid integer, got 4.5" in error_of(
        call(made, '{"n": 4.5, "point": {"x": 2}, "sizes": []}')
    )


def test_typing_typeddict_works_on_every_python():
    def f(span: Span) -> int:
        """Length."""
        return span["end"] - span["start"]

    made = make_tool(f)
    assert call(made, {"span": {"start": 2, "end": 9}}).content == "7"
    assert "span.end: required, but missing" in error_of(call(made, {"span": {"start": 2}}))


# -- results -----------------------------------------------------------------------------------


def test_models_and_dataclasses_are_sent_as_json():
    def give() -> Any:
        """Give."""
        return {
            "order": Order(item="tea", quantity=1, where=Point(1, 2)),
            "point": Point(3, 4),
            "day": datetime.date(2026, 12, 1),
            "id": uuid.UUID(int=1),
        }

    out = call(make_tool(give), {})
    assert out.success
    assert json.loads(out.content) == {
        "order": {"item": "tea", "quantity": 1, "where": {"x": 1.0, "y": 2.0}, "size": [1, 1]},
        "point": {"x": 3, "y": 4},
        "day": "2026-12-01",
        "id": "00000000-0000-0000-0000-000000000001",
    }

    def model() -> Order:
        """A model alone."""
        return Order(item="x", quantity=0, where=Point(0))

    assert json.loads(call(make_tool(model), {}).content)["item"] == "x"


# -- import cost -------------------------------------------------------------------------------


def test_import_luxx_nb_does_not_import_pydantic():
    code = "import sys, luxx_nb; print('pydantic' in sys.modules, 'mcp' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
    assert pydantic.VERSION.startswith("2.")


# -- the README's and the tools notebook's example tools ----------------------------------------

ROOT = pathlib.Path(__file__).resolve().parents[1]


def example_tools() -> dict[str, Tool]:
    """Every tool the README's Python blocks and ``notebooks/tools.ipynb``'s cells define, each
    source run as a person would run it (the notebook's cells in order, in one namespace)."""
    import re

    import nbformat

    import luxx_nb

    found: dict[str, Tool] = {}
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    notebook = nbformat.read(ROOT / "notebooks" / "tools.ipynb", as_version=4)
    cells = [c.source for c in notebook.cells if c.cell_type == "code"]
    for label, sources in (("README", blocks), ("tools.ipynb", cells)):
        namespace: dict[str, Any] = {"luxx_nb": luxx_nb, "__name__": "examples"}
        for source in sources:
            if "@luxx_nb.tool" in source:
                exec(compile(source, label, "exec", dont_inherit=True), namespace)
        for value in namespace.values():
            if isinstance(value, Tool):
                found[f"{label}:{value.name}"] = value
    return found


def test_the_readme_and_notebook_example_tools_have_valid_schemas():
    found = example_tools()
    assert {
        "README:forecast",
        "README:plan_delivery",
        "README:send_invoice",
        "tools.ipynb:exchange_rate",
        "tools.ipynb:plan_delivery",
    } <= set(found)
    for made in found.values():
        check_openai_compatible(made.parameters)
    plan_delivery = found["README:plan_delivery"]
    good = {"day": "2026-12-04", "stops": [{"city": "Lyon", "crates": 3}]}
    assert json.loads(call(plan_delivery, good).content) == {"weekday": "Friday", "crates": 3}
    bad = {"stops": [{"city": "Lyon", "crates": 3}, {"city": "Dijon", "crates": -1}]}
    assert error_of(call(plan_delivery, bad)) == (  # the README's example, problems in
        "Invalid arguments for plan_delivery: day: required, but missing; "  # parameter order
        "stops[1].crates: Input should be greater than or equal to 0, got -1"
    )


def test_a_field_as_the_default_gives_its_constraints_default_and_description():
    """``n: int = Field(1, ge=0)``, as pydantic's ``validate_call`` and pydantic-ai take it."""

    def pick(
        count: int = Field(2, ge=0, description="How many."),
        tags: list[str] = Field(default_factory=list),  # noqa: B008 (as pydantic-ai users write it)
        level: int = Field(ge=1, le=3),
    ) -> str:
        """Pick.

        tags: the labels
        """
        return f"{count} {tags} {level}"

    made = make_tool(pick)
    check_openai_compatible(made.parameters)
    properties = made.parameters["properties"]
    assert properties["count"] == {
        "default": 2,
        "description": "How many.",
        "minimum": 0,
        "type": "integer",
    }
    assert properties["tags"]["description"] == "the labels"
    assert properties["level"]["minimum"] == 1 and made.parameters["required"] == ["level"]
    assert call(made, {"level": 2}).content == "2 [] 2"  # the Field's defaults, not a FieldInfo
    assert call(made, {"count": 5, "tags": ["a"], "level": 3}).content == "5 ['a'] 3"
    message = error_of(call(made, {"count": -1, "level": 4}))
    assert message == (
        "Invalid arguments for pick: count: Input should be greater than or equal to 0, got -1; "
        "level: Input should be less than or equal to 3, got 4"
    )
    assert error_of(call(made, {})) == "Invalid arguments for pick: level: required, but missing"
