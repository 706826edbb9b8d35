from __future__ import annotations

import asyncio
import enum
import json
import math
import threading
import time
from collections.abc import Callable
from typing import Any, List, Literal, Optional  # noqa: UP035 (both spellings must work)

import numpy as np
import pandas as pd
import pytest

from luxx_nb.errors import ToolDefinitionError
from luxx_nb.events import tool_result_success
from luxx_nb.namespace import NamespaceView
from luxx_nb.tools import (
    Tool,
    ToolContext,
    ToolOutput,
    invoke,
    make_tool,
    registered_tools,
    tool,
)
from luxx_nb.tools import definition as tools_module
from luxx_nb.variable_tools import get_variable, list_variables, namespace_tools


class Unit(enum.Enum):
    CELSIUS = "c"
    FAHRENHEIT = "f"


@pytest.fixture(autouse=True)
def _clean_registry():
    saved = dict(tools_module._registry)
    tools_module._registry.clear()
    yield
    tools_module._registry.clear()
    tools_module._registry.update(saved)


def params(fn: Any) -> dict[str, Any]:
    return make_tool(fn).parameters


def obj(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def run(tool_: Tool, arguments: str = "{}", context: ToolContext | None = None, **kw: Any):
    return asyncio.run(
        invoke({tool_.name: tool_}, tool_.name, arguments, context or ToolContext(), **kw)
    )


def error_of(output: ToolOutput) -> str:
    assert output.success is False
    parsed = json.loads(output.content)
    assert parsed["success"] is False
    assert tool_result_success(output.content) is False
    return parsed["error"]


# -- schema ------------------------------------------------------------------------------


def test_schema_primitives():
    def f(a: str, b: int, c: float, d: bool) -> None:
        """Doc."""

    assert params(f) == obj(
        {
            "a": {"type": "string"},
            "b": {"type": "integer"},
            "c": {"type": "number"},
            "d": {"type": "boolean"},
        },
        ["a", "b", "c", "d"],
    )


def test_schema_containers_and_any():
    def f(
        a: list[int],
        b: List[str],  # noqa: UP006
        c: list,
        d: dict,
        e: dict[str, float],
        g: Any,
        h: dict[str, Any],
    ) -> None:
        """Doc."""

    assert params(f)["properties"] == {
        "a": {"type": "array", "items": {"type": "integer"}},
        "b": {"type": "array", "items": {"type": "string"}},
        "c": {"type": "array"},
        "d": {"type": "object"},
        "e": {"type": "object", "additionalProperties": {"type": "number"}},
        "g": {},
        "h": {"type": "object"},
    }


def test_schema_literal_enum_and_nullable():
    def f(
        a: Literal["x", "y"],
        b: Literal[1, 2],
        c: Unit,
        d: Optional[int],  # noqa: UP045
        e: str | None,
        g: Optional[Literal["x"]],  # noqa: UP045
        h: list[Unit | None],
        i: int | str | None,
    ) -> None:
        """Doc."""

    assert params(f)["properties"] == {
        "a": {"type": "string", "enum": ["x", "y"]},
        "b": {"type": "integer", "enum": [1, 2]},
        "c": {"type": "string", "enum": ["c", "f"]},
        "d": {"type": ["integer", "null"]},
        "e": {"type": ["string", "null"]},
        "g": {"type": ["string", "null"], "enum": ["x", None]},
        "h": {"type": "array", "items": {"type": ["string", "null"], "enum": ["c", "f", None]}},
        "i": {"anyOf": [{"type": "integer"}, {"type": "string"}, {"type": "null"}]},
    }
    assert params(f)["required"] == ["a", "b", "c", "d", "e", "g", "h", "i"]


def test_schema_defaults():
    sentinel = object()

    def f(
        a: str,
        b: int = 3,
        c: Unit = Unit.FAHRENHEIT,
        d: str | None = None,
        e: str = None,  # type: ignore[assignment]  # noqa: RUF013
        g: Any = sentinel,
        h: list[int] = (1, 2),  # type: ignore[assignment]
    ) -> None:
        """Doc."""

    assert params(f) == obj(
        {
            "a": {"type": "string"},
            "b": {"type": "integer", "default": 3},
            "c": {"type": "string", "enum": ["c", "f"], "default": "f"},
            "d": {"type": ["string", "null"], "default": None},
            "e": {"type": ["string", "null"], "default": None},
            "g": {},
            "h": {"type": "array", "items": {"type": "integer"}, "default": [1, 2]},
        },
        ["a"],
    )


def test_context_parameter_is_not_in_schema():
    def f(city: str, ctx: ToolContext, other: ToolContext | None = None) -> None:
        """Doc."""

    made = make_tool(f)
    assert made.parameters == obj({"city": {"type": "string"}}, ["city"])
    assert made.context_params == ("ctx", "other")


def test_string_annotations_naming_local_classes_resolve():
    class Colour(enum.Enum):
        RED = "red"

    @tool
    def paint(colour: Colour) -> str:
        """Paint."""
        return colour.name

    assert paint.parameters["properties"]["colour"] == {"type": "string", "enum": ["red"]}
    assert run(paint, '{"colour": "red"}').content == "RED"


# -- docstrings ----------------------------------------------------------------------------


def test_google_docstring():
    def f(city: str, days: int, unit: str) -> None:
        """Get the weather
        for a city.

        More detail that the model does not need.

        Args:
            city: The city name.
            days (int): How many days
                ahead to look.
            unit (str, optional): Unit.

        Returns:
            days: not a parameter description.
        """

    made = make_tool(f)
    assert made.description == "Get the weather for a city."
    props = made.parameters["properties"]
    assert props["city"]["description"] == "The city name."
    assert props["days"]["description"] == "How many days ahead to look."
    assert props["unit"]["description"] == "Unit."


def test_plain_sphinx_and_numpy_docstrings():
    def plain(city: str, days: int) -> None:
        """Plain.

        city: The city.
        days: Days.
        """

    def sphinx(city: str, days: int) -> None:
        """Sphinx.

        :param city: The city.
        :param int days: Days
            ahead.
        :type days: int
        """

    def numpy_style(city: str, days: int) -> None:
        """Numpy.

        Parameters
        ----------
        city : str
            The city.
        days : int
        """

    def undocumented(city: str) -> None:
        """Only a summary."""

    for fn, days in ((plain, "Days."), (sphinx, "Days ahead."), (numpy_style, None)):
        props = params(fn)["properties"]
        assert props["city"] == {"type": "string", "description": "The city."}, fn.__name__
        assert props["days"].get("description") == days, fn.__name__
    assert make_tool(numpy_style).description == "Numpy."
    assert params(undocumented)["properties"] == {"city": {"type": "string"}}


# -- refusals --------------------------------------------------------------------------------


def test_refuses_missing_docstring():
    def nodoc(x: int) -> int:
        return x

    with pytest.raises(ToolDefinitionError, match=r"nodoc.*no docstring"):
        tool(nodoc)


def test_refuses_missing_annotation():
    def f(x: int, y) -> None:  # type: ignore[no-untyped-def]
        """Doc."""

    with pytest.raises(ToolDefinitionError, match=r"\bf\b.*parameter 'y' has no type annotation"):
        tool(f)


def test_refuses_star_args_and_kwargs():
    def f(*items: int) -> None:
        """Doc."""

    def g(**options: str) -> None:
        """Doc."""

    with pytest.raises(ToolDefinitionError, match=r"\*items is not supported"):
        tool(f)
    with pytest.raises(ToolDefinitionError, match=r"\*\*options is not supported"):
        tool(g)


def test_refuses_unsupported_annotations():
    class Point:
        pass

    def f(p: Point) -> None:
        """Doc."""

    def g(s: Callable[[int], int]) -> None:  # a set is accepted since #13 (pydantic)
        """Doc."""

    def h(d: dict[int, str]) -> None:
        """Doc."""

    with pytest.raises(ToolDefinitionError, match=r"\bf\b.*parameter 'p'.*unsupported annotation"):
        tool(f)
    with pytest.raises(ToolDefinitionError, match=r"parameter 's'.*unsupported annotation"):
        tool(g)
    with pytest.raises(ToolDefinitionError, match=r"dict keys must be str"):
        tool(h)


def test_refuses_bad_names_and_is_a_type_error():
    with pytest.raises(TypeError, match=r"tool name '<lambda>'"):
        tool(lambda: None)

    def f() -> None:
        """Doc."""

    with pytest.raises(ToolDefinitionError, match="has space"):
        tool(name="has space")(f)
    with pytest.raises(ToolDefinitionError):
        tool(name="x" * 65)(f)
    assert tool(name="ok-name_1")(f).name == "ok-name_1"
    assert registered_tools()[0].name == "ok-name_1"


def test_refuses_unresolvable_annotation():
    def f(x: NoSuchThing) -> None:  # type: ignore[name-defined]  # noqa: F821
        """Doc."""

    with pytest.raises(ToolDefinitionError, match=r"annotations cannot be resolved.*NoSuchThing"):
        tool(f)


# -- the Tool object and the registry -----------------------------------------------------


def test_tool_object():
    @tool
    def add(a: int, b: int = 1) -> int:
        """Add two numbers."""
        return a + b

    @tool(name="fetch", description="Fetch something.")
    async def fetch_impl(url: str) -> str:
        """Ignored summary."""
        return url

    assert isinstance(add, Tool)
    assert add(2, b=3) == 5
    assert add.is_async is False and fetch_impl.is_async is True
    assert asyncio.run(fetch_impl("u")) == "u"
    assert fetch_impl.name == "fetch" and fetch_impl.description == "Fetch something."
    assert repr(add) == "<Tool add(a, b)>"
    definition = add.definition()
    assert definition == {
        "type": "function",
        "function": {
            "name": "add",
            "description": "Add two numbers.",
            "parameters": add.parameters,
        },
    }
    definition["function"]["parameters"]["properties"].clear()
    assert add.parameters["properties"]  # the definition is a copy


def test_registry_latest_definition_wins_in_first_order():
    @tool
    def first() -> str:
        """One."""
        return "1"

    @tool
    def second() -> str:
        """Two."""
        return "2"

    @tool(name="first")
    def first_again() -> str:
        """One, redefined."""
        return "1b"

    assert [t.name for t in registered_tools()] == ["first", "second"]
    assert registered_tools()[0] is first_again
    assert registered_tools()[0].description == "One, redefined."


def test_namespace_tools_are_not_registered():
    names = [t.name for t in namespace_tools()]
    assert names[:2] == ["list_variables", "get_variable"] and "notebook_history" in names
    assert registered_tools() == []
    get_var = namespace_tools()[1]
    assert get_var.parameters == obj(
        {
            "name": {
                "type": "string",
                "description": "The variable's name, as given by list_variables.",
            }
        },
        ["name"],
    )


# -- invoke: results -------------------------------------------------------------------------


def test_invoke_sync_tool_runs_in_a_daemon_thread_and_converts_arguments():
    seen: dict[str, Any] = {}

    @tool
    def weather(city: str, unit: Unit = Unit.CELSIUS, days: float = 1.5, n: int = 0) -> dict:
        """Weather."""
        seen.update(thread=threading.current_thread(), unit=unit, days=days, n=n)
        return {"city": city, "temp": 21.5, "note": "ensoleillé"}

    out = run(weather, '{"city": "Nice", "unit": "f", "days": 2, "n": 4.0}')
    assert out == ToolOutput(
        content='{"city": "Nice", "temp": 21.5, "note": "ensoleillé"}', success=True, detail=None
    )
    assert seen["thread"] is not threading.main_thread() and seen["thread"].daemon
    assert seen["unit"] is Unit.FAHRENHEIT
    assert type(seen["days"]) is float and type(seen["n"]) is int


def test_invoke_async_tool_runs_on_the_current_loop():
    seen = {}

    @tool
    async def ping(ctx: ToolContext) -> str:
        """Ping."""
        seen["thread"] = threading.current_thread()
        seen["loop"] = asyncio.get_running_loop()
        return f"pong {ctx.call_id}"

    async def main() -> ToolOutput:
        seen["outer"] = asyncio.get_running_loop()
        return await invoke({"ping": ping}, "ping", "", ToolContext(call_id="call_1"))

    out = asyncio.run(main())
    assert out.content == "pong call_1" and out.success
    assert seen["thread"] is threading.main_thread() and seen["loop"] is seen["outer"]


def test_invoke_passes_context_by_keyword():
    @tool
    def who(ctx: ToolContext, name: str = "x") -> str:
        """Who."""
        return f"{ctx.chat}:{ctx.call_id}:{name}"

    out = run(who, "  ", ToolContext(chat="chat", call_id="c9"))
    assert out.content == "chat:c9:x"


@pytest.mark.parametrize(
    ("value", "content"),
    [
        ("plain text", "plain text"),
        ("", '""'),
        (None, "null"),
        (42, "42"),
        ([1, "é"], '[1, "é"]'),
        ({"success": True}, '{"success": true}'),
    ],
)
def test_result_to_text(value: Any, content: str):
    @tool
    def give() -> Any:
        """Give."""
        return value

    assert run(give).content == content


def test_tool_reported_failure_is_not_success():
    @tool
    def refuse() -> dict:
        """Refuse."""
        return {"success": False, "error": "no"}

    out = run(refuse)
    assert out.success is False and json.loads(out.content)["error"] == "no"


def test_unserialisable_result():
    @tool
    def give_set() -> Any:
        """Give."""
        return {1, 2}

    message = error_of(run(give_set))
    assert "set" in message and "could not be serialised" in message
    assert "str, dict or list" in message


def test_truncation_note():
    @tool
    def long() -> str:
        """Long."""
        return "x" * 32_345

    out = run(long, max_chars=20_000)
    assert out.success
    assert out.content == "x" * 20_000 + "\n[... cut 12,345 of 32,345 characters]"


# -- invoke: argument failures -------------------------------------------------------------


def _get_weather(
    city: str,
    days: int = 1,
    scale: float = 1.0,
    flag: bool = False,
    unit: Literal["c", "f"] = "c",
    tags: list[str] | None = None,
    limits: dict[str, int] | None = None,
) -> str:
    """Weather."""
    return f"{city} {days} {scale} {flag} {unit} {tags} {limits}"


get_weather = make_tool(_get_weather, name="get_weather")
WEATHER = {"get_weather": get_weather}


def weather_error(arguments: str) -> str:
    out = asyncio.run(invoke(WEATHER, "get_weather", arguments, ToolContext()))
    return error_of(out)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ("{}", "Invalid arguments for get_weather: city: required, but missing"),
        ('{"city": "P", "days": "3"}', 'days: Input should be a valid integer, got "3"'),
        ('{"city": "P", "days": true}', "days: Input should be a valid integer, got true"),
        ('{"city": "P", "days": 2.5}', "days: Input should be a valid integer, got 2.5"),
        ('{"city": "P", "scale": false}', "scale: Input should be a valid number, got false"),
        ('{"city": "P", "flag": 1}', "flag: Input should be a valid boolean, got 1"),
        ('{"city": 7}', "city: Input should be a valid string, got 7"),
        ('{"city": null}', "city: Input should be a valid string, got null"),
        ('{"city": "P", "unit": "k"}', "unit: Input should be 'c' or 'f', got \"k\""),
        ('{"city": "P", "tags": ["a", 2]}', "tags[1]: Input should be a valid string, got 2"),
        ('{"city": "P", "tags": "a"}', 'tags: Input should be a valid array, got "a"'),
        (
            '{"city": "P", "limits": {"a": "1"}}',
            'limits.a: Input should be a valid integer, got "1"',
        ),
        ('{"city": "P", "town": "x"}', "town: unknown argument (expected: city, days, scale"),
        ("{", "Invalid arguments for get_weather: not valid JSON"),
        ("[1, 2]", "Invalid arguments for get_weather: expected a JSON object, got [1, 2]"),
        ('"city"', "expected a JSON object"),
    ],
)
def test_argument_validation(arguments: str, message: str):
    assert message in weather_error(arguments)


