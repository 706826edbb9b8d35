"""A tool's arguments through pydantic: the JSON schema the model sees, and its validator.

``arguments_model`` builds one pydantic model from a function's parameters (each field under
an internal name, aliased to the parameter's, so no parameter can clash with pydantic's own
attributes); ``openai_schema`` turns its JSON schema into what OpenAI-compatible servers take
(no titles, ``$ref`` inlined unless recursive, ``const`` as a one-value ``enum``, a nullable
simple type as a type list); ``problems`` turns a ``ValidationError`` into one short line per
problem with the argument's path. The docstring's descriptions come from ``docstring_parser``.

pydantic is imported here, and this module only where a tool is made: ``import luxx_nb``
stays light (README: "Dependencies").
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import decimal
import enum
import inspect
import json
import pathlib
import sys
import types
import typing
import uuid
import warnings
from collections.abc import Callable, Mapping
from typing import Any, Union

import docstring_parser
import pydantic
import typing_extensions
from pydantic import ConfigDict, Field, ValidationError
from pydantic.fields import FieldInfo

__all__ = [
    "Arguments",
    "ArgumentsError",
    "arguments_model",
    "describe",
    "jsonable",
    "openai_schema",
    "problems",
]

MAX_PROBLEMS = 8
"""Most problems listed in one failed call; the rest are counted."""
MAX_PROBLEM_CHARS = 240
"""Longest line for one problem (a long pydantic message or input is cut)."""

_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_ONE = (
    "items",
    "additionalProperties",
    "not",
    "contains",
    "propertyNames",
    "if",
    "then",
    "else",
    "unevaluatedProperties",
    "unevaluatedItems",
)
_DROPPED = ("title", "discriminator")  # noise, or OpenAPI's rather than JSON Schema's


class ArgumentsError(ValueError):
    """The model's arguments do not fit the tool; ``lines`` says each problem."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("; ".join(lines))
        self.lines = lines


@dataclasses.dataclass(frozen=True)
class Arguments:
    """Validates a call's JSON arguments into the keyword arguments of the function.

    Only the arguments the model gave are passed, so the function's own defaults apply to the
    rest (a default that JSON cannot show stays the very object).
    """

    model: type[pydantic.BaseModel]
    names: Mapping[str, str]  # field name -> parameter name

    def __call__(self, arguments: str) -> dict[str, Any]:
        try:
            parsed = self.model.model_validate_json(arguments, strict=True)
        except ValidationError as exc:
            retried = _integers_again(self.model, arguments, exc)
            if retried is None:
                data = json.loads(arguments)
                raise ArgumentsError(problems(exc, data, list(self.names.values()))) from None
            parsed = retried
        return {self.names[f]: getattr(parsed, f) for f in parsed.model_fields_set}


def _integers_again(
    model: type[pydantic.BaseModel], arguments: str, exc: ValidationError
) -> pydantic.BaseModel | None:
    """Strict mode refuses ``4.0`` for an integer; JSON does not tell them apart, and models
    write it: where every problem is such a number, try once more with the integers."""
    errors = exc.errors()
    if not all(e["type"] == "int_type" and _whole(e.get("input")) for e in errors):
        return None
    data = json.loads(arguments)
    for error in errors:
        if not _replace_at(data, error["loc"], int(error["input"])):
            return None
    try:
        return model.model_validate_json(json.dumps(data), strict=True)
    except ValidationError:
        return None


def _whole(value: Any) -> bool:
    return isinstance(value, float) and value.is_integer() and abs(value) < 2**53


def _replace_at(data: Any, loc: tuple[Any, ...], value: int) -> bool:
    """Put ``value`` where ``loc`` points in ``data``, if a number equal to it is there."""
    steps = _data_path(data, loc)
    if not steps:
        return False
    target = data
    for step in steps[:-1]:
        target = target[step]
    if not _whole(target[steps[-1]]) or target[steps[-1]] != value:
        return False
    target[steps[-1]] = value
    return True


