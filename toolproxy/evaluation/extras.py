"""The optional dependencies of ``toolproxy eval``: a missing one is one clear line naming the install commands.

``pip install 'toolproxy[eval]'`` brings tqdm (the progress bar), matplotlib (the chart) and mpmath (BFCL's
multi-turn checker); bfcl-eval itself is installed apart, ``--no-deps`` (its declared dependencies are heavy and
unused here). :func:`require` imports one of them or raises :class:`MissingDependency`, an
:class:`EvalSetupError` that ``toolproxy eval`` prints as one line and exits 2 on, without a traceback.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from toolproxy.evaluation.errors import EvalSetupError

EVAL_EXTRA = "pip install 'toolproxy[eval]'"
BFCL_EVAL = "pip install --no-deps bfcl-eval"
INSTALL = f"{EVAL_EXTRA} && {BFCL_EVAL}"


class MissingDependency(EvalSetupError):
    """An optional package ``toolproxy eval`` needs is not installed."""

    def __init__(self, package: str, purpose: str) -> None:
        super().__init__(f"{purpose} needs the Python package {package!r}, which is not installed; "
                         f"install the eval extra: {INSTALL}")
        self.package = package


def missing(exc: ImportError, purpose: str) -> MissingDependency:
    """The :class:`MissingDependency` for an ``ImportError`` (the top-level package that failed to import)."""
    name = (exc.name or "").split(".")[0] or str(exc)
    return MissingDependency(name, purpose)


def require(module: str, purpose: str) -> ModuleType:
    """``import module``, or :class:`MissingDependency` saying what for and how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise missing(exc, purpose) from exc