def test_several_problems_are_reported_together():
    message = weather_error('{"days": "3", "zzz": 1}')
    assert "city: required, but missing" in message
    assert "days: Input should be a valid integer" in message
    assert "zzz: unknown argument" in message


def test_valid_arguments_pass():
    arguments = (
        '{"city": "P", "days": 2, "scale": 3, "flag": true, "unit": "f", '
        '"tags": null, "limits": {"a": 1}}'
    )
    out = asyncio.run(invoke(WEATHER, "get_weather", arguments, ToolContext()))
    assert out.content == "P 2 3.0 True f None {'a': 1}"


def test_unknown_tool_names_the_available_tools():
    message = error_of(asyncio.run(invoke(WEATHER, "get_wether", "{}", ToolContext())))
    assert "Unknown tool 'get_wether'" in message and "get_weather" in message


# -- invoke: exceptions, time limits, concurrency, cancellation -------------------------------


def test_raising_tool_keeps_the_traceback_out_of_the_content():
    @tool
    def explode(x: int) -> int:
        """Explode."""
        raise ValueError(f"boom {x}")

    out = run(explode, '{"x": 3}')
    assert error_of(out) == "ValueError: boom 3"
    assert "Traceback" not in out.content
    assert out.detail is not None and "Traceback" in out.detail and "explode" in out.detail


