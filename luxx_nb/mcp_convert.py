"""An MCP server's tools and results in luxx_nb's terms: a listed tool as a ``Tool``, a call's
result as a ``ToolOutput``.

The model sees the server's own schema (checked as a JSON Schema; a tool whose schema is not
valid is left out, with a note), arguments are checked against it before the call, text
content goes to the model, a PNG or JPEG image shows in the step (checked by ``images.py``;
the model gets a note), and a result marked ``isError`` is a failed call. jsonschema is
imported only when a server lists its tools.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from luxx_nb.images import checked, model_note
from luxx_nb.tools.definition import Tool
from luxx_nb.tools.result import ToolOutput

__all__ = ["listed_tool", "to_output"]


def listed_tool(
    listed: Any, server: str, call: Callable[..., Awaitable[ToolOutput]], approve: bool = False
) -> Tool | str:
    """A tool the server listed as a ``Tool`` that runs ``call`` (each call approved by a person
    first when ``approve``), or a note saying why it is left out (its input schema cannot be
    sent)."""
    from luxx_nb.tools.arguments import ArgumentsError

    name = listed.name
    schema = dict(listed.input_schema or {})
    problem = _schema_problem(schema)
    if problem is not None:
        return f"{server}: the tool {name!r} is left out: its input schema {problem}"
    schema.pop("$schema", None)
    schema.pop("title", None)
    schema.setdefault("properties", {})
    validator = _validator(schema)

    def validate(arguments: str) -> dict[str, Any]:
        value = json.loads(arguments)
        errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
        if errors:
            raise ArgumentsError(_problem_lines(errors))
        return value

    description = (listed.description or "").strip() or f"The {name} tool of {server}."
    return Tool(
        name=name,
        description=description,
        parameters=schema,
        fn=call,
        validate=validate,
        source=server,
        approve=approve,
    )


def to_output(result: Any) -> ToolOutput:
    """A ``CallToolResult`` as the call's result: text for the model, images for the step
    (and a note of each for the model), ``is_error`` as a failure."""
    texts: list[str] = []
    images = []
    for block in result.content or ():
        kind = getattr(block, "type", "")
        if kind == "text":
            texts.append(block.text)
        elif kind == "image":
            image = checked(block.data, getattr(block, "mime_type", "") or "")
            if isinstance(image, str):
                texts.append(f"[{image[:1].upper()}{image[1:]}.]")
            else:
                images.append(image)
                texts.append(model_note(image))
        elif kind == "resource":
            resource = block.resource
            text = getattr(resource, "text", None)
            texts.append(text if text is not None else f"[A resource: {resource.uri}]")
        elif kind == "resource_link":
            texts.append(f"[A resource: {block.uri}]")
        else:
            texts.append(f"[A {kind or 'content'} part, not shown]")
    structured = getattr(result, "structured_content", None)
    if not texts and structured is not None:
        texts.append(json.dumps(structured, ensure_ascii=False))
    text = "\n\n".join(texts)
    if result.is_error:
        error = text or "the tool failed and said nothing more"
        content = json.dumps({"success": False, "error": error}, ensure_ascii=False)
        return ToolOutput(content=content, success=False, images=tuple(images))
    return ToolOutput(content=text, success=True, images=tuple(images))


def _schema_problem(schema: Any) -> str | None:
    """Why a tool's input schema cannot be sent, or None."""
    import jsonschema

    if not isinstance(schema, dict):
        return "is not an object"
    if schema.get("type") != "object":
        return f"is not of type object (it is {schema.get('type')!r})"
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "top"
        return f"is not valid JSON Schema (at {where}: {exc.message[:200]})"
    return None


def _validator(schema: dict[str, Any]) -> Any:
    import jsonschema

    return jsonschema.validators.validator_for(schema)(schema)


def _problem_lines(errors: list[Any]) -> list[str]:
    from luxx_nb.tools.arguments import MAX_PROBLEM_CHARS, MAX_PROBLEMS

    lines = []
    for error in errors[:MAX_PROBLEMS]:
        path = ""
        for step in error.absolute_path:
            path += f"[{step}]" if isinstance(step, int) else (f".{step}" if path else str(step))
        line = f"{path or '(arguments)'}: {error.message}"
        lines.append(
            line if len(line) <= MAX_PROBLEM_CHARS else line[: MAX_PROBLEM_CHARS - 3] + "..."
        )
    if len(errors) > MAX_PROBLEMS:
        lines.append(f"... and {len(errors) - MAX_PROBLEMS} more problems")
    return lines
