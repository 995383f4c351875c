"""The evaluation tests need bfcl-eval's data and checker (``pip install --no-deps bfcl-eval``)."""

from __future__ import annotations

import pytest

pytest.importorskip("bfcl_eval", reason="bfcl-eval is not installed (pip install --no-deps bfcl-eval)")
