"""Issue 24 (inputs): config values with a fixed set of choices are checked when the config
resolves; the scaling rule of user arrays is documented and its errors tell a command-line
user the --set to type; the teacher cache lives at an absolute path."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from empirical import config as cfgmod

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("override,key,choice", [
    ("data.scaling=foo", "data.scaling", "minmax"),
    ("teacher.selection=best", "teacher.selection", "heldout"),
    ("teacher.heldout=sometimes", "teacher.heldout", "unused-rows"),
    ("teacher.covariance_types=full,foo", "teacher.covariance_types", "spherical"),
])
def test_choices_checked_at_resolve(override, key, choice):
    """`config --set data.scaling=foo` printed a config; the error came only when training loaded the data."""
    with pytest.raises(ValueError, match=rf"^{key} must (each )?be one of .*{choice}.*; e\.g\. --set {key}="):
        cfgmod.resolve("digits", overrides=[override])


def test_choices_accept_every_choice():
    for s in ("none", "max", "minmax", "standardize"):
        assert cfgmod.resolve("digits", overrides=[f"data.scaling={s}"]).data.scaling == s   # "none" is a choice, not None
    assert cfgmod.resolve("digits", overrides=["data.scaling=null"]).data.scaling is None


def test_config_command_refuses_bad_choice_in_one_line():
    out = subprocess.run([sys.executable, "-m", "empirical", "config", "--set", "data.scaling=foo"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 2, out
    assert out.stderr.strip().count("\n") == 0 and "data.scaling" in out.stderr and "minmax" in out.stderr


def test_scaling_errors_name_the_set_option(tmp_path):
    from empirical.data.loaders import load_array
    np.save(tmp_path / "neg.npy", np.linspace(-1.0, 1.0, 200).reshape(40, 5))
    with pytest.raises(ValueError, match=r"--set data\.scaling=minmax"):
        load_array(tmp_path / "neg.npy")
    with pytest.raises(ValueError, match=r"--set data\.scaling=minmax"):
        load_array(tmp_path / "neg.npy", scaling="foo")


def test_readme_documents_the_scaling_rule():
    text = (ROOT / "README.md").read_text()
    assert "data.scaling" in text and "--set data.scaling=minmax" in text
    from empirical.data.loaders import SCALINGS
    assert all(f"`{s}`" in text for s in SCALINGS)
