"""Config files (``--config FILE``, TOML) and presets (``--preset NAME``): the same dotted keys as
``--set``, checked the same way; ``config --dump`` writes a file that loads to the same tree."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from empirical.cli import main
from empirical.configure import config_to_dict, dumps_toml, file_overrides, preset_info, preset_names

ROOT = Path(__file__).resolve().parents[1]


def tree(*argv: str, capsys) -> dict:
    """The resolved tree that ``python -m empirical config`` prints for these arguments."""
    import json
    assert main(["config", *argv]) == 0
    return json.loads(capsys.readouterr().out)


CASES = [
    ("--method", "vanilla"),
    ("--method", "rst", "--set", "train.epochs=7", "data.limit=300", "method.alpha=0.5", "teacher.subsample=500"),
    ("--method", "lr-vae", "--set", "data.scaling=none", "teacher.max_K=9", "model.hidden=64", "train.delta=0.1"),
    ("--method", "free-bits", "--dataset", "fashion-mnist", "--set", "teacher.cache=none", "teacher.whiten=true",
     "witness.scale=2.5", "teacher.covariance_types=diag"),
]


@pytest.mark.parametrize("argv", CASES, ids=lambda a: " ".join(a[:2]))
def test_dump_loads_back_to_the_same_tree(argv, tmp_path, capsys):
    before = tree(*argv, capsys=capsys)
    path = tmp_path / "tree.toml"
    assert main(["config", *argv, "--dump", str(path)]) == 0
    capsys.readouterr()
    method = argv[argv.index("--method") + 1]
    assert tree("--method", method, "--config", str(path), capsys=capsys) == before


def test_dump_to_stdout_is_the_file(tmp_path, capsys):
    assert main(["config", "--method", "rst", "--dump"]) == 0
    out = capsys.readouterr().out
    from empirical.configure import resolve
    assert out == dumps_toml(resolve("digits", "rst"))


def test_set_overrides_the_file_and_the_file_overrides_the_defaults(tmp_path, capsys):
    path = tmp_path / "c.toml"
    path.write_text('[train]\nepochs = 9\nlr = 0.01\n\n[model]\nhidden = [32, 16]\n')
    t = tree("--config", str(path), "--set", "train.epochs=3", capsys=capsys)
    assert (t["train"]["epochs"], t["train"]["lr"], t["model"]["hidden"]) == (3, 0.01, [32, 16])


def test_the_file_names_the_data_set_unless_dataset_is_given(tmp_path, capsys):
    path = tmp_path / "c.toml"
    path.write_text('[data]\nname = "fashion-mnist"\n')
    fmnist, digits = tree("--dataset", "fashion-mnist", capsys=capsys), tree(capsys=capsys)
    assert tree("--config", str(path), capsys=capsys) == fmnist != digits   # the registry entry, not just the name
    assert tree("--config", str(path), "--dataset", "digits", capsys=capsys) == digits


def test_null_sets_an_optional_key_to_none(tmp_path, capsys):
    path = tmp_path / "c.toml"
    path.write_text('[data]\nscaling = "null"\nlimit = "null"\n[teacher]\ncache = "null"\n')
    t = tree("--config", str(path), "--set", "data.limit=5", capsys=capsys)
    assert (t["data"]["scaling"], t["data"]["limit"], t["teacher"]["cache"]) == (None, 5, None)


@pytest.mark.parametrize("text, message", [
    ('[train]\nepoch = 5\n', r"config file .*c\.toml: train\.epoch: unknown key; valid keys: .*train\.epochs"),
    ('[trian]\nepochs = 5\n', r"config file .*c\.toml: trian\.epochs: unknown key: 'trian' is not a section of the "
                              r"config tree \(its sections: data, teacher, witness, model, method, train"),
    # a command's own section given to a command that does not read it: said so, not 52 keys listed
    ('[compare]\ngrid = "c5"\n', r"config file .*c\.toml: compare\.grid: unknown key: 'compare' is not a section .*"
                                 r"\[compare\] or \[claims\], is read only by that command"),
    ('[train]\nepochs = "five"\n', r"config file .*c\.toml: train\.epochs='five': expected int"),
    ('[train]\nepochs = 5\n[train.inner]\nx = 1\n', r"config file .*c\.toml: \[train\.inner\] is a nested table"),
    ('[train\nepochs = 5\n', r"config file .*c\.toml: not valid TOML"),
    ('[train]\nepochs = {a = 1}\n', r"config file .*c\.toml: \[train\.epochs\] is a nested table"),
    ('[model]\nhidden = [[1], [2]]\n', r"config file .*c\.toml: model\.hidden = .* is not a number"),
    ('[train]\nepochs = 0\n', r"config file .*c\.toml: train\.epochs must be >= 1, got 0"),      # range checks too
    ('[data]\nscaling = "foo"\n', r"config file .*c\.toml: data\.scaling must be one of"),
])
def test_bad_file_is_one_line_naming_the_file_and_key(text, message, tmp_path, capsys):
    path = tmp_path / "c.toml"
    path.write_text(text)
    assert main(["config", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    import re
    assert re.search(message, err), err


def test_missing_file_and_unknown_preset(tmp_path, capsys):
    # the regular-file gate (empirical.io.check_regular_file) names the file and says why
    for argv, message in ((["--config", str(tmp_path / "none.toml")], "none.toml: does not exist"),
                          (["--preset", "no-such"], "no such preset; the presets are")):
        assert main(["config", *argv]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1


def test_own_section_keys_come_from_the_file(tmp_path, capsys):
    from empirical.commands.common import experiment_config
    from empirical.experiments.compare import CompareConfig
    path = tmp_path / "c.toml"
    path.write_text('[compare]\ngrid = "c5"\n[train]\nepochs = 2\n')
    import argparse
    args = argparse.Namespace(dataset=None, root=None, teacher=None, device=None, quick=False, config=str(path),
                              preset=None, overrides=["train.kl_weight=2"])
    base, cfg = experiment_config(args, section="compare", section_config=CompareConfig())
    assert cfg.grid == "c5" and base.train.epochs == 2 and base.train.kl_weight == 2.0
    # --set wins over the file for the command's own keys too
    args.overrides = ["compare.grid=c7"]
    assert experiment_config(args, section="compare", section_config=CompareConfig())[1].grid == "c7"


@pytest.mark.parametrize("text, message", [
    ('[compare]\ngridd = "c5"\n', "compare.gridd: unknown key; valid compare keys: compare.grid"),
    ('[compare]\ngrid = 5\n', "compare.grid must be one of c4, c5, c6, c7"),
])
def test_a_bad_own_section_key_names_the_file(text, message, tmp_path, capsys):
    """An experiment's own [section] in a config file: its errors name the file, as the tree's do
    (before, an unknown key was reported as a --set and a bad grid named no file)."""
    path = tmp_path / "c.toml"
    path.write_text(text)
    assert main(["compare", "--dataset", "digits", "--quick", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: config file {path}: {message}") and err.count("\n") == 1


# ------------------------------------------------------------------ presets
def test_presets_are_listed_with_a_source_for_every_number(capsys):
    names = preset_names()
    assert {"defaults", "lidvae-fmnist"} <= set(names)
    for name in names:
        info = preset_info(name)
        assert info["summary"]
        keys = {o.split("=", 1)[0] for o in info["overrides"]}
        assert keys <= set(info["sources"]), f"{name}: keys without a source: {sorted(keys - set(info['sources']))}"
        assert set(info["sources"]) <= keys, f"{name}: sources of keys it does not set"
    assert preset_info("defaults")["overrides"] == []
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    assert all(f"{n}:" in out for n in names)


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_resolves(name, capsys):
    t = tree("--preset", name, capsys=capsys)
    for item in preset_info(name)["overrides"]:
        key, value = item.split("=", 1)
        section, field = key.split(".", 1)
        if key != "data.name":
            got = t[section][field]
            assert str(got if not isinstance(got, list) else ",".join(map(str, got))).lower() == value.lower() \
                or float(got) == float(value)


def test_defaults_preset_is_the_defaults(capsys):
    assert tree("--preset", "defaults", capsys=capsys) == tree(capsys=capsys)


def test_file_overrides_reads_sections_in_order(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('out_dir = "x"\n[preset]\nsummary = "s"\n[train]\nepochs = 2\nlr = 1e-3\n[model]\nhidden = [8, 4]\n')
    assert file_overrides(path) == ["out_dir=x", "train.epochs=2", "train.lr=0.001", "model.hidden=8,4"]


def test_config_to_dict_round_trip_through_toml_keeps_types(tmp_path):
    from empirical.configure import resolve, with_file_overrides
    c = resolve("digits", "rst", overrides=["data.limit=300", "teacher.subsample=500"])
    path = tmp_path / "t.toml"
    path.write_text(dumps_toml(c))
    back = with_file_overrides(resolve("digits", "rst"), [o for o in file_overrides(path)], path)
    assert config_to_dict(back) == config_to_dict(c)


def test_the_presets_ship_as_package_data():
    """The wheel's contents are set in pyproject.toml; .ci/run builds the wheel and runs the presets
    from a clean install (scripts/check-wheel.sh). Here: the setting that makes that true."""
    import tomllib
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "presets/*.toml" in project["tool"]["setuptools"]["package-data"]["empirical"]
    out = subprocess.run([sys.executable, "-m", "empirical", "presets", "defaults"], capture_output=True, text=True,
                         cwd=ROOT, check=True)
    assert out.stdout.startswith("defaults:")
