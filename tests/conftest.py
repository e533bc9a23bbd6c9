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


@pytest.fixture(autouse=True, scope="session")
def _isolated_teacher_cache(tmp_path_factory):
    """The default teacher cache is the user's cache directory (empirical.config.USER_CACHE): tests
    must not write there. Point it at a session temporary directory (subprocesses inherit it)."""
    from empirical.config import CACHE_ENV_VAR

    old = os.environ.get(CACHE_ENV_VAR)
    os.environ[CACHE_ENV_VAR] = str(tmp_path_factory.mktemp("user-cache"))
    yield
    if old is None:
        os.environ.pop(CACHE_ENV_VAR, None)
    else:
        os.environ[CACHE_ENV_VAR] = old


@pytest.fixture(scope="session")
def small_digits_teacher(tmp_path_factory):
    """(digits data set, a small digits teacher saved to a file, its TeacherResult): one tiny grid
    (PCA 8, K = 6, diagonal, seed 0), for the tests of files and inputs that need a real teacher."""
    from empirical.data.loaders import load_dataset
    from empirical.data.teacher import TeacherConfig, teacher_for

    digits = load_dataset("digits")
    res = teacher_for(digits, cache_dir=None,
                      config=TeacherConfig(pca_dims=(8,), n_components=(6,), covariance_types=("diag",), seeds=(0,)))
    path = tmp_path_factory.mktemp("teacher") / "teacher.npz"
    res.teacher.save(path)
    return digits, path, res
