"""Tests for empirical.data: every on-disk format round-trips exactly; every corruption is named."""
from __future__ import annotations

import collections
import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from empirical.data import loaders as D
from empirical.data.loaders import DATASETS, Dataset, load_array, load_dataset, read_idx

IDX_NAMES = D._IDX_FILES  # train-images, train-labels, t10k-images, t10k-labels (no .gz)


@pytest.fixture(autouse=True)
def _no_env_root(monkeypatch):
    """Isolate from the developer's $WITNESS_DATA so search results depend only on the test."""
    monkeypatch.delenv("WITNESS_DATA", raising=False)


# ------------------------------------------------------------------------------ writers


def idx_bytes(arr: np.ndarray, type_code: int = 0x08, magic_prefix: bytes = b"\x00\x00") -> bytes:
    """Serialize ``arr`` as IDX: magic 0x0000TTNN, big-endian int32 dims, big-endian data."""
    dtypes = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    header = magic_prefix + bytes([type_code, arr.ndim]) + struct.pack(">" + "i" * arr.ndim, *arr.shape)
    return header + np.ascontiguousarray(arr, dtype=dtypes[type_code]).tobytes()


def write_file(path: Path, payload: bytes, gz: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(payload, mtime=0))
    else:
        path.write_bytes(payload)
    return path


def make_mnist_like(rng, n_train=3, n_test=2, hw=(4, 5)):
    """Small uint8 images with both extremes 0 and 255 present, and labels 0..9."""
    tr = rng.integers(0, 256, size=(n_train, *hw), dtype=np.uint8)
    te = rng.integers(0, 256, size=(n_test, *hw), dtype=np.uint8)
    tr[0, 0, 0], tr[0, 0, 1] = 0, 255
    ytr = rng.integers(0, 10, size=n_train, dtype=np.uint8)
    yte = rng.integers(0, 10, size=n_test, dtype=np.uint8)
    return tr, ytr, te, yte


def write_mnist_dir(directory: Path, arrays, gz: bool) -> dict[str, Path]:
    tr, ytr, te, yte = arrays
    out = {}
    for base, arr in zip(IDX_NAMES, (tr, ytr, te, yte)):
        out[base] = write_file(directory / base, idx_bytes(arr), gz)
    return out


def expected_float(images: np.ndarray) -> np.ndarray:
    return images.reshape(images.shape[0], -1).astype(np.float32) / np.float32(255)


def cifar_batch(rng, n, label_key=b"labels", n_classes=10, extra=None):
    d = {
        b"batch_label": b"testing batch",
        b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
        label_key: [int(v) for v in rng.integers(0, n_classes, size=n)],
        b"filenames": [b"img%d.png" % i for i in range(n)],
    }
    if extra:
        d.update(extra)
    return d


def dump(path: Path, obj, protocol=pickle.HIGHEST_PROTOCOL) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=protocol)
    return path


def write_cifar10(folder: Path, rng, n=4, protocol=2):
    batches = {f"data_batch_{i}": cifar_batch(rng, n) for i in range(1, 6)}
    batches["test_batch"] = cifar_batch(rng, n)
    for name, b in batches.items():
        dump(folder / name, b, protocol)
    return batches


def write_cifar100(folder: Path, rng, n=4):
    tr = cifar_batch(rng, n, b"fine_labels", 100, {b"coarse_labels": [0] * n})
    tr[b"fine_labels"][0] = 99  # the top class must survive
    te = cifar_batch(rng, n, b"fine_labels", 100, {b"coarse_labels": [0] * n})
    dump(folder / "train", tr)
    dump(folder / "test", te)
    return tr, te


def assert_valid(ds: Dataset):
    for x, y in ((ds.x_train, ds.y_train), (ds.x_test, ds.y_test)):
        assert x.dtype == np.float32 and x.ndim == 2
        assert y.dtype == np.int64 and y.shape == (x.shape[0],)
        assert x.min() >= 0.0 and x.max() <= 1.0


# ------------------------------------------------------------------------------ IDX