def test_async_raising_tool():
    @tool
    async def explode() -> None:
        """Explode."""
        raise KeyError("k")

    out = run(explode)
    assert error_of(out) == "KeyError: 'k'" and "Traceback" in (out.detail or "")


def test_tool_raising_timeout_error_is_not_reported_as_our_timeout():
    @tool
    def slow_network() -> None:
        """Fail."""
        raise TimeoutError("upstream")

    assert error_of(run(slow_network, timeout=5)) == "TimeoutError: upstream"


def test_sync_timeout():
    @tool
    def sleeper() -> str:
        """Sleep."""
        time.sleep(2)
        return "late"

    start = time.monotonic()
    out = run(sleeper, timeout=0.2)
    assert time.monotonic() - start < 1.0
    assert error_of(out) == "Tool sleeper timed out after 0.2 s"


def test_async_timeout_cancels_the_tool():
    seen = []

    @tool
    async def sleeper() -> str:
        """Sleep."""
        try:
            await asyncio.sleep(2)
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise
        return "late"

    start = time.monotonic()
    out = run(sleeper, timeout=0.2)
    assert time.monotonic() - start < 1.0
    assert error_of(out) == "Tool sleeper timed out after 0.2 s"
    assert seen == ["cancelled"]


def test_eight_sync_sleepers_run_in_parallel():
    @tool
    def nap(i: int) -> int:
        """Nap."""
        time.sleep(1)
        return i

    async def main() -> list[ToolOutput]:
        calls = [invoke({"nap": nap}, "nap", f'{{"i": {i}}}', ToolContext()) for i in range(8)]
        return await asyncio.gather(*calls)

    start = time.monotonic()
    outs = asyncio.run(main())
    assert time.monotonic() - start < 1.5
    assert [o.content for o in outs] == [str(i) for i in range(8)]


