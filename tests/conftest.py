"""Shared pytest helpers (no custom markers).

``missing_resource`` lets a test that needs an external resource (a data set installed from a
system package, say) skip on a developer machine but fail loudly in CI, where the resource is
part of the environment and its absence is a configuration error, not a reason to skip.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import NoReturn

import pytest


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture
def in_ci() -> bool:
    """True when the ``CI`` environment variable is set (to anything but 0/false/no)."""
    return _in_ci()


@pytest.fixture
def missing_resource() -> Callable[[str], NoReturn]:
    """Return ``f(reason)``: ``pytest.fail`` under CI, ``pytest.skip`` otherwise."""

    def handle(reason: str) -> NoReturn:
        if _in_ci():
            pytest.fail(f"required in CI (CI is set): {reason}", pytrace=False)
        pytest.skip(reason)

    return handle
