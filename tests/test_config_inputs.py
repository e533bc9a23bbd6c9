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
from empirical import configure

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
        configure.resolve("digits", overrides=[override])


def test_choices_accept_every_choice():
    for s in ("none", "max", "minmax", "standardize"):
        assert configure.resolve("digits", overrides=[f"data.scaling={s}"]).data.scaling == s   # "none" is a choice, not None
    assert configure.resolve("digits", overrides=["data.scaling=null"]).data.scaling is None


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


def test_user_guide_documents_the_scaling_rule():
    text = (ROOT / "docs" / "user-guide.md").read_text()
    assert "data.scaling" in text and "--set data.scaling=minmax" in text
    from empirical.data.loaders import SCALINGS
    assert all(f"`{s}`" in text for s in SCALINGS)


# ------------------------------------------------------------------ the teacher cache (issue 24)
def test_default_teacher_cache_is_the_user_cache(monkeypatch, tmp_path):
    """The cache was runs/teachers relative to the working directory; checkpoints stored that
    relative path. The default is now the user's cache directory, absolute."""
    assert cfgmod.TeacherSettings().cache == cfgmod.USER_CACHE
    monkeypatch.delenv(cfgmod.CACHE_ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cfgmod.teacher_cache_dir(cfgmod.USER_CACHE) == tmp_path / "xdg" / "witness-theory" / "teachers"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cfgmod.teacher_cache_dir(cfgmod.USER_CACHE) == (tmp_path / "home" / ".cache" / "witness-theory"
                                                          / "teachers").resolve()
    monkeypatch.setenv(cfgmod.CACHE_ENV_VAR, str(tmp_path / "env"))
    assert cfgmod.teacher_cache_dir(cfgmod.USER_CACHE) == tmp_path / "env" / "teachers"
    assert cfgmod.teacher_cache_dir(None) is None


def test_relative_cache_and_teacher_file_become_absolute(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    c = configure.resolve("digits", overrides=["teacher.cache=rel/teachers", "teacher.file=t.npz"])
    assert c.teacher.cache == str(tmp_path / "rel" / "teachers") and Path(c.teacher.cache).is_absolute()
    assert c.teacher.file == str(tmp_path / "t.npz")
    # the written config round-trips with the absolute paths, from any working directory
    monkeypatch.chdir(ROOT)
    back = configure.config_from_dict(configure.config_to_dict(c))
    assert back.teacher.cache == c.teacher.cache and back.teacher.file == c.teacher.file


def test_teacher_for_writes_an_absolute_content_addressed_path(monkeypatch, tmp_path):
    """teacher_for with the default cache writes under the (isolated) user cache, at an absolute path,
    and reads the same file back from another working directory."""
    import dataclasses

    from empirical.data.loaders import load_dataset
    from empirical.data.registry import default_config
    from empirical.data.teacher import teacher_for
    monkeypatch.setenv(cfgmod.CACHE_ENV_VAR, str(tmp_path / "cache"))
    ds = load_dataset("digits", limit=300)
    small = dataclasses.replace(default_config("digits"), n_components=(3,), pca_dims=(4,),
                                covariance_types=("diag",), seeds=(0,))
    monkeypatch.chdir(tmp_path)
    first = teacher_for(ds, config=small, latent_dim=4)
    assert first.path.is_absolute() and first.path.parent == tmp_path / "cache" / "teachers" and first.path.exists()
    monkeypatch.chdir(ROOT)
    again = teacher_for(ds, config=small, latent_dim=4)
    assert again.path == first.path and np.array_equal(again.T_train, first.T_train)


@pytest.mark.parametrize("overrides,msg", [
    ({"train.epochs": 2.5}, r"^train\.epochs must be int, got float 2\.5"),
    ({"model.latent_dim": 2.5}, r"^model\.latent_dim must be int"),          # was accepted silently
    ({"train.lr": None}, r"^train\.lr must be float, got NoneType"),        # was TypeError "'>' not supported"
    ({"train.delta": "abc"}, r"^--set train\.delta='abc': expected float"),  # was TypeError "'<' not supported"
    ({"train.epochs": [5]}, r"^train\.epochs must be int"),
])
def test_typed_overrides_name_the_key(overrides, msg):
    """resolve(overrides={...}) took any Python value; the range checks then raised raw
    TypeErrors ("'<' not supported between instances of 'str' and 'int')."""
    with pytest.raises(ValueError, match=msg):
        configure.resolve("digits", overrides=overrides)


def test_typed_overrides_accept_text_numpy_and_paths(tmp_path):
    c = configure.resolve("digits", overrides={"train.epochs": "5", "train.lr": np.float32(0.5), "data.limit": np.int64(10),
                                            "model.hidden": [32, 16], "teacher.cache": tmp_path, "train.kl_weight": 2})
    assert (c.train.epochs, c.train.lr, c.data.limit, c.model.hidden) == (5, 0.5, 10, (32, 16))
    assert c.teacher.cache == str(tmp_path) and c.train.kl_weight == 2.0