def _data_path(data: Any, loc: tuple[Any, ...], *, keep_last: bool = False) -> list[Any]:
    """The steps of ``loc`` that walk ``data`` (keys and indexes); the others name a union's
    member (``int``, ``Point``). ``keep_last``: the last step names what is missing."""
    steps: list[Any] = []
    current = data
    for i, step in enumerate(loc):
        is_key = isinstance(current, dict) and isinstance(step, str) and step in current
        is_index = isinstance(current, list) and isinstance(step, int) and 0 <= step < len(current)
        if is_key or is_index:
            steps.append(step)
            current = current[step]
        elif keep_last and i == len(loc) - 1:
            steps.append(step)
    return steps


def problems(exc: ValidationError, data: Any, order: list[str] | None = None) -> list[str]:
    """One line per problem, ``path: message, got value``; problems at one path are joined
    (a union's arms), at most ``MAX_PROBLEMS`` lines, each cut at ``MAX_PROBLEM_CHARS``."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for error in exc.errors(include_url=False):
        steps = _data_path(data, error["loc"], keep_last=error["type"] == "missing")
        grouped.setdefault(_path(steps), []).append(error)
    lines = [_line(path, errors, order) for path, errors in grouped.items()]
    if len(lines) > MAX_PROBLEMS:
        more = len(lines) - MAX_PROBLEMS
        lines = [*lines[:MAX_PROBLEMS], f"... and {more} more problem{'s' if more > 1 else ''}"]
    return lines


def _path(steps: list[Any]) -> str:
    """``start.x``, ``tags[1]``."""
    text = ""
    for step in steps:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return text or "(arguments)"


def _line(path: str, errors: list[dict[str, Any]], order: list[str] | None) -> str:
    first = errors[0]
    if first["type"] == "missing":
        text = f"{path}: required, but missing"
    elif first["type"] == "extra_forbidden":
        known = ", ".join(order or []) or "none"
        text = f"{path}: unknown argument (expected: {known})"
    else:
        messages = [first["msg"]]
        for other in errors[1:]:
            message = other["msg"]
            messages.append(message.removeprefix("Input should be "))
        text = f"{path}: {' or '.join(dict.fromkeys(messages))}, got {_show(first.get('input'))}"
    return text if len(text) <= MAX_PROBLEM_CHARS else text[: MAX_PROBLEM_CHARS - 3] + "..."


def _show(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# -- building the model ----------------------------------------------------------------------


def arguments_model(
    name: str,
    params: list[tuple[inspect.Parameter, Any]],
    descriptions: Mapping[str, str],
) -> tuple[dict[str, Any], Arguments]:
    """The schema and the validator for ``params`` (each with its resolved annotation).

    Raises TypeError naming the parameter whose annotation pydantic cannot handle.
    """
    fields: dict[str, Any] = {}
    names: dict[str, str] = {}
    for number, (param, annotation) in enumerate(params):
        try:
            annotation = portable(annotation)
        except TypeError as exc:
            raise TypeError(f"parameter {param.name!r}: {exc}") from None
        default = param.default
        if default is None and not _allows_none(annotation):
            annotation = Union[annotation, None]  # noqa: UP007 (a runtime value, any Python)
        info: dict[str, Any] = {"alias": param.name}
        if param.default is not param.empty:
            info["default"] = default
        if descriptions.get(param.name) and not _described(annotation):
            info["description"] = descriptions[param.name]
        field = f"f{number}"
        fields[field] = (annotation, Field(**info))
        names[field] = param.name
    config = ConfigDict(extra="forbid", strict=True, arbitrary_types_allowed=False)
    try:
        model = pydantic.create_model(f"{name}_arguments", __config__=config, **fields)
    except Exception as exc:
        raise TypeError(_which_failed(params, exc)) from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a default JSON cannot show is left out
            raw = model.model_json_schema(by_alias=True)
    except Exception as exc:
        raise TypeError(_which_failed(params, exc, schema=True)) from None
    schema = openai_schema(raw)
    schema["required"] = list(schema.get("required", []))
    schema["additionalProperties"] = False
    _check_keys(schema)
    return schema, Arguments(model, names)


def _which_failed(
    params: list[tuple[inspect.Parameter, Any]], exc: Exception, *, schema: bool = False
) -> str:
    """Which parameter pydantic cannot validate (or, ``schema``, describe in JSON Schema)."""
    for param, annotation in params:
        try:
            adapter = pydantic.TypeAdapter(portable(annotation))
            if schema:
                adapter.json_schema()
        except Exception as inner:
            return (
                f"parameter {param.name!r}: unsupported annotation {annotation!r} ({_first(inner)})"
            )
    return f"its parameters cannot be described ({_first(exc)})"


def _first(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _allows_none(annotation: Any) -> bool:
    if annotation is Any or annotation is None or annotation is type(None):
        return True
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _allows_none(args[0])
    if origin in (Union, types.UnionType):
        return any(_allows_none(a) for a in args)
    if origin is typing.Literal:
        return None in args
    return False


def _described(annotation: Any) -> bool:
    """Whether ``Annotated[..., Field(description=...)]`` already describes it."""
    if typing.get_origin(annotation) is not typing.Annotated:
        return False
    return any(isinstance(m, FieldInfo) and m.description for m in annotation.__metadata__)


def portable(annotation: Any) -> Any:
    """The annotation with ``typing.TypedDict`` classes rebuilt as ``typing_extensions`` ones
    (pydantic needs those before Python 3.12), and dict keys checked to be strings."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if _is_typing_typeddict(annotation):
        return _rebuilt_typeddict(annotation)
    if origin is None or not args:
        return annotation
    if origin is dict or origin is Mapping:
        key = args[0]
        if not (key is str or _string_like(key)):
            raise TypeError(f"dict keys must be str, not {key!r} (JSON object keys are strings)")
    if origin is typing.Literal:
        return annotation
    new_args = tuple(a if isinstance(a, list) else portable(a) for a in args)
    if new_args == args:
        return annotation
    if origin is typing.Annotated:
        return typing.Annotated[(new_args[0], *annotation.__metadata__)]
    if origin in (Union, types.UnionType):
        return Union[new_args]  # noqa: UP007
    try:
        return origin[new_args if len(new_args) > 1 else new_args[0]]
    except TypeError:
        return annotation


