"""``config.py``: one frozen ``Settings`` owns every default; the front doors copy it."""

from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from luxx_nb import Chat
from luxx_nb.config import SETTING_NAMES, Settings
from luxx_nb.magic import LuxxMagics
from luxx_nb.magic_options import CELL_SETTINGS, cell_settings

PACKAGE = Path(__file__).resolve().parents[1] / "luxx_nb"
TRAITS = [
    "system",
    "temperature",
    "max_tokens",
    "thinking",
    "max_iterations",
    "max_history",
    "context_window",
    "tool_timeout",
    "timeout",
    "hidden_variables",
]


def _cell(**options):
    """A ``%%luxx`` line's parsed arguments, with every option unset but ``options``."""
    args = {name: None for name in CELL_SETTINGS}
    args.update(seed=None, vars=None)
    args.update(options)
    return SimpleNamespace(**args)


def test_settings_are_frozen():
    settings = Settings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.max_iterations = 3  # type: ignore[misc]


def test_the_defaults():
    settings = Settings()
    assert (settings.max_iterations, settings.tool_timeout, settings.max_result_chars) == (
        10,
        60.0,
        20_000,
    )
    assert settings.hidden_variables == () and settings.visible_variables is None


def test_the_traits_defaults_are_the_settings_defaults():
    defaults = Settings()
    for name in TRAITS:
        trait = LuxxMagics.class_traits()[name]
        value = trait.default()
        expected = getattr(defaults, name)
        assert (tuple(value) if isinstance(value, list) else value) == expected, name


def test_the_traits_give_settings_equal_to_the_defaults():
    magics = LuxxMagics(shell=None)
    assert magics.settings() == Settings(variable_tools=False)


def test_chat_keywords_default_to_the_settings():
    chat = Chat(model="m", base_url="http://127.0.0.1:9/v1", api_key="k")
    assert chat.settings == Settings()
    parameters = inspect.signature(Chat).parameters
    for name in SETTING_NAMES:
        if name in parameters and name != "extra_body":
            assert parameters[name].default == getattr(Settings(), name), name


def test_a_chat_attribute_replaces_its_settings():
    chat = Chat(model="m", base_url="http://127.0.0.1:9/v1", api_key="k", max_iterations=3)
    before = chat.settings
    chat.max_result_chars = 30_000
    chat.hidden_variables = ["a", "b"]
    assert before.max_result_chars == 20_000  # the old settings are not changed
    assert chat.settings.max_result_chars == chat.max_result_chars == 30_000
    assert chat.hidden_variables == ("a", "b") and chat.max_iterations == 3


def test_a_cells_options_replace_only_what_they_name():
    base = Settings(system="be brief", max_iterations=4, variable_tools=False)
    cell = cell_settings(base, _cell(temperature=0.0, seed=7, vars="a, b"))
    assert cell == dataclasses.replace(
        base, temperature=0.0, extra_body={"seed": 7}, visible_variables=("a", "b")
    )
    assert base == Settings(system="be brief", max_iterations=4, variable_tools=False)
    assert cell_settings(base, _cell()) == base  # the next cell, without options


def test_a_cells_options_do_not_change_another_chats_settings():
    shared = Settings(max_iterations=4)
    first = Chat(model="m", base_url="http://127.0.0.1:9/v1", api_key="k")
    second = Chat(model="m", base_url="http://127.0.0.1:9/v1", api_key="k")
    first.settings = second.settings = shared
    first.settings = cell_settings(first.settings, _cell(max_iterations=1, system="x"))
    assert first.max_iterations == 1 and first.system == "x"
    assert second.settings is shared and second.max_iterations == 4 and second.system is None


def test_each_default_is_written_once_in_the_package():
    """``max_iterations=10``, ``tool_timeout=60.0``, ``max_result_chars=20_000``: in config.py."""
    patterns = {
        "max_iterations": r"max_iterations\W+(int\s*=\s*)?10\b|Integer\(\s*10\b",
        "tool_timeout": r"tool_timeout\W+(float\s*=\s*)?60(\.0)?\b|Float\(\s*60(\.0)?\b",
        "max_result_chars": r"max_result_chars\W+(int\s*=\s*)?20_?000\b",
    }
    for name, pattern in patterns.items():
        found = [
            path.relative_to(PACKAGE).as_posix()
            for path in PACKAGE.rglob("*.py")
            if re.search(pattern, path.read_text(encoding="utf-8"))
        ]
        assert found == ["config.py"], (name, found)
