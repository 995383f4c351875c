from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.grammar.oracle import Oracle


@pytest.fixture(scope="session")
def oracle(model_path: str) -> Iterator[Oracle]:
    yield Oracle(model_path)
