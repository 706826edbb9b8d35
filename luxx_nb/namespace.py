"""A read-only, filtered view of the notebook's variables, and the two tools that read it.

The filter keeps accidents out of the model's context (an API key, IPython's history, whole
modules). With ``protect=True`` (what ``Chat`` hands its tools) a tool gets a value it cannot
use to change the notebook's: a pandas object is a copy (shallow and free under copy-on-write,
pandas 3; deep otherwise), a numpy array a read-only view, anything else a deep copy of at most
``COPY_LIMIT`` items. A variable that cannot be copied, or is larger, is refused with a
message rather than handed over live. The view records which variables were read, so the run
can show it. pandas and numpy are recognised by their types' modules and never imported here.

This guards against accidents through the context, not against a tool that means harm: a tool
is the notebook owner's own code, and can ``import __main__``.
"""

from __future__ import annotations

import collections
import copy
import functools
import sys
import types
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from luxx_nb import sql
from luxx_nb.errors import VariableAccessError
from luxx_nb.tools import Tool, ToolContext, _cut, make_tool

__all__ = ["NamespaceView", "get_variable", "list_variables", "namespace_tools"]

_IPYTHON_NAMES = frozenset({"In", "Out", "get_ipython", "exit", "quit"})
_SECRET_WORDS = ("key", "token", "secret", "password")
_LINE = 80
_REPR = 2_000
_TABLE = 4_000
_ROWS = 10

COPY_LIMIT = 1_000_000
"""Most items (elements, keys and values, attributes, counted through nesting) deep-copied for
a tool: about one second of ``copy.deepcopy`` measured on lists, dicts and nested lists."""

_IMMUTABLE = (str, bytes, int, float, complex, bool, type(None), range)


class NamespaceView(Mapping[str, Any]):
    """Reads go through to the live dict; there is no way to assign or delete through it.

    Hidden: names starting with ``_``, modules, IPython's own names, names that look like
    secrets (containing key, token, secret or password), anything in ``deny``, and, when
    ``allow`` is given, every name not in it. ``protect=True`` gives copies (see the module's
    docstring). ``reads`` lists the names whose values were read, in order.
    """

    __slots__ = ("_allow", "_data", "_deny", "_protect", "_reads")

    def __init__(
        self,
        data: Mapping[str, Any],
        allow: Iterable[str] | None = None,
        deny: Iterable[str] = (),
        *,
        protect: bool = False,
    ) -> None:
        object.__setattr__(self, "_data", data)
        object.__setattr__(self, "_allow", None if allow is None else frozenset(allow))
        object.__setattr__(self, "_deny", frozenset(deny))
        object.__setattr__(self, "_protect", protect)
        object.__setattr__(self, "_reads", {})

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

    def _look(self, name: Any) -> Any:
        """The live value, if visible; KeyError otherwise. Records nothing."""
        if not self._shown(name):
            raise KeyError(name)
        value = self._data[name]
        if _machinery(value):
            raise KeyError(name)
        return value

    def peek(self, name: str) -> Any:
        """The live value, recorded as read: for luxx_nb's own tools, which only look."""
        value = self._look(name)
        self._reads[name] = None
        return value

    def __getitem__(self, name: str) -> Any:
        value = self._look(name)
        self._reads[name] = None
        return _protected(name, value) if self._protect else value

    def __contains__(self, name: object) -> bool:
        try:
            self._look(name)
        except KeyError:
            return False
        return True

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

    @property
    def reads(self) -> tuple[str, ...]:
        return tuple(self._reads)

    def __repr__(self) -> str:
        return f"<NamespaceView: {len(self)} visible variables>"


