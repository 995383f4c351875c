"""Session-scoped llama.cpp grammar oracle (vocabulary only, loaded once)."""

from __future__ import annotations

import pytest

from tests.grammar.oracle import Oracle


@pytest.fixture(scope="session")
def oracle(model_path: str) -> Oracle:
    return Oracle(model_path)