@pytest.mark.parametrize("is_async", [True, False])
def test_cancellation_propagates(is_async: bool):
    seen = []

    async def slow_async() -> str:
        """Sleep."""
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise
        return "late"

    def slow_sync() -> str:
        """Sleep."""
        time.sleep(0.5)
        return "late"

    slow = make_tool(slow_async if is_async else slow_sync, name="slow")

    async def main() -> None:
        task = asyncio.create_task(invoke({"slow": slow}, "slow", "{}", ToolContext()))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    start = time.monotonic()
    asyncio.run(main())
    assert time.monotonic() - start < 0.45
    assert seen == (["cancelled"] if is_async else [])


# -- the namespace view ------------------------------------------------------------------------


def make_ns() -> dict[str, Any]:
    return {
        "df": pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]}),
        "_private": 1,
        "__builtins__": {},
        "np": np,
        "math": math,
        "In": ["cell"],
        "Out": {},
        "get_ipython": print,
        "exit": print,
        "quit": print,
        "OPENAI_API_KEY": "sk-very-secret",
        "hf_token": "hf_secret",
        "db_Password": "hunter2",
        "client_secret": "s3",
        "count": 3,
        "items": [1, 2, 3, 4],
    }


def test_namespace_view_hides_private_modules_ipython_and_secrets():
    view = NamespaceView(make_ns())
    assert list(view) == ["df", "count", "items"]
    assert len(view) == 3
    assert dict(view.items())["count"] == 3
    for hidden in ("_private", "np", "In", "Out", "exit", "OPENAI_API_KEY", "hf_token"):
        assert hidden not in view
        with pytest.raises(KeyError):
            view[hidden]
    assert view.get("db_Password") is None and view.get("client_secret", "d") == "d"