def _string_like(key: Any) -> bool:
    if typing.get_origin(key) is typing.Literal:
        return all(isinstance(a, str) for a in typing.get_args(key))
    return isinstance(key, type) and issubclass(key, (str, enum.Enum, uuid.UUID, datetime.date))


def _is_typing_typeddict(annotation: Any) -> bool:
    return (
        sys.version_info < (3, 12)
        and isinstance(annotation, type)
        and typing.is_typeddict(annotation)
        and type(annotation).__module__ == "typing"
    )


_REBUILT: dict[Any, Any] = {}


def _rebuilt_typeddict(cls: Any) -> Any:
    """The same TypedDict, made by ``typing_extensions``: same name, keys and docstring."""
    if cls in _REBUILT:
        return _REBUILT[cls]
    hints = typing.get_type_hints(cls, include_extras=True)
    required = getattr(cls, "__required_keys__", frozenset(hints))
    fields = {}
    for key, hint in hints.items():
        hint = portable(hint)
        marked = typing.get_origin(hint) in (
            typing_extensions.Required,
            typing_extensions.NotRequired,
        )
        fields[key] = (
            hint
            if marked
            else (
                typing_extensions.Required[hint]
                if key in required
                else typing_extensions.NotRequired[hint]
            )
        )
    rebuilt = typing_extensions.TypedDict(cls.__name__, fields)  # type: ignore[operator]
    rebuilt.__doc__ = cls.__doc__
    rebuilt.__module__ = cls.__module__
    _REBUILT[cls] = rebuilt
    return rebuilt


def _check_keys(schema: Any) -> None:
    """Refuse a schema no OpenAI-compatible server would take (never seen from pydantic)."""
    if schema.get("type") != "object":
        raise TypeError("the arguments' schema is not an object")


# -- the schema the model sees ---------------------------------------------------------------


