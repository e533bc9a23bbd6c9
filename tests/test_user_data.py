"""User data sets end to end through the library: arrays the tests write as real .npy/.npz
files (tabular 150 x 4, 3-D images, channels-last colour), absolute paths, scaling modes,
the search order of data roots, Tiny-ImageNet in its standard layout (JPEG files written with
Pillow), the teacher search on small tabular data, teacher files and codes files.
"""
from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import numpy as np
import pytest

from empirical.data import loaders as D
from empirical.data.loaders import load_array, load_dataset
from empirical.data.registry import default_config
from empirical.data.teacher import (
    TeacherSearch,
    load_teacher_file,
    teacher_for,
)
from empirical.io import run_name


@pytest.fixture(autouse=True)
def _no_env_root(monkeypatch):
    monkeypatch.delenv("WITNESS_DATA", raising=False)


def _tabular(n=150, d=4, seed=0):
    """Three well separated blobs in d features on different scales (an iris-like table)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, size=(3, d))
    labels = np.arange(n) % 3
    x = centres[labels] + rng.normal(0, 0.5, size=(n, d))
    scales = 10.0 ** np.arange(d)  # feature j in units of 10^j
    return (x - x.min(0) + 0.1) * scales, labels


# ------------------------------------------------------------------------------ tabular


def test_tabular_150x4_loads_as_mlp_input(tmp_path):
    x, y = _tabular()
    p = tmp_path / "table.npz"
    np.savez(p, x=x, y=y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # minmax of a table: nothing to warn about
        ds = load_dataset(str(p.resolve()), scaling="minmax")
    assert ds.image_shape == (4,) and ds.n_features == 4
    assert ds.x_train.shape == (120, 4) and ds.x_test.shape == (30, 4)
    assert ds.x_train.min() == 0.0 and ds.x_train.max() == 1.0
    torch = pytest.importorskip("torch")
    from empirical.models.vae import VAE

    model = VAE(ds.image_shape, latent_dim=16)
    assert not model.conv
    recon, mu, log_var = model(torch.from_numpy(ds.x_train[:5]))
    assert recon.shape == (5, 4) and mu.shape == (5, 16)


def test_dataset_with_empty_image_shape_gets_one_feature_axis():
    x = np.zeros((3, 5), np.float32)
    y = np.full(3, -1, np.int64)
    ds = D.Dataset("t", x, y, x, y, image_shape=(), source="test")
    assert ds.image_shape == (5,)


def test_max_scaling_of_a_table_warns_about_feature_scales(tmp_path):
    x, _ = _tabular()
    p = tmp_path / "table.npy"
    np.save(p, x)
    with pytest.warns(UserWarning, match="very different scales.*scaling='minmax'"):
        ds = load_array(p)  # default "max": one common divisor
    assert ds.scaling["mode"] == "max" and ds.scaling["divisor"] == pytest.approx(x.max())


@pytest.mark.parametrize("mode", ["none", "max", "minmax", "standardize"])
def test_scaling_modes_use_training_statistics_and_are_recorded(tmp_path, mode):
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, size=(40, 3)) * np.array([1.0, 1.0, 1.0])
    x_test = rng.uniform(0, 1.5, size=(10, 3))  # beyond the training range in places
    p = tmp_path / "s.npz"
    np.savez(p, x=x, x_test=x_test)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = load_array(p, scaling=mode)
    rec = ds.scaling
    assert rec["mode"] == mode
    if mode == "minmax":
        lo, hi = x.min(0), x.max(0)
        np.testing.assert_allclose(rec["min"], lo) and np.testing.assert_allclose(rec["max"], hi)
        np.testing.assert_allclose(ds.x_train, ((x - lo) / (hi - lo)).astype(np.float32), rtol=1e-6)
        want_test = np.clip((x_test - lo) / (hi - lo), 0, 1)
        np.testing.assert_allclose(ds.x_test, want_test.astype(np.float32), rtol=1e-6, atol=1e-7)
        assert rec["n_test_values_clipped"] == int(np.count_nonzero((x_test - lo) / (hi - lo) > 1)
                                                   + np.count_nonzero((x_test - lo) / (hi - lo) < 0))
        assert rec["statistics_from"] == "train"
    elif mode == "standardize":
        np.testing.assert_allclose(rec["mean"], x.mean(0)) and np.testing.assert_allclose(rec["std"], x.std(0))
        np.testing.assert_allclose(ds.x_train.mean(0), 0, atol=1e-6)
        assert any("outside [0, 1]" in str(w.message) for w in caught)  # standardised data: not Bernoulli
    elif mode == "max":
        assert rec["divisor"] == pytest.approx(x_test.max())  # train and test together (v1 behaviour)
    else:
        np.testing.assert_array_equal(ds.x_test, x_test.astype(np.float32))
        assert any("outside [0, 1]" in str(w.message) for w in caught)  # test values up to 1.5
    assert rec["range"][0] == pytest.approx(float(min(ds.x_train.min(), ds.x_test.min())), abs=1e-6)


def test_negative_values_need_a_per_feature_scaling(tmp_path):
    p = tmp_path / "neg.npy"
    np.save(p, np.linspace(-1, 1, 40).reshape(10, 4))
    with pytest.raises(ValueError, match="scaling='minmax'"):
        load_array(p)
    ds = load_array(p, scaling="minmax")
    assert ds.x_train.min() >= 0 and ds.x_train.max() <= 1
    with pytest.raises(ValueError, match="scaling must be one of"):
        load_array(p, scaling="zscore")


def test_named_data_set_scaling_on_top(tmp_path):
    ds = load_dataset("digits", scaling="standardize")
    assert ds.scaling["mode"] == "standardize" and ds.scaling["applied_after"]["divisor"] == 16.0
    assert abs(float(ds.x_train.mean())) < 1e-5


# ------------------------------------------------------------------------------ images


def test_3d_arrays_are_grey_images(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, size=(30, 6, 6)).astype(np.uint8)
    p = tmp_path / "grey.npy"
    np.save(p, x)
    ds = load_array(p)
    assert ds.image_shape == (6, 6) and ds.n_features == 36
    assert ds.scaling["divisor"] == float(x.max())


@pytest.mark.parametrize("channels", [3, 1])
def test_channels_last_images_are_transposed(tmp_path, channels):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(12, 32, 32, channels)).astype(np.uint8)
    x_test = rng.integers(0, 256, size=(4, 32, 32, channels)).astype(np.uint8)
    p = tmp_path / "rgb.npz"
    np.savez(p, x=x, x_test=x_test)
    ds = load_array(p)
    vmax = float(max(x.max(), x_test.max()))
    if channels == 3:
        assert ds.image_shape == (3, 32, 32)
        want = np.transpose(x, (0, 3, 1, 2)).reshape(12, -1) / vmax
    else:
        assert ds.image_shape == (32, 32)
        want = x.reshape(12, -1) / vmax
    np.testing.assert_allclose(ds.x_train, want.astype(np.float32), rtol=1e-6)
    assert any("channels-last" in n for n in ds.notes)
    if channels == 3:
        torch = pytest.importorskip("torch")
        from empirical.models.vae import VAE

        model = VAE(ds.image_shape, latent_dim=8)
        assert model.conv
        assert model(torch.from_numpy(ds.x_train[:2]))[0].shape == (2, 3 * 32 * 32)


def test_channels_first_kept_and_ambiguous_warns(tmp_path):
    x = np.random.default_rng(0).random((5, 3, 8, 8))
    np.save(tmp_path / "chw.npy", x)
    ds = load_array(tmp_path / "chw.npy")
    assert ds.image_shape == (3, 8, 8) and ds.notes == ()
    np.save(tmp_path / "amb.npy", np.random.default_rng(0).random((5, 3, 8, 3)))
    with pytest.warns(UserWarning, match="both sides"):
        assert load_array(tmp_path / "amb.npy").image_shape == (3, 8, 3)


# ------------------------------------------------------------------------------ paths and roots


def test_absolute_path_and_run_name(tmp_path):
    x, _ = _tabular()
    p = (tmp_path / "deep" / "wine data.npz").resolve()
    p.parent.mkdir()
    np.savez(p, x=x)
    ds = load_dataset(str(p), scaling="minmax")
    assert ds.name == "wine data" and ds.source == str(p)
    name = run_name(str(p))
    assert name == "wine_data"
    runs = tmp_path / "runs"
    assert (runs / name).resolve().parent == runs.resolve()


def _write_idx_set(directory: Path, n=4, value=7):
    import struct

    directory.mkdir(parents=True, exist_ok=True)
    for prefix in ("train", "t10k"):
        imgs = np.full((n, 2, 2), value, np.uint8)
        (directory / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 0x803, n, 2, 2) + imgs.tobytes())
        (directory / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 0x801, n) + bytes(n))


def test_explicit_root_wins_over_env_and_system_copy(tmp_path, monkeypatch):
    system, env, root = tmp_path / "system", tmp_path / "env", tmp_path / "root"
    _write_idx_set(system, value=1)
    _write_idx_set(env, value=2)
    _write_idx_set(root, value=3)
    monkeypatch.setattr(D, "DEBIAN_FASHION_MNIST_DIR", system)
    assert load_dataset("fashion-mnist").x_train[0, 0] == np.float32(1 / 255)  # only the system copy
    monkeypatch.setenv("WITNESS_DATA", str(env))
    assert load_dataset("fashion-mnist").x_train[0, 0] == np.float32(2 / 255)  # env beats the system copy
    assert load_dataset("fashion-mnist", root).x_train[0, 0] == np.float32(3 / 255)  # root beats both


def test_explicit_root_without_the_data_is_an_error_naming_it(tmp_path, monkeypatch):
    system = tmp_path / "system"
    _write_idx_set(system)
    monkeypatch.setattr(D, "DEBIAN_FASHION_MNIST_DIR", system)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=str(empty)):
        load_dataset("fashion-mnist", empty)  # never falls back to the system copy
    with pytest.raises(FileNotFoundError, match=r"data root .*nope.* not an existing directory"):
        load_dataset("fashion-mnist", tmp_path / "nope")
    with pytest.raises(ValueError, match="root is empty"):
        load_dataset("fashion-mnist", "")
    with pytest.raises(FileNotFoundError, match="cifar"):
        load_dataset("cifar10", empty)


# ------------------------------------------------------------------------------ Tiny-ImageNet


def _write_tiny_imagenet(base: Path, wnids=("n01443537", "n01629819", "n01641577"), per_class=3, n_val=4,
                         grey_first=True):
    from PIL import Image

    root = base / "tiny-imagenet-200"
    (root / "val" / "images").mkdir(parents=True)
    (root / "wnids.txt").write_text("\n".join(wnids) + "\n")
    rng = np.random.default_rng(0)
    colours = {}
    for c, w in enumerate(wnids):
        folder = root / "train" / w / "images"
        folder.mkdir(parents=True)
        (root / "train" / w / f"{w}_boxes.txt").write_text("")
        for j in range(per_class):
            colour = (40 * c + 10 * j, 200 - 30 * c, 60 + 20 * j)
            colours[(w, j)] = colour
            img = Image.new("RGB", (64, 64), colour)
            if grey_first and c == 0 and j == 0:
                img = img.convert("L")  # Tiny-ImageNet holds a few greyscale JPEGs
            img.save(folder / f"{w}_{j}.JPEG", quality=95)
    lines = []
    for i in range(n_val):
        w = wnids[i % len(wnids)]
        arr = rng.integers(0, 256, size=(64, 64, 3)).astype(np.uint8)
        Image.fromarray(arr).save(root / "val" / "images" / f"val_{i}.JPEG", quality=95)
        lines.append(f"val_{i}.JPEG\t{w}\t0\t0\t63\t63")
    (root / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    return root, colours


def test_tiny_imagenet_standard_layout(tmp_path):
    root, colours = _write_tiny_imagenet(tmp_path)
    ds = load_dataset(D.TINY_IMAGENET, tmp_path)
    assert ds.name == "tiny-imagenet" and ds.image_shape == (3, 64, 64)
    assert ds.x_train.shape == (9, 3 * 64 * 64) and ds.x_test.shape == (4, 3 * 64 * 64)
    assert ds.x_train.dtype == np.float32 and 0 <= ds.x_train.min() and ds.x_train.max() <= 1
    # interleaved over classes: image 0 of every class, then image 1, ...
    assert ds.y_train.tolist() == [0, 1, 2, 0, 1, 2, 0, 1, 2] and ds.y_test.tolist() == [0, 1, 2, 0]
    # a flat-colour JPEG decodes within a few levels of its colour, channels-first
    img = ds.x_train[4].reshape(3, 64, 64)  # class 1, image 1
    want = np.array(colours[("n01629819", 1)]) / 255
    np.testing.assert_allclose(img.mean(axis=(1, 2)), want, atol=3 / 255)
    grey = ds.x_train[0].reshape(3, 64, 64)  # a greyscale JPEG becomes three equal channels
    np.testing.assert_array_equal(grey[0], grey[1])
    small = load_dataset(D.TINY_IMAGENET_32, root)  # root may also be the folder itself
    assert small.image_shape == (3, 32, 32) and small.name == "tiny-imagenet-32"
    full = ds.x_train[4].reshape(3, 32, 2, 32, 2).mean(axis=(2, 4))  # 2x2 box average
    np.testing.assert_allclose(small.x_train[4].reshape(3, 32, 32), full, atol=1.5 / 255)
    limited = load_dataset(D.TINY_IMAGENET, tmp_path, limit=3)
    assert limited.y_train.tolist() == [0, 1, 2]  # limit keeps every class


def test_tiny_imagenet_missing_and_corrupt(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match=r"tiny-imagenet-200/.*never downloads"):
        load_dataset(D.TINY_IMAGENET, tmp_path)
    with pytest.raises(FileNotFoundError, match=r"WITNESS_DATA"):
        load_dataset(D.TINY_IMAGENET)
    root, _ = _write_tiny_imagenet(tmp_path)
    bad = root / "train" / "n01629819" / "images" / "n01629819_0.JPEG"
    bad.write_bytes(bad.read_bytes()[:40])
    with pytest.raises(ValueError, match=r"n01629819_0\.JPEG: not a readable JPEG"):
        load_dataset(D.TINY_IMAGENET, tmp_path)
    monkeypatch.setenv("WITNESS_DATA", str(tmp_path))
    (root / "val" / "val_annotations.txt").write_text("val_0.JPEG\tn99999999\t0\t0\t1\t1\n")
    with pytest.raises(ValueError, match=r"val_annotations.txt, line 1"):
        load_dataset(D.TINY_IMAGENET)


# ------------------------------------------------------------------------------ teacher on user data


def test_teacher_search_on_a_150x4_table(tmp_path):
    x, _ = _tabular()
    p = tmp_path / "table.npz"
    np.savez(p, x=x)
    ds = load_dataset(str(p), scaling="minmax")
    cfg = default_config(ds.name)  # the generic grid asks for pca_dims up to 32 and K up to 17
    with pytest.warns(UserWarning, match="teacher grid adapted"):
        res = teacher_for(ds, cache_dir=None, config=cfg)
    meta = res.teacher.metadata
    assert res.teacher.pca_dim <= 4 and meta["grid"]["pca_dims"] == [4]
    # 120 training rows, 3 folds: 80 rows per fit, >= 10 rows per component -> K <= 8
    assert max(meta["grid"]["n_components"]) <= 8 and res.K <= 8
    chosen = meta["chosen"]
    assert chosen["I_T_heldout"] is not None and meta["I_T_gap"] == pytest.approx(chosen["I_T"] - chosen["I_T_heldout"])
    # three blobs: the held-out information of the chosen teacher is close to log 3
    assert chosen["I_T_heldout"] > 0.8 * np.log(3)
    assert res.T_test.shape == (30, res.K)


def test_grid_adapts_to_13_features(tmp_path):
    x, _ = _tabular(n=178, d=13)
    X = (x / x.max(0)).astype(np.float32)[:142]
    with pytest.warns(UserWarning, match=r"pca_dims \(8, 16, 32\) cut to \(8, 13\)"):
        search = TeacherSearch(n_components=(3, 6, 14), covariance_types=("diag",)).fit(X)
    assert search.grid_["pca_dims"] == [8, 13]
    assert 14 not in search.grid_["n_components"] and search.skipped_K_ == (14,)  # 94 rows per fit / 10


def test_heldout_selection_prefers_a_teacher_that_generalises():
    # 142 rows of 13 noisy features with 3 true groups: the training I_T rewards large K with
    # full covariances, the held-out I_T does not.
    x, _ = _tabular(n=142, d=13, seed=3)
    X = (x / x.max(0)).astype(np.float32)
    grid = dict(pca_dims=(13,), n_components=(3, 14), covariance_types=("full",), min_rows_per_component=1,
                energy_budget=100.0)
    train_rule = TeacherSearch(selection="train", **grid).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        held = TeacherSearch(selection="heldout", **grid).fit(X)
    by_K = {r["K"]: r for r in held.report_}
    assert by_K[14]["I_T_gap"] > by_K[3]["I_T_gap"]  # the large teacher overfits more
    assert held.report_[held.best_index_]["I_T_heldout"] == max(r["I_T_heldout"] for r in held.report_)
    assert train_rule.report_[train_rule.best_index_]["I_T"] == max(r["I_T"] for r in train_rule.report_)


def test_too_few_rows_for_a_teacher():
    X = np.random.default_rng(0).random((12, 4))
    with pytest.raises(ValueError, match="too few for a teacher"):
        TeacherSearch(n_components=(3,)).fit(X)


# ------------------------------------------------------------------------------ broken user files


def test_broken_user_files_through_load_dataset(tmp_path):
    import os

    good = tmp_path / "good.npz"
    np.savez(good, x=np.random.default_rng(0).random((40, 4)))
    cases = {"trunc.npz": good.read_bytes()[:200], "zero.npy": b""}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    fifo = tmp_path / "pipe.npz"
    os.mkfifo(fifo)
    for name in (*cases, "pipe.npz"):
        with pytest.raises(ValueError) as exc:
            load_dataset(str(tmp_path / name))
        msg = str(exc.value)
        # the file named, quoted by the parser's messages, bare by the regular-file gate (witness_theory.io)
        named = f"data set file '{tmp_path / name}'" in msg or f"data set file {tmp_path / name}:" in msg
        assert named and "\n" not in msg and "allow_pickle" not in msg


def test_teacher_search_runs_on_tabular_data_with_13_features(tmp_path):
    """The issue's failure: pca_dims (8, 16, 32) exceed the number of features 13."""
    x, _ = _tabular(n=178, d=13, seed=2)
    np.save(tmp_path / "wine.npy", x)
    ds = load_dataset(str(tmp_path / "wine.npy"), scaling="minmax")
    cfg = dataclasses.replace(default_config(ds.name), covariance_types=("diag",))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        res = teacher_for(ds, cache_dir=tmp_path / "cache", config=cfg)
    assert res.teacher.n_features == 13 and res.teacher.pca_dim in (8, 13)
    assert res.K <= ds.x_train.shape[0] * 2 // 3 // 10
    loaded = load_teacher_file(res.path, ds)
    assert loaded.content_hash == res.teacher.content_hash
