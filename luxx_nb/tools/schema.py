"""A tool's parameters through pydantic: one model built from the signature, the JSON schema
the model sees, and a result written as JSON.

``arguments_model`` builds one pydantic model from a function's parameters (each field under
an internal name, aliased to the parameter's, so no parameter can clash with pydantic's own
attributes), whose validator is ``luxx_nb.tools.arguments.Arguments``; ``openai_schema`` turns
its JSON schema into what OpenAI-compatible servers take (no titles, ``$ref`` inlined unless
recursive, ``const`` as a one-value ``enum``, a nullable simple type as a type list).

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
import pathlib
import sys
import types
import typing
import uuid
import warnings
from collections.abc import Callable, Mapping
from typing import Any, Union

import pydantic
import typing_extensions
from pydantic import ConfigDict, Field
from pydantic.fields import FieldInfo

from luxx_nb.tools.arguments import Arguments

__all__ = ["arguments_model", "jsonable", "openai_schema", "portable"]

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
    filled: set[str] = set()
    for number, (param, annotation) in enumerate(params):
        try:
            annotation = portable(annotation)
        except TypeError as exc:
            raise TypeError(f"parameter {param.name!r}: {exc}") from None
        default = param.default
        info: dict[str, Any] = {"alias": param.name}
        if isinstance(default, FieldInfo):  # ``n: int = Field(1, ge=0)``, as validate_call takes
            annotation = typing.Annotated[annotation, default]  # its default and constraints
            default = default.default
            filled.add(f"f{number}")
        elif default is not param.empty:
            info["default"] = default
        if default is None and not _allows_none(annotation):
            annotation = Union[annotation, None]  # noqa: UP007 (a runtime value, any Python)
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
    return schema, Arguments(model, names, frozenset(filled))


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
