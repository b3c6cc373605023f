"""Fixtures of the masks tests."""

from __future__ import annotations

import pytest
from masks_helpers import tiny_generator

from synthbio.nn.generator import Generator


@pytest.fixture(scope="module")
def G32() -> Generator:
    return tiny_generator()