@pytest.mark.parametrize("name,tv", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gz"])
@pytest.mark.parametrize("layout", ["root", "torchvision"])
def test_idx_roundtrip(tmp_path, name, tv, gz, layout):
    rng = np.random.default_rng(1)
    arrays = make_mnist_like(rng)
    directory = tmp_path if layout == "root" else tmp_path / tv / "raw"
    write_mnist_dir(directory, arrays, gz)

    ds = load_dataset(name, tmp_path)

    tr, ytr, te, yte = arrays
    assert_valid(ds)
    assert ds.name == name
    assert ds.image_shape == (4, 5)
    assert ds.x_train.shape == (3, 20) and ds.x_test.shape == (2, 20)
    np.testing.assert_array_equal(ds.x_train, expected_float(tr))
    np.testing.assert_array_equal(ds.x_test, expected_float(te))
    np.testing.assert_array_equal(ds.y_train, ytr.astype(np.int64))
    np.testing.assert_array_equal(ds.y_test, yte.astype(np.int64))
    # Exact pixel round trip: 0 -> 0.0, 255 -> 1.0, and x*255 gives the stored bytes back.
    assert ds.x_train[0, 0] == 0.0 and ds.x_train[0, 1] == 1.0
    np.testing.assert_array_equal(np.rint(ds.x_train * 255).astype(np.uint8).reshape(tr.shape), tr)
    assert Path(ds.source) == directory


def test_idx_root_preferred_over_torchvision_layout(tmp_path):
    rng = np.random.default_rng(2)
    a1, a2 = make_mnist_like(rng), make_mnist_like(rng)
    write_mnist_dir(tmp_path, a1, gz=False)
    write_mnist_dir(tmp_path / "MNIST" / "raw", a2, gz=True)
    ds = load_dataset("mnist", tmp_path)
    assert Path(ds.source) == tmp_path
    np.testing.assert_array_equal(ds.x_train, expected_float(a1[0]))


def test_idx_from_env_root(tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    arrays = make_mnist_like(rng)
    write_mnist_dir(tmp_path / "MNIST" / "raw", arrays, gz=True)
    monkeypatch.setenv("WITNESS_DATA", str(tmp_path))
    ds = load_dataset("mnist")
    np.testing.assert_array_equal(ds.y_train, arrays[1])


def test_idx_limit_keeps_first_rows(tmp_path):
    rng = np.random.default_rng(4)
    arrays = make_mnist_like(rng, n_train=5, n_test=4)
    write_mnist_dir(tmp_path, arrays, gz=False)
    ds = load_dataset("mnist", tmp_path, limit=2)
    assert ds.x_train.shape == (2, 20) and ds.x_test.shape == (2, 20)
    np.testing.assert_array_equal(ds.x_train, expected_float(arrays[0][:2]))
    np.testing.assert_array_equal(ds.y_test, arrays[3][:2])


def test_read_idx_other_types_and_extension_free_gzip_detection(tmp_path):
    arr = np.array([[1, -2, 70000], [2**31 - 1, 0, -(2**31)]], dtype=np.int32)
    p = tmp_path / "ints.bin"  # gzipped content without a .gz suffix: detected by magic bytes
    p.write_bytes(gzip.compress(idx_bytes(arr, type_code=0x0C)))
    out = read_idx(p)
    assert out.dtype == np.int32 and out.dtype.isnative
    np.testing.assert_array_equal(out, arr)
    f = np.array([0.5, -1.25, 3e38], dtype=np.float32)
    p2 = tmp_path / "floats.idx"
    p2.write_bytes(idx_bytes(f, type_code=0x0D))
    np.testing.assert_array_equal(read_idx(p2), f)


# ------------------------------------------------------------------------------ IDX errors


def test_missing_mnist_names_files_and_directories(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_dataset("mnist", tmp_path)
    msg = str(info.value)
    for base in IDX_NAMES:
        assert base in msg
    assert str(tmp_path) in msg
    assert str(tmp_path / "MNIST" / "raw") in msg
    assert "torchvision.datasets.MNIST" in msg and "download=True" in msg
    assert "http://yann.lecun.com/exdb/mnist/" in msg


def test_missing_fashion_mnist_mentions_apt(tmp_path, monkeypatch):
    monkeypatch.setattr(D, "DEBIAN_FASHION_MNIST_DIR", tmp_path / "no-such-dir")
    with pytest.raises(FileNotFoundError, match=r"apt-get install dataset-fashion-mnist") as info:
        load_dataset("fashion-mnist", tmp_path)
    assert str(tmp_path / "FashionMNIST" / "raw") in str(info.value)
    assert "t10k-labels-idx1-ubyte" in str(info.value)


def test_missing_mnist_partial_dir_lists_only_missing_files(tmp_path):
    rng = np.random.default_rng(5)
    paths = write_mnist_dir(tmp_path, make_mnist_like(rng), gz=True)
    paths["t10k-images-idx3-ubyte"].unlink()
    with pytest.raises(FileNotFoundError, match=rf"{tmp_path}: missing t10k-images-idx3-ubyte\[\.gz\]\n"):
        load_dataset("mnist", tmp_path)


def test_missing_mnist_without_root(monkeypatch):
    with pytest.raises(FileNotFoundError, match=r"pass root=\.\.\. or set \$WITNESS_DATA"):
        load_dataset("mnist")


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gz"])
def test_bad_idx_magic(tmp_path, gz):
    rng = np.random.default_rng(6)
    paths = write_mnist_dir(tmp_path, make_mnist_like(rng), gz=gz)
    bad = idx_bytes(make_mnist_like(rng)[0], magic_prefix=b"\x12\x34")
    p = write_file(tmp_path / "train-images-idx3-ubyte", bad, gz)
    assert p == paths["train-images-idx3-ubyte"]
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte.*bad IDX magic number 0x12340803"):
        load_dataset("mnist", tmp_path)


def test_labels_file_with_image_magic(tmp_path):
    rng = np.random.default_rng(7)
    tr, ytr, te, yte = make_mnist_like(rng)
    write_mnist_dir(tmp_path, (tr, ytr, te, yte), gz=False)
    write_file(tmp_path / "t10k-labels-idx1-ubyte", idx_bytes(te), gz=False)  # images where labels go
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte: expected IDX magic 0x00000801"):
        load_dataset("mnist", tmp_path)


def test_truncated_gzip(tmp_path):
    rng = np.random.default_rng(8)
    paths = write_mnist_dir(tmp_path, make_mnist_like(rng, hw=(28, 28)), gz=True)
    p = paths["train-images-idx3-ubyte"]
    blob = p.read_bytes()
    p.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte\.gz: truncated gzip"):
        load_dataset("mnist", tmp_path)


def test_corrupt_gzip(tmp_path):
    rng = np.random.default_rng(9)
    paths = write_mnist_dir(tmp_path, make_mnist_like(rng, hw=(28, 28)), gz=True)
    p = paths["train-labels-idx1-ubyte"]
    blob = bytearray(p.read_bytes())
    blob[-8] ^= 0xFF  # damage the CRC32 trailer
    p.write_bytes(bytes(blob))
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte\.gz: corrupt gzip"):
        load_dataset("mnist", tmp_path)


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gz"])
def test_truncated_idx_body(tmp_path, gz):
    rng = np.random.default_rng(10)
    tr, ytr, te, yte = make_mnist_like(rng)
    write_mnist_dir(tmp_path, (tr, ytr, te, yte), gz=gz)
    write_file(tmp_path / "t10k-images-idx3-ubyte", idx_bytes(te)[:-7], gz)
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte.*size does not match header dims \(2, 4, 5\).*truncated"):
        load_dataset("mnist", tmp_path)


def test_idx_trailing_bytes_and_short_header(tmp_path):
    arr = np.arange(6, dtype=np.uint8)
    p = tmp_path / "x.idx"
    p.write_bytes(idx_bytes(arr) + b"\x00")
    with pytest.raises(ValueError, match="trailing bytes"):
        read_idx(p)
    p.write_bytes(b"\x00\x00\x08\x03\x00\x00")
    with pytest.raises(ValueError, match="truncated IDX header"):
        read_idx(p)
    p.write_bytes(b"\x00")
    with pytest.raises(ValueError, match="truncated IDX file"):
        read_idx(p)
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "absent.idx")


def test_count_mismatch(tmp_path):
    rng = np.random.default_rng(11)
    tr, ytr, te, yte = make_mnist_like(rng)
    write_mnist_dir(tmp_path, (tr, ytr[:2], te, yte), gz=True)
    with pytest.raises(ValueError, match=r"count mismatch.*3 images.*2 labels"):
        load_dataset("mnist", tmp_path)


# ------------------------------------------------------------------------------ CIFAR


@pytest.mark.parametrize("direct", [False, True], ids=["root", "batches-folder"])
@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_cifar10_roundtrip(tmp_path, direct, protocol):
    rng = np.random.default_rng(12)
    folder = tmp_path / "cifar-10-batches-py"
    batches = write_cifar10(folder, rng, protocol=protocol)
    ds = load_dataset("cifar10", folder if direct else tmp_path)

    assert_valid(ds)
    assert ds.image_shape == (3, 32, 32)
    assert ds.x_train.shape == (20, 3072) and ds.x_test.shape == (4, 3072)
    train_data = np.concatenate([batches[f"data_batch_{i}"][b"data"] for i in range(1, 6)])
    train_labels = sum((batches[f"data_batch_{i}"][b"labels"] for i in range(1, 6)), [])
    np.testing.assert_array_equal(ds.x_train, train_data.astype(np.float32) / np.float32(255))
    np.testing.assert_array_equal(ds.y_train, np.array(train_labels))
    np.testing.assert_array_equal(ds.y_test, np.array(batches["test_batch"][b"labels"]))
    # CHW order: the first 1024 values of a row are the red plane, row-major.
    red = ds.x_test[1].reshape(ds.image_shape)[0]
    np.testing.assert_array_equal(
        np.rint(red * 255).astype(np.uint8), batches["test_batch"][b"data"][1, :1024].reshape(32, 32)
    )
    assert Path(ds.source) == folder


def test_cifar100_roundtrip_uses_fine_labels(tmp_path):
    rng = np.random.default_rng(13)
    tr, te = write_cifar100(tmp_path / "cifar-100-python", rng)
    ds = load_dataset("cifar100", tmp_path, limit=3)
    assert_valid(ds)
    assert ds.x_train.shape == (3, 3072) and ds.x_test.shape == (3, 3072)
    np.testing.assert_array_equal(ds.y_train, tr[b"fine_labels"][:3])
    assert ds.y_train[0] == 99
    np.testing.assert_array_equal(ds.x_test, te[b"data"][:3].astype(np.float32) / np.float32(255))


def test_cifar_str_keys_accepted(tmp_path):
    rng = np.random.default_rng(14)
    folder = tmp_path / "cifar-100-python"
    for name in ("train", "test"):
        b = cifar_batch(rng, 2, b"fine_labels", 100)
        dump(folder / name, {k.decode(): v for k, v in b.items()})
    ds = load_dataset("cifar100", folder)
    assert ds.x_train.shape == (2, 3072)


def test_missing_cifar10_names_files(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_dataset("cifar10", tmp_path)
    msg = str(info.value)
    assert str(tmp_path / "cifar-10-batches-py") in msg
    for f in ["data_batch_1", "data_batch_5", "test_batch"]:
        assert f in msg
    assert "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz" in msg
    assert "torchvision.datasets.CIFAR10" in msg


def test_missing_cifar100_names_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"cifar-100-python.*missing train, test"):
        load_dataset("cifar100", tmp_path)


def test_cifar_missing_key(tmp_path):
    rng = np.random.default_rng(15)
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar10(folder, rng)
    b = cifar_batch(rng, 4)
    del b[b"labels"]
    dump(folder / "data_batch_3", b)
    with pytest.raises(ValueError, match=r"data_batch_3: CIFAR batch is missing key\(s\) \[b'labels'\]"):
        load_dataset("cifar10", tmp_path)


def test_cifar100_coarse_only_is_missing_fine_labels(tmp_path):
    rng = np.random.default_rng(16)
    folder = tmp_path / "cifar-100-python"
    write_cifar100(folder, rng)
    b = cifar_batch(rng, 4, b"coarse_labels", 20)
    dump(folder / "test", b)
    with pytest.raises(ValueError, match=r"test: CIFAR batch is missing key\(s\) \[b'fine_labels'\]"):
        load_dataset("cifar100", tmp_path)


@pytest.mark.parametrize(
    "data,match",
    [
        (np.zeros((4, 1024), np.uint8), r"shape \(N, 3072\), got uint8 array of shape \(4, 1024\)"),
        (np.zeros((4, 3072), np.float32), r"got float32 array"),
        ([[0] * 3072] * 4, r"got list"),
    ],
    ids=["wrong-width", "wrong-dtype", "not-array"],
)
def test_cifar_wrong_data(tmp_path, data, match):
    rng = np.random.default_rng(17)
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar10(folder, rng)
    dump(folder / "test_batch", {b"data": data, b"labels": [0, 1, 2, 3]})
    with pytest.raises(ValueError, match=match):
        load_dataset("cifar10", tmp_path)


def test_cifar_label_problems(tmp_path):
    rng = np.random.default_rng(18)
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar10(folder, rng)
    dump(folder / "test_batch", {b"data": np.zeros((4, 3072), np.uint8), b"labels": [0, 1, 2]})
    with pytest.raises(ValueError, match=r"must be 4 integers"):
        load_dataset("cifar10", tmp_path)
    dump(folder / "test_batch", {b"data": np.zeros((4, 3072), np.uint8), b"labels": [0, 1, 2, 10]})
    with pytest.raises(ValueError, match=r"values must lie in 0\.\.9"):
        load_dataset("cifar10", tmp_path)


def test_cifar_rejects_foreign_globals_and_truncation(tmp_path):
    rng = np.random.default_rng(19)
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar10(folder, rng)
    b = cifar_batch(rng, 4, extra={b"meta": collections.OrderedDict(a=1)})
    dump(folder / "data_batch_2", b)
    with pytest.raises(ValueError, match=r"data_batch_2: not a valid CIFAR batch pickle"
                                         r".*collections\.OrderedDict is not allowed"):
        load_dataset("cifar10", tmp_path)
    write_cifar10(folder, rng)
    blob = (folder / "data_batch_4").read_bytes()
    (folder / "data_batch_4").write_bytes(blob[:1000])
    with pytest.raises(ValueError, match=r"data_batch_4: not a valid CIFAR batch pickle"):
        load_dataset("cifar10", tmp_path)
    dump(folder / "data_batch_4", [1, 2, 3])
    with pytest.raises(ValueError, match=r"data_batch_4: CIFAR batch must be a pickled dict"):
        load_dataset("cifar10", tmp_path)


# ------------------------------------------------------------------------------ user arrays


def test_npy_images_scaled_and_split(tmp_path):
    rng = np.random.default_rng(20)
    x = rng.integers(0, 256, size=(10, 3, 4), dtype=np.uint8)
    x[0, 0, 0] = 255
    p = tmp_path / "imgs.npy"
    np.save(p, x)

    ds = load_dataset(str(p), seed=3, test_fraction=0.3)
    assert_valid(ds)
    assert ds.name == "imgs" and ds.source == str(p)
    assert ds.image_shape == (3, 4)
    assert ds.x_train.shape == (7, 12) and ds.x_test.shape == (3, 12)
    assert (ds.y_train == -1).all() and (ds.y_test == -1).all()
    # Max is 255, so every value is divided by 255: the rows are a permutation of x / 255.
    allrows = np.concatenate([ds.x_train, ds.x_test])
    want = (x.reshape(10, -1) / 255.0).astype(np.float32)
    assert sorted(map(bytes, allrows)) == sorted(map(bytes, want))
    again = load_array(p, seed=3, test_fraction=0.3)
    np.testing.assert_array_equal(again.x_train, ds.x_train)
    other = load_array(p, seed=4, test_fraction=0.3)
    assert not np.array_equal(other.x_train, ds.x_train)


def test_npy_2d_in_unit_range_kept_exactly(tmp_path):
    x = np.linspace(0, 1, 40, dtype=np.float32).reshape(8, 5)
    p = tmp_path / "feat.npy"
    np.save(p, x)
    ds = load_array(p, seed=0, test_fraction=0.25)
    assert ds.image_shape == (5,)  # tabular: one feature axis, an MLP input
    allrows = np.concatenate([ds.x_train, ds.x_test])
    assert sorted(map(bytes, allrows)) == sorted(map(bytes, x))  # not rescaled


def test_npy_hwc_image_shape(tmp_path):
    # Channels-last (N, H, W, 3) rows are transposed to channels-first (3, H, W), with a note.
    x = np.full((4, 2, 3, 3), 0.5, np.float64)
    x[..., 0] = 0.25  # red channel
    p = tmp_path / "rgb.npy"
    np.save(p, x)
    ds = load_array(p)
    assert ds.image_shape == (3, 2, 3) and ds.x_train.shape[1] == 18
    img = ds.x_train[0].reshape(ds.image_shape)
    assert np.all(img[0] == np.float32(0.25)) and np.all(img[1:] == np.float32(0.5))
    assert any("channels-last" in n for n in ds.notes)


def test_npz_with_explicit_test_split(tmp_path):
    x = np.array([[0.0, 0.25], [0.5, 1.0], [0.125, 0.75]], np.float64)
    y = np.array([2, 0, 1])
    xt = np.array([[1.0, 0.0]])
    p = tmp_path / "mine.npz"
    np.savez(p, x=x, y=y, x_test=xt, y_test=np.array([7]))
    ds = load_dataset(str(p))
    np.testing.assert_array_equal(ds.x_train, x.astype(np.float32))
    np.testing.assert_array_equal(ds.y_train, y)
    np.testing.assert_array_equal(ds.x_test, xt.astype(np.float32))
    np.testing.assert_array_equal(ds.y_test, [7])


def test_npz_split_keeps_rows_and_labels_together(tmp_path):
    n = 20
    y = np.arange(n) % 10
    x = np.zeros((n, 3), np.float32)
    x[:, 0] = y * 10.0  # max 90 > 1 -> divided by 90
    x[:, 1] = np.arange(n)
    p = tmp_path / "paired.npz"
    np.savez_compressed(p, x=x, y=y)
    ds = load_array(p, seed=1, test_fraction=0.25)
    assert ds.x_train.shape == (15, 3) and ds.x_test.shape == (5, 3)
    for xs, ys in ((ds.x_train, ds.y_train), (ds.x_test, ds.y_test)):
        np.testing.assert_allclose(xs[:, 0] * 90.0, ys * 10.0, atol=1e-4)
    assert ds.x_train.max() == 1.0


def test_user_array_errors(tmp_path):
    bad = np.ones((5, 4))
    bad[2, 1] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(ValueError, match=r"nan\.npy: x contains 1 NaN"):
        load_array(tmp_path / "nan.npy")
    np.savez(tmp_path / "nantest.npz", x=np.ones((3, 2)), x_test=np.array([[np.inf, 0.0]]))
    with pytest.raises(ValueError, match=r"x_test contains 1 NaN or infinite"):
        load_dataset(str(tmp_path / "nantest.npz"))
    np.save(tmp_path / "flat.npy", np.ones(5))
    with pytest.raises(ValueError, match=r"flat\.npy: x must have 2, 3 or 4 dimensions.*ndim=1"):
        load_array(tmp_path / "flat.npy")
    np.savez(tmp_path / "nox.npz", data=np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"must contain key 'x'"):
        load_array(tmp_path / "nox.npz")
    np.savez(tmp_path / "ylen.npz", x=np.ones((3, 2)), y=np.array([1, 2]))
    with pytest.raises(ValueError, match=r"y must be 1-D of length 3"):
        load_array(tmp_path / "ylen.npz")
    np.savez(tmp_path / "neg.npz", x=-np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"negative values"):
        load_array(tmp_path / "neg.npz")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match=r"obj\.npy'?: holds Python objects"):
        load_array(tmp_path / "obj.npy")
    (tmp_path / "junk.npy").write_bytes(b"not numpy at all")
    with pytest.raises(ValueError, match=r"junk\.npy'? is neither a \.npy array nor a \.npz archive"):
        load_array(tmp_path / "junk.npy")
    with pytest.raises(FileNotFoundError, match=r"absent\.npy"):
        load_dataset(str(tmp_path / "absent.npy"))


# ------------------------------------------------------------------------------ digits and API


def test_digits_shapes_range_determinism():
    a = load_dataset("digits", seed=0)
    assert_valid(a)
    assert a.image_shape == (8, 8) and a.source == "sklearn.datasets.load_digits"
    assert a.x_train.shape == (1437, 64) and a.x_test.shape == (360, 64)
    assert a.x_train.max() == 1.0 and a.x_train.min() == 0.0  # 16/16 and 0/16 both occur
    assert set(np.unique(a.y_train)) == set(range(10))
    # pixel values are k/16 exactly
    np.testing.assert_array_equal(a.x_train * 16, np.rint(a.x_train * 16))
    b = load_dataset("digits", seed=0)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    c = load_dataset("digits", seed=1)
    assert not np.array_equal(a.x_train, c.x_train)
    d = load_dataset("digits", test_fraction=0.5, limit=100)
    assert d.x_train.shape == (100, 64) and d.x_test.shape == (100, 64)
    np.testing.assert_array_equal(d.x_train, load_dataset("digits", test_fraction=0.5).x_train[:100])


def test_unknown_name_and_bad_args():
    with pytest.raises(ValueError, match=r"unknown dataset 'imagenet'; "
                                         r"valid names are digits, fashion-mnist, mnist, cifar10, cifar100"):
        load_dataset("imagenet")
    with pytest.raises(ValueError, match=r"test_fraction"):
        load_dataset("digits", test_fraction=1.0)
    with pytest.raises(ValueError, match=r"limit"):
        load_dataset("digits", limit=0)
    # one list of names, the registry's (loaders once had its own, without the Tiny-ImageNet entries)
    assert DATASETS == ("digits", "fashion-mnist", "mnist", "cifar10", "cifar100", "tiny-imagenet-32", "tiny-imagenet")


def test_dataset_rejects_malformed_arrays():
    x = np.zeros((2, 4), np.float32)
    y = np.zeros(2, np.int64)
    Dataset("ok", x, y, x, y, (2, 2), "test")
    with pytest.raises(ValueError, match="float32"):
        Dataset("bad", x.astype(np.float64), y, x, y, (2, 2), "test")
    with pytest.raises(ValueError, match="length 2"):
        Dataset("bad", x, y[:1], x, y, (2, 2), "test")
    with pytest.raises(ValueError, match="image_shape"):
        Dataset("bad", x, y, x, y, (3, 3), "test")


def test_module_import_is_numpy_only():
    import subprocess
    import sys

    code = (
        "import sys, empirical.data; "
        "bad = [m for m in ('torch', 'torchvision', 'sklearn') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    root = Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


# ------------------------------------------------------------------------------ real data


def test_real_fashion_mnist_debian(missing_resource):
    directory = D.DEBIAN_FASHION_MNIST_DIR
    found, missing = D._find_idx_files(directory)
    if missing:
        missing_resource(
            f"Fashion-MNIST not installed in {directory} (missing {missing}); "
            "install it with `apt-get install dataset-fashion-mnist`"
        )
    ds = load_dataset("fashion-mnist")
    assert Path(ds.source) == directory
    assert ds.x_train.shape == (60000, 784) and ds.x_test.shape == (10000, 784)
    assert ds.image_shape == (28, 28)
    assert ds.x_train.dtype == np.float32
    assert 0.0 == ds.x_train.min() and ds.x_train.max() == 1.0
    for y in (ds.y_train, ds.y_test):
        assert y.min() == 0 and y.max() == 9
        assert np.bincount(y).tolist() == [len(y) // 10] * 10  # Fashion-MNIST is exactly balanced