def test_namespace_view_allow_and_deny():
    ns = make_ns()
    assert list(NamespaceView(ns, deny=["count"])) == ["df", "items"]
    assert list(NamespaceView(ns, allow=["items", "count", "hf_token", "missing"])) == [
        "count",
        "items",
    ]


def test_namespace_view_is_live_and_ordered():
    ns: dict[str, Any] = {"b": 1}
    view = NamespaceView(ns)
    ns["a"] = 2
    assert list(view) == ["b", "a"] and view["a"] == 2
    ns["a"] = 5
    del ns["b"]
    assert dict(view) == {"a": 5}


def test_namespace_view_is_read_only():
    ns = {"x": 1}
    view = NamespaceView(ns)
    with pytest.raises(TypeError):
        view["x"] = 2  # type: ignore[index]
    with pytest.raises(TypeError):
        del view["x"]  # type: ignore[attr-defined]
    for method in ("update", "pop", "setdefault", "clear", "popitem"):
        assert not hasattr(view, method)
    with pytest.raises(AttributeError):
        view._data = {}  # type: ignore[misc]
    with pytest.raises(AttributeError):
        setattr(view, "x", 2)  # noqa: B010
    with pytest.raises(AttributeError):
        del view._data
    with pytest.raises(AttributeError):
        object.__setattr__(view, "y", 1)  # no __dict__ to put it in
    assert ns == {"x": 1}


