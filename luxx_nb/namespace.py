"""A read-only, filtered view of the notebook's variables, and the two tools that read it.

The filter keeps accidents out of the model's context (an API key, IPython's history, whole
modules); it is not a sandbox: the values are the live objects, and a tool can call their
methods. pandas and numpy are recognised by their types' modules and never imported here.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from luxx_nb.tools import Tool, ToolContext, _cut, make_tool

__all__ = ["NamespaceView", "get_variable", "list_variables", "namespace_tools"]

_IPYTHON_NAMES = frozenset({"In", "Out", "get_ipython", "exit", "quit"})
_SECRET_WORDS = ("key", "token", "secret", "password")
_LINE = 80
_REPR = 2_000
_TABLE = 4_000
_ROWS = 10


class NamespaceView(Mapping[str, Any]):
    """Reads go through to the live dict; there is no way to assign or delete through it.

    Hidden: names starting with ``_``, modules, IPython's own names, names that look like
    secrets (containing key, token, secret or password), anything in ``deny``, and, when
    ``allow`` is given, every name not in it.
    """

    __slots__ = ("_allow", "_data", "_deny")

    def __init__(
        self,
        data: Mapping[str, Any],
        allow: Iterable[str] | None = None,
        deny: Iterable[str] = (),
    ) -> None:
        object.__setattr__(self, "_data", data)
        object.__setattr__(self, "_allow", None if allow is None else frozenset(allow))
        object.__setattr__(self, "_deny", frozenset(deny))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("NamespaceView is read-only")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("NamespaceView is read-only")

    def _shown(self, name: Any) -> bool:
        if not isinstance(name, str) or not name or name.startswith("_"):
            return False
        if name in _IPYTHON_NAMES or name in self._deny:
            return False
        if self._allow is not None and name not in self._allow:
            return False
        lowered = name.lower()
        return not any(word in lowered for word in _SECRET_WORDS)

    def __getitem__(self, name: str) -> Any:
        if not self._shown(name):
            raise KeyError(name)
        value = self._data[name]
        if _machinery(value):
            raise KeyError(name)
        return value

    def __iter__(self) -> Iterator[str]:
        for name in list(self._data):  # a snapshot of the names only: a thread may add more
            if not self._shown(name):
                continue
            try:
                value = self._data[name]
            except KeyError:  # deleted meanwhile
                continue
            if not _machinery(value):
                yield name

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return f"<NamespaceView: {len(self)} visible variables>"


def _machinery(value: Any) -> bool:
    """Modules, and what IPython or the kernel put in the namespace (``open``, ``display``…)."""
    if isinstance(value, types.ModuleType):
        return True
    if not callable(value):
        return False
    owner = getattr(value, "__module__", None) or ""
    code = getattr(value, "__code__", None)  # IPython's ``open`` wraps io.open, module and all
    where = getattr(code, "co_filename", "").replace("\\", "/")
    return owner.split(".")[0] in ("IPython", "ipykernel") or any(
        f"/{package}/" in where for package in ("IPython", "ipykernel")
    )


def _from(value: Any, module: str, name: str | None = None) -> bool:
    """True when the value's class, or a base, comes from ``module`` (and is named ``name``)."""
    return any(
        (cls.__module__ or "").split(".")[0] == module and (name is None or cls.__name__ == name)
        for cls in type(value).__mro__
    )


def _is_frame(value: Any) -> bool:
    return _from(value, "pandas", "DataFrame")


def _is_series(value: Any) -> bool:
    return _from(value, "pandas", "Series")


def _is_array(value: Any) -> bool:
    return _from(value, "numpy", "ndarray") and "numpy" in sys.modules


def _safe_repr(value: Any, limit: int) -> str:
    try:
        text = repr(value)
    except Exception as exc:
        return f"<repr() raised {type(exc).__name__}: {exc}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _columns(frame: Any, shown: int = 8) -> str:
    names = [str(c) for c in frame.columns]
    more = f", ... (+{len(names) - shown} more)" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def _summary(value: Any) -> str:
    """One line: shape and columns, shape and dtype, a length, or a short repr."""
    if _is_frame(value):
        return f"shape {tuple(value.shape)}; columns: {_columns(value)}"
    if _is_series(value) or _is_array(value):
        return f"shape {tuple(value.shape)}, dtype {value.dtype}"
    if not isinstance(value, (str, bytes)) and hasattr(type(value), "__len__"):
        try:
            return f"len {len(value)}"
        except Exception:
            pass
    return _safe_repr(value, _LINE).replace("\n", " ")


def _namespace(context: ToolContext) -> NamespaceView:
    """The context's view; a plain mapping is filtered too, so secrets never slip through."""
    ns = context.namespace
    return ns if isinstance(ns, NamespaceView) else NamespaceView(ns)


def list_variables(context: ToolContext) -> str:
    """List the notebook's variables you can read: name, type and a one-line summary each."""
    view = _namespace(context)
    lines = []
    for name in view:
        try:
            value = view[name]
        except KeyError:
            continue
        lines.append(f"{name} ({type(value).__name__}): {_summary(value)}")
    return "\n".join(lines) or "There are no variables in the notebook yet."


def _describe(name: str, value: Any) -> str:
    kind = type(value).__name__
    if _is_frame(value):
        rows, cols = value.shape
        dtypes = _cut(value.dtypes.to_string(), _TABLE // 3)
        head = value.head(_ROWS).to_string(max_cols=20, max_colwidth=60)
        text = (
            f"{name}: {kind} with {rows:,} rows and {cols:,} columns\n\n"
            f"Column dtypes:\n{dtypes}\n\nFirst {min(rows, _ROWS)} rows:\n{head}"
        )
        return _cut(text, _TABLE)
    if _is_series(value):
        head = value.head(_ROWS).to_string()
        text = f"{name}: {kind} {value.name!r}, length {len(value):,}, dtype {value.dtype}\n\n"
        return _cut(f"{text}First {min(len(value), _ROWS)} values:\n{head}", _TABLE)
    if _is_array(value):
        numpy = sys.modules["numpy"]
        values = numpy.array2string(value, threshold=100, edgeitems=3, max_line_width=100)
        return _cut(f"{name}: {kind}, shape {value.shape}, dtype {value.dtype}\n{values}", _TABLE)
    try:
        text = repr(value)
    except Exception as exc:
        return f"{name} ({kind}): its repr() raised {type(exc).__name__}: {exc}"
    return f"{name} ({kind}):\n{_cut(text, _REPR)}"


def get_variable(name: str, context: ToolContext) -> str | dict[str, Any]:
    """Show one notebook variable in a bounded, readable form: a DataFrame or Series gives its
    shape, dtypes and first rows; an array its shape, dtype and a few values; anything else its
    repr, cut when long.

    Args:
        name: The variable's name, as given by list_variables.
    """
    try:
        value = _namespace(context)[name]
    except KeyError:
        return {
            "success": False,
            "error": f"The variable {name!r} does not exist or is not visible to tools. "
            "Call list_variables to see the variables you can read.",
        }
    try:
        return _describe(name, value)
    except Exception as exc:
        return f"{name} ({type(value).__name__}) could not be shown: {type(exc).__name__}: {exc}"


_TOOLS = (make_tool(list_variables), make_tool(get_variable))


def namespace_tools() -> list[Tool]:
    """``list_variables`` and ``get_variable``; not in the user's registry, added on request."""
    return list(_TOOLS)