def openai_schema(raw: dict[str, Any]) -> dict[str, Any]:
    """pydantic's JSON schema, trimmed and inlined for OpenAI-compatible servers."""
    raw = copy.deepcopy(raw)
    definitions = raw.pop("$defs", {})
    kept: dict[str, Any] = {}

    def resolve(node: Any, stack: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [resolve(n, stack) for n in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            key = ref.removeprefix("#/$defs/")
            siblings = {k: v for k, v in node.items() if k != "$ref"}
            if key in stack or key not in definitions:  # recursive: keep the reference
                if key in definitions and key not in kept:
                    kept[key] = None
                    kept[key] = resolve(definitions[key], (*stack, key))
                return {**resolve(siblings, stack), "$ref": ref}
            inlined = resolve(definitions[key], (*stack, key))
            return {**inlined, **resolve(siblings, stack)}
        return _simplify({k: _walk(k, v, lambda n: resolve(n, stack)) for k, v in node.items()})

    result = resolve(raw, ())
    if kept:
        result["$defs"] = kept
    return result


def _walk(key: str, value: Any, resolve: Callable[[Any], Any]) -> Any:
    if key in _SCHEMA_MAPS and isinstance(value, dict):
        return {name: resolve(v) for name, v in value.items()}
    if key in _SCHEMA_LISTS and isinstance(value, list):
        return [resolve(v) for v in value]
    if key in _SCHEMA_ONE and isinstance(value, dict):
        return resolve(value)
    return value


def _simplify(node: dict[str, Any]) -> dict[str, Any]:
    for key in _DROPPED:
        node.pop(key, None)
    if "const" in node and "enum" not in node:
        node["enum"] = [node.pop("const")]
    if node.get("items") == {}:
        del node["items"]
    if node.get("additionalProperties") is True:
        del node["additionalProperties"]
    arms = node.get("anyOf")
    if isinstance(arms, list) and len(arms) == 2 and {"type": "null"} in arms:
        other = arms[0] if arms[1] == {"type": "null"} else arms[1]
        if isinstance(other.get("type"), str) and "anyOf" not in other:
            merged = {**other, "type": [other["type"], "null"]}
            if "enum" in other:
                merged["enum"] = [*other["enum"], None]
            del node["anyOf"]
            node = {**merged, **node}
    return node


# -- docstrings ------------------------------------------------------------------------------


def describe(doc: str, names: list[str]) -> tuple[str, dict[str, str]]:
    """The docstring's first paragraph, and a description per parameter: Google, NumPy and
    Sphinx styles through ``docstring_parser``, and plain ``name: text`` lines."""
    try:
        parsed = docstring_parser.parse(doc)
    except docstring_parser.ParseError:
        parsed = docstring_parser.parse(doc.split("\n\n", 1)[0])
    summary = parsed.short_description or ""
    if parsed.long_description and not parsed.blank_after_short_description:
        summary = f"{summary} {parsed.long_description.split(chr(10) * 2, 1)[0]}"
    described = {
        p.arg_name.lstrip("*"): " ".join(p.description.split())
        for p in parsed.params
        if p.description and p.arg_name.lstrip("*") in names
    }
    if parsed.long_description:
        for name, text in _plain_lines(parsed.long_description, names).items():
            described.setdefault(name, text)
    return " ".join(summary.split()), described


def _plain_lines(text: str, names: list[str]) -> dict[str, str]:
    """``name: text`` lines, read as the arguments section of a Google docstring would be."""
    found: dict[str, str] = {}
    for paragraph in text.split("\n\n"):
        block = "\n".join("    " + line for line in paragraph.splitlines())
        try:
            parsed = docstring_parser.parse(
                f"Summary.\n\nArgs:\n{block}", docstring_parser.Style.GOOGLE
            )
        except docstring_parser.ParseError:
            continue
        for param in parsed.params:
            if param.arg_name in names and param.description:
                found.setdefault(param.arg_name, " ".join(param.description.split()))
    return found


# -- results ---------------------------------------------------------------------------------

_JSONABLE = (
    datetime.date,
    datetime.time,
    datetime.timedelta,
    uuid.UUID,
    decimal.Decimal,
    pathlib.PurePath,
    enum.Enum,
)


def jsonable(value: Any) -> Any:
    """``json.dumps``'s ``default`` for a tool's result: models, dataclasses, and the values
    their fields hold (dates, UUIDs...) as JSON; anything else is refused (TypeError)."""
    if isinstance(value, pydantic.BaseModel):
        return value.model_dump(mode="json")
    if (dataclasses.is_dataclass(value) and not isinstance(value, type)) or isinstance(
        value, _JSONABLE
    ):
        return pydantic.TypeAdapter(type(value)).dump_python(value, mode="json")
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
