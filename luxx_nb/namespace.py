"""A read-only, filtered view of the notebook's variables: what every tool that reads them sees.

The filter keeps accidents out of the model's context (an API key, IPython's history, whole
modules). With ``protect=True`` (what ``Chat`` hands its tools) a tool gets a value it cannot
use to change the notebook's: a pandas object is a copy (shallow and free under copy-on-write,
pandas 3; deep otherwise), a numpy array a read-only view, anything else a deep copy of at most
``COPY_LIMIT`` items. A variable that cannot be copied, or is larger, is refused with a
message rather than handed over live. The view records which variables were read, so the run
can show it. pandas and numpy are recognised by their types' modules and never imported here.
The tools that read it are in ``luxx_nb.variable_tools``.

This guards against accidents through the context, not against a tool that means harm: a tool
is the notebook owner's own code, and can ``import __main__``.
"""

from __future__ import annotations

import collections
import copy
import sys
import types
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from luxx_nb.errors import VariableAccessError

__all__ = [
    "COPY_LIMIT",
    "IPYTHON_NAMES",
    "NamespaceView",
    "as_view",
    "is_array",
    "is_frame",
    "is_machinery",
    "is_series",
    "looks_secret",
]

IPYTHON_NAMES = frozenset({"In", "Out", "get_ipython", "exit", "quit"})
"""IPython's own names in a notebook's namespace, never shown."""
_SECRET_WORDS = ("key", "token", "secret", "password")

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
        if name in IPYTHON_NAMES or name in self._deny:
            return False
        if self._allow is not None and name not in self._allow:
            return False
        return not looks_secret(name)

    def look(self, name: Any) -> Any:
        """The live value, if visible; KeyError otherwise. Records nothing."""
        if not self._shown(name):
            raise KeyError(name)
        value = self._data[name]
        if is_machinery(value):
            raise KeyError(name)
        return value

    def peek(self, name: str) -> Any:
        """The live value, recorded as read: for luxx_nb's own tools, which only look."""
        value = self.look(name)
        self._reads[name] = None
        return value

    def __getitem__(self, name: str) -> Any:
        value = self.look(name)
        self._reads[name] = None
        return _protected(name, value) if self._protect else value

    def __contains__(self, name: object) -> bool:
        try:
            self.look(name)
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
            if not is_machinery(value):
                yield name

    def __len__(self) -> int:
        return sum(1 for _ in self)

    @property
    def reads(self) -> tuple[str, ...]:
        return tuple(self._reads)

    def __repr__(self) -> str:
        return f"<NamespaceView: {len(self)} visible variables>"


def looks_secret(name: str) -> bool:
    """The variables' own rule: key, token, secret or password anywhere in the name."""
    lowered = name.lower()
    return any(word in lowered for word in _SECRET_WORDS)


def as_view(namespace: Mapping[str, Any]) -> NamespaceView:
    """A tool context's namespace as a view; a plain mapping is filtered (and protected) too,
    so secrets never slip through."""
    if isinstance(namespace, NamespaceView):
        return namespace
    return NamespaceView(namespace, protect=True)


def _protected(name: str, value: Any) -> Any:
    """A value a tool may change freely without changing the notebook's (see the module)."""
    if isinstance(value, _IMMUTABLE):
        return value
    if is_frame(value) or is_series(value):
        return value.copy(deep=not _copy_on_write())
    if is_array(value) and value.dtype != object:
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
        elif is_array(item):
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


def is_machinery(value: Any) -> bool:
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


def is_frame(value: Any) -> bool:
    return _from(value, "pandas", "DataFrame")


def is_series(value: Any) -> bool:
    return _from(value, "pandas", "Series")


def is_array(value: Any) -> bool:
    return _from(value, "numpy", "ndarray") and "numpy" in sys.modules