def _protected(name: str, value: Any) -> Any:
    """A value a tool may change freely without changing the notebook's (see the module)."""
    if isinstance(value, _IMMUTABLE):
        return value
    if _is_frame(value) or _is_series(value):
        return value.copy(deep=not _copy_on_write())
    if _is_array(value) and value.dtype != object:
        view = value.view()
        view.flags.writeable = False
        return view
    if _too_big(value):
        raise VariableAccessError(
            f"The variable {name!r} has more than {COPY_LIMIT:,} items: too many to copy for a "
            "tool, and tools never get the live object. A DataFrame or numpy array is shared "
            "read-only at no cost."
        )
    try:
        return copy.deepcopy(value)
    except Exception as exc:
        raise VariableAccessError(
            f"The variable {name!r} ({type(value).__name__}) cannot be copied for a tool "
            f"({type(exc).__name__}: {exc}), and tools never get the live object."
        ) from None


def _copy_on_write() -> bool:
    """True when pandas copies on write, so a shallow copy cannot change the original."""
    pandas = sys.modules.get("pandas")
    if pandas is None:
        return False
    major = str(getattr(pandas, "__version__", "0")).split(".")[0]
    if major.isdigit() and int(major) >= 3:
        return True
    try:
        return pandas.get_option("mode.copy_on_write") is True
    except Exception:
        return False


_NESTED = (list, tuple, set, frozenset, collections.deque)


def _too_big(value: Any) -> bool:
    """Whether a deep copy would copy more than ``COPY_LIMIT`` items (an estimate that stops
    counting at the limit, so a huge value costs no more than the limit to measure)."""
    count, seen, stack = 0, set(), [value]
    while stack:
        item = stack.pop()
        if isinstance(item, _IMMUTABLE) or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, dict):
            children: Iterable[Any] = [*item.keys(), *item.values()]
        elif isinstance(item, _NESTED):
            children = item
        elif _is_array(item):
            count += int(item.size)
            children = item.flat if item.dtype == object else ()
        else:
            children = getattr(item, "__dict__", {}).values()
        for child in children:
            count += 1
            if count > COPY_LIMIT:
                return True
            stack.append(child)
    return False


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
    if sql.table_kind(value) is not None and not _is_series(value):
        return sql.table_line(value)
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
    return ns if isinstance(ns, NamespaceView) else NamespaceView(ns, protect=True)


def list_variables(context: ToolContext) -> str:
    """List the notebook's variables you can read: name, type and a one-line summary each.
    Those marked "table" can be read with SQL through the query tool."""
    view = _namespace(context)
    lines = []
    for name in view:
        try:
            value = view.peek(name)
        except KeyError:
            continue
        table = ", table" if sql.table_kind(value) is not None else ""
        lines.append(f"{name} ({type(value).__name__}{table}): {_summary(value)}")
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
    repr, cut when long. A table also gets a summary of each column (nulls, distinct values,
    min, max and mean of numbers).

    Args:
        name: The variable's name, as given by list_variables.
    """
    try:
        value = _namespace(context).peek(name)
    except KeyError:
        return {
            "success": False,
            "error": f"The variable {name!r} does not exist or is not visible to tools. "
            "Call list_variables to see the variables you can read.",
        }
    try:
        text = _describe(name, value)
    except Exception as exc:
        return f"{name} ({type(value).__name__}) could not be shown: {type(exc).__name__}: {exc}"
    if sql.table_kind(value) is None:
        return text
    try:
        summary = sql.column_summary(name, value)
    except Exception as exc:
        summary = f"No column summary ({type(exc).__name__}: {_cut(str(exc), 300)})"
    return f"{text}\n\n{summary}"


@functools.cache
def _tools() -> tuple[Tool, ...]:
    """Made on first use (see ``sql.query_tool``)."""
    return (make_tool(list_variables), make_tool(get_variable), sql.query_tool())


def namespace_tools() -> list[Tool]:
    """``list_variables``, ``get_variable``, ``query`` (luxx_nb.sql) and ``notebook_history``
    (luxx_nb.history); not in the user's registry, added on request."""
    from luxx_nb.history import history_tool  # it imports this module

    return [*_tools(), history_tool()]
