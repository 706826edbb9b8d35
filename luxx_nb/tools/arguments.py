"""The model's JSON arguments checked against a tool's pydantic model, strictly, as JSON says
them (``"3"`` is not an integer, ``4.0`` is); a failure is one short line per problem with the
argument's path, which the model can act on.

pydantic is imported here, and this module only where a tool is made or a typed tool's call is
checked: ``import luxx_nb`` stays light (README: "Dependencies").
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

import pydantic
from pydantic import ValidationError

__all__ = ["MAX_PROBLEMS", "MAX_PROBLEM_CHARS", "Arguments", "ArgumentsError", "problems"]

MAX_PROBLEMS = 8
"""Most problems listed in one failed call; the rest are counted."""
MAX_PROBLEM_CHARS = 240
"""Longest line for one problem (a long pydantic message or input is cut)."""


class ArgumentsError(ValueError):
    """The model's arguments do not fit the tool; ``lines`` says each problem."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("; ".join(lines))
        self.lines = lines


@dataclasses.dataclass(frozen=True)
class Arguments:
    """Validates a call's JSON arguments into the keyword arguments of the function.

    Only the arguments the model gave are passed, so the function's own defaults apply to the
    rest (a default that JSON cannot show stays the very object); a parameter whose default is
    a ``Field(...)`` (in ``filled``) always gets the model's value, its default when not given.
    """

    model: type[pydantic.BaseModel]
    names: Mapping[str, str]  # field name -> parameter name
    filled: frozenset[str] = frozenset()

    def __call__(self, arguments: str) -> dict[str, Any]:
        try:
            parsed = self.model.model_validate_json(arguments, strict=True)
        except ValidationError as exc:
            retried = _integers_again(self.model, arguments, exc)
            if retried is None:
                data = json.loads(arguments)
                raise ArgumentsError(problems(exc, data, list(self.names.values()))) from None
            parsed = retried
        given = parsed.model_fields_set | self.filled
        return {self.names[f]: getattr(parsed, f) for f in self.names if f in given}


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