# -- list_variables and get_variable ---------------------------------------------------------


def call_builtin(name: str, arguments: str, ns: Any) -> ToolOutput:
    available = {t.name: t for t in namespace_tools()}
    context = ToolContext(namespace=ns if ns is None else NamespaceView(ns))
    return asyncio.run(invoke(available, name, arguments, context))


def test_list_variables():
    ns = make_ns()
    ns["arr"] = np.zeros((3, 4), dtype=np.float32)
    ns["text"] = "y" * 200
    out = call_builtin("list_variables", "", ns)
    assert out.success
    lines = out.content.splitlines()
    assert lines[0] == "df (DataFrame, table): shape (3, 2); columns: a, b"
    assert "count (int): 3" in lines
    assert "items (list): len 4" in lines
    assert "arr (ndarray): shape (3, 4), dtype float32" in lines
    text_line = next(line for line in lines if line.startswith("text "))
    assert len(text_line) < 120
    for secret in ("OPENAI_API_KEY", "sk-very-secret", "hf_token", "hunter2", "client_secret"):
        assert secret not in out.content
    assert len(lines) == 5


def test_list_variables_cuts_many_columns_and_handles_empty():
    frame = pd.DataFrame({f"col{i}": [i] for i in range(30)})
    line = call_builtin("list_variables", "{}", {"wide": frame}).content
    assert line.startswith("wide (DataFrame, table): shape (1, 30); columns: col0, col1")
    assert "(+22 more)" in line and "col29" not in line
    empty = call_builtin("list_variables", "{}", {"_hidden": 1}).content
    assert "no variables" in empty


def test_get_variable_dataframe_series_and_array():
    ns = make_ns()
    ns["big"] = pd.DataFrame({"n": range(100), "s": [f"row{i}" for i in range(100)]})
    ns["series"] = pd.Series([1.5, 2.5], name="price")
    ns["arr"] = np.arange(1000).reshape(10, 100)
    frame = call_builtin("get_variable", '{"name": "big"}', ns).content
    assert "100 rows and 2 columns" in frame
    assert "int64" in frame
    assert "row9" in frame and "row10" not in frame
    series = call_builtin("get_variable", '{"name": "series"}', ns).content
    assert "'price'" in series and "length 2" in series and "float64" in series
    array = call_builtin("get_variable", '{"name": "arr"}', ns).content
    assert "shape (10, 100), dtype int64" in array
    assert "..." in array and "999" in array and "500" not in array
    assert len(array) < 1_000


def test_get_variable_repr_cut_and_repr_failure():
    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    ns = {"long": list(range(5_000)), "broken": Broken(), "n": 7}
    assert call_builtin("get_variable", '{"name": "n"}', ns).content == "n (int):\n7"
    long = call_builtin("get_variable", '{"name": "long"}', ns).content
    assert len(long) < 2_100 and "[... cut" in long and "characters]" in long
    broken = call_builtin("get_variable", '{"name": "broken"}', ns)
    assert broken.success and "repr() raised RuntimeError: no repr" in broken.content


def test_get_variable_hidden_and_missing_look_the_same():
    ns = make_ns()
    missing = error_of(call_builtin("get_variable", '{"name": "nope"}', ns))
    hidden = error_of(call_builtin("get_variable", '{"name": "OPENAI_API_KEY"}', ns))
    assert missing.replace("nope", "X") == hidden.replace("OPENAI_API_KEY", "X")
    assert "does not exist or is not visible" in missing and "list_variables" in missing
    assert "sk-very-secret" not in hidden
    module = error_of(call_builtin("get_variable", '{"name": "np"}', ns))
    assert module.replace("np", "X") == hidden.replace("OPENAI_API_KEY", "X")


def test_builtin_tools_filter_a_plain_mapping_and_default_context():
    plain = ToolContext(namespace={"OPENAI_API_KEY": "sk-1", "ok": 1})
    assert list_variables(plain) == "ok (int): 1"
    assert get_variable("OPENAI_API_KEY", plain)["success"] is False  # type: ignore[index]
    assert "no variables" in list_variables(ToolContext())


def test_union_arguments():
    @tool
    def pick(value: int | str, maybe: float | None = None) -> str:
        """Pick."""
        return f"{value!r} {maybe!r}"

    assert run(pick, '{"value": "x"}').content == "'x' None"
    assert run(pick, '{"value": 3, "maybe": 2}').content == "3 2.0"
    assert error_of(run(pick, '{"value": true}')).endswith(
        "value: Input should be a valid integer or a valid string, got true"
    )
    maybe = error_of(run(pick, '{"value": 1, "maybe": "2"}'))
    assert 'maybe: Input should be a valid number, got "2"' in maybe
