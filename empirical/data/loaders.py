"""Data set loaders: real image and tabular data as float32 arrays, labels kept aside.

Every loader returns a :class:`Dataset` whose ``x_*`` arrays are flattened float32 rows (in
[0, 1] for every named data set and for the default scaling of user arrays; see
:func:`load_array` for the ``scaling`` options and the expected range) and whose ``y_*``
arrays are int64 labels (``-1`` where unknown). The labels are kept
only for reporting: the teacher search and the certificate never read them, so the
experiments stay unsupervised and a missing label file can never change a result.

Why these choices:

- **Nothing is ever downloaded.** Experiments must run on machines without internet and must
  never hang on a network call, so a missing file raises :class:`FileNotFoundError` whose
  message says exactly which files to put in which directory and how to obtain them.
- **Corrupt input fails loudly and early.** Every on-disk format is validated (magic numbers,
  header dimensions against payload size, label/image counts, pickle keys and shapes, NaN in
  user arrays) and reported as :class:`ValueError` naming the file, instead of surfacing as a
  reshape error deep inside NumPy or, worse, as silently wrong data.
- **Deterministic.** Official train/test splits are used where they exist (MNIST,
  Fashion-MNIST, CIFAR); otherwise the split is a fixed function of ``seed``.
- **Cheap to import.** Only NumPy and the standard library are imported at module level;
  scikit-learn is imported inside the functions that need it and torch/torchvision never.

- **Explicit locations win.** An explicit ``root`` is the only place searched; without it
  ``$WITNESS_DATA``; without either, the system copy (the Debian Fashion-MNIST package).

Public API: :class:`Dataset`, :data:`DATASETS`, :func:`load_dataset`, :func:`load_array`,
:func:`read_idx`, :func:`load_tiny_imagenet` (:data:`TINY_IMAGENET`, :data:`TINY_IMAGENET_32`),
:func:`split_hash`, :data:`SCALINGS`.
"""
from __future__ import annotations

import dataclasses
import gzip
import hashlib
import math
import os
import pickle
import struct
import warnings
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

import numpy as np

from empirical.config import SCALINGS  # scalings of user arrays (see :func:`load_array`)
from empirical.data.registry import DATASETS, REGISTRY, canonical_name
from empirical.io import read_array_file, read_text
from witness_theory.io import check_regular_file

__all__ = ["Dataset", "DATASETS", "load_dataset", "load_array", "read_idx", "SCALINGS",
           "TINY_IMAGENET", "TINY_IMAGENET_32", "load_tiny_imagenet", "split_hash"]

#: Tiny-ImageNet-200 at its native 64x64 (3x64x64 channels-first) and box-downsampled to 32x32.
TINY_IMAGENET = "tiny-imagenet"
TINY_IMAGENET_32 = "tiny-imagenet-32"


#: Environment variable naming the data root searched when no explicit ``root`` is given.
DATA_ENV_VAR = "WITNESS_DATA"

#: Where the Debian/Ubuntu package ``dataset-fashion-mnist`` installs the four IDX files.
DEBIAN_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


# --------------------------------------------------------------------------------------------
# Dataset container
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """A train/test pair of flattened float32 rows (images or table rows) with labels kept aside.

    ``eq=False`` because element-wise array comparison has no single truth value; two
    ``Dataset`` objects compare (and hash) by identity. ``image_shape`` is the shape of one
    row before flattening (``(8, 8)``, ``(28, 28)``, ``(3, 32, 32)`` in CHW order, or ``(D,)``
    for tabular data), so ``x_train[i].reshape(image_shape)`` is the image and
    ``VAE(image_shape, ...)`` gets an MLP for 1-D and 2-D shapes, the conv net for CHW. An
    empty ``image_shape`` (older callers) is turned into ``(D,)``.

    ``scaling`` records how raw values were mapped to the model input (``{"mode": ...}`` plus
    its statistics; write it into every run), ``notes`` what the loader changed or noticed
    (e.g. a channels-last array transposed), one sentence each.
    """

    name: str
    x_train: np.ndarray  # (N_train, D) float32 (in [0, 1] unless scaling says otherwise)
    y_train: np.ndarray  # (N_train,) int64, -1 if unknown
    x_test: np.ndarray  # (N_test, D) float32 in [0, 1]
    y_test: np.ndarray  # (N_test,) int64, -1 if unknown
    image_shape: tuple
    source: str
    scaling: dict = field(default_factory=dict)
    notes: tuple = ()

    def __post_init__(self) -> None:
        # Cheap structural checks so a loader bug cannot hand malformed data downstream.
        for xs, ys, part in ((self.x_train, self.y_train, "train"), (self.x_test, self.y_test, "test")):
            if xs.ndim != 2 or xs.dtype != np.float32:
                raise ValueError(f"Dataset {self.name!r}: x_{part} must be 2-D float32, got {xs.dtype} {xs.shape}")
            if ys.ndim != 1 or ys.dtype != np.int64 or ys.shape[0] != xs.shape[0]:
                raise ValueError(
                    f"Dataset {self.name!r}: y_{part} must be 1-D int64 of length {xs.shape[0]}, "
                    f"got {ys.dtype} {ys.shape}"
                )
        if self.x_train.shape[1] != self.x_test.shape[1]:
            raise ValueError(
                f"Dataset {self.name!r}: train has {self.x_train.shape[1]} features, test has {self.x_test.shape[1]}"
            )
        if not tuple(self.image_shape):  # tabular rows: one feature axis (an MLP input)
            object.__setattr__(self, "image_shape", (int(self.x_train.shape[1]),))
        object.__setattr__(self, "image_shape", tuple(int(s) for s in self.image_shape))
        object.__setattr__(self, "notes", tuple(self.notes))
        if int(np.prod(self.image_shape)) != self.x_train.shape[1]:
            raise ValueError(
                f"Dataset {self.name!r}: image_shape {self.image_shape} does not match {self.x_train.shape[1]} features"
            )

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    def __repr__(self) -> str:  # the arrays themselves are too large to be useful in a repr
        return (
            f"Dataset(name={self.name!r}, train={self.x_train.shape}, test={self.x_test.shape}, "
            f"image_shape={self.image_shape}, source={self.source!r}, scaling={self.scaling.get('mode')!r})"
        )

    def split_hash(self, split: str) -> str:
        """SHA-256 (hex) of one split's rows; see :func:`split_hash`."""
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        return split_hash(self.x_train if split == "train" else self.x_test)


def split_hash(x: np.ndarray) -> str:
    """SHA-256 (hex) of a split's rows in order: shape, dtype and the C-order float32 bytes.

    A codes file stores it, so codes can only be certified against the very rows (same
    values, same order) they were computed from.
    """
    a = np.ascontiguousarray(x, dtype=np.float32)
    h = hashlib.sha256(f"{a.shape}|float32|".encode())
    h.update(a.tobytes())
    return h.hexdigest()


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def load_dataset(
    name: str,
    root: str | os.PathLike | None = None,
    *,
    seed: int = 0,
    test_fraction: float = 0.2,
    limit: int | None = None,
    scaling: str | None = None,
) -> Dataset:
    """Load a data set by name (one of :data:`DATASETS`, :data:`TINY_IMAGENET`,
    :data:`TINY_IMAGENET_32`) or from a ``.npy``/``.npz`` path.

    Where files are looked for: an explicit ``root`` is the only place searched (a missing
    data set there is an error naming ``root``); without ``root``, ``$WITNESS_DATA``; without
    either, the system copy (Fashion-MNIST from the Debian package). ``seed`` and
    ``test_fraction`` only matter for data sets without an official split (``digits`` and
    user arrays without ``x_test``); MNIST, Fashion-MNIST, CIFAR and Tiny-ImageNet always use
    the official split. ``limit`` keeps at most ``limit`` train and ``limit`` test rows (the
    first rows after the deterministic split), for smoke tests.

    ``scaling`` (one of :data:`SCALINGS`; see :func:`load_array`): for user arrays ``None``
    means ``"max"``; for named data sets ``None``, ``"none"`` and ``"max"`` keep the native
    [0, 1] pixels (uint8 / 255, digits / 16), ``"minmax"`` and ``"standardize"`` are applied on
    top with training-split statistics. The result is in ``Dataset.scaling``.
    """
    _check_split_args(test_fraction, limit)
    _check_scaling(scaling)
    if root is not None and not str(root).strip():
        raise ValueError("root is empty; pass a directory (or leave root unset to use $WITNESS_DATA "
                         "or the system copy)")
    key = str(name).strip()
    if key.lower().endswith((".npy", ".npz")):
        ds = load_array(key, seed=seed, test_fraction=test_fraction, scaling=scaling or "max")
        return _apply_limit(ds, limit)

    canon = canonical_name(key)
    if canon is None:
        raise ValueError(f"unknown dataset {name!r}; valid names are {', '.join(REGISTRY)} or a path to a .npy/.npz file")
    kind = REGISTRY[canon].loader
    if kind not in LOADERS:
        raise ValueError(f"dataset {canon!r} has no reader: its registry entry names loader {kind!r}, "
                         f"known kinds are {', '.join(LOADERS)}")
    ds = LOADERS[kind](canon, root, seed=seed, test_fraction=test_fraction, limit=limit)
    ds = _apply_limit(ds, limit)
    if scaling in ("minmax", "standardize"):
        x_tr, x_te, info = _scale(ds.x_train.astype(np.float64), ds.x_test.astype(np.float64), scaling, ds.name)
        info["applied_after"] = ds.scaling
        ds = dataclasses.replace(ds, x_train=np.ascontiguousarray(x_tr, dtype=np.float32),
                                 x_test=np.ascontiguousarray(x_te, dtype=np.float32),
                                 scaling=_jsonable_scaling(info))
    return ds


def _check_scaling(scaling: str | None) -> None:
    if scaling is not None and scaling not in SCALINGS:
        raise ValueError(f"scaling must be one of {', '.join(SCALINGS)} (or None for the default), got {scaling!r} "
                         f"(on the command line: --set data.scaling=minmax)")


def _check_split_args(test_fraction: float, limit: int | None) -> None:
    if not (0.0 < float(test_fraction) < 1.0):
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    if limit is not None and (isinstance(limit, bool) or int(limit) != limit or limit < 1):
        raise ValueError(f"limit must be a positive integer or None, got {limit!r}")


def _apply_limit(ds: Dataset, limit: int | None) -> Dataset:
    if limit is None:
        return ds
    n = int(limit)
    return Dataset(
        name=ds.name,
        x_train=ds.x_train[:n].copy(),
        y_train=ds.y_train[:n].copy(),
        x_test=ds.x_test[:n].copy(),
        y_test=ds.y_test[:n].copy(),
        image_shape=ds.image_shape,
        source=ds.source,
        scaling=ds.scaling,
        notes=ds.notes,
    )


def _split(x: np.ndarray, y: np.ndarray, seed: int, test_fraction: float):
    """Deterministic shuffled split; a fixed function of ``seed`` (no stratification)."""
    from sklearn.model_selection import train_test_split  # lazy: keep module import cheap

    if x.shape[0] < 2:
        raise ValueError(f"need at least 2 rows to make a train/test split, got {x.shape[0]}")
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=float(test_fraction), random_state=int(seed), shuffle=True
    )
    return x_tr, x_te, y_tr, y_te


def _split_indices(n: int, seed: int, test_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of :func:`_split` (same permutation: train_test_split on arange)."""
    from sklearn.model_selection import train_test_split

    if n < 2:
        raise ValueError(f"need at least 2 rows to make a train/test split, got {n}")
    tr, te = train_test_split(np.arange(n), test_size=float(test_fraction), random_state=int(seed), shuffle=True)
    return tr, te


# --------------------------------------------------------------------------------------------
# digits (embedded in scikit-learn, the default that always works offline)
# --------------------------------------------------------------------------------------------


def _load_digits(*, seed: int, test_fraction: float) -> Dataset:
    from sklearn.datasets import load_digits  # ships with scikit-learn; never downloads

    bunch = load_digits()
    # Pixels are integer counts 0..16 (4x4 blocks of a 32x32 bitmap), hence /16.
    x = (np.asarray(bunch.data, dtype=np.float64) / 16.0).astype(np.float32)
    y = np.asarray(bunch.target, dtype=np.int64)
    x_tr, x_te, y_tr, y_te = _split(x, y, seed, test_fraction)
    return Dataset(
        name="digits",
        x_train=np.ascontiguousarray(x_tr),
        y_train=np.ascontiguousarray(y_tr),
        x_test=np.ascontiguousarray(x_te),
        y_test=np.ascontiguousarray(y_te),
        image_shape=(8, 8),
        source="sklearn.datasets.load_digits",
        scaling={"mode": "fixed", "divisor": 16.0, "note": "integer counts 0..16 divided by 16"},
    )


# --------------------------------------------------------------------------------------------
# IDX (MNIST, Fashion-MNIST)
# --------------------------------------------------------------------------------------------

# IDX format (LeCun, http://yann.lecun.com/exdb/mnist/): a 4-byte magic number
# 0x00 0x00 <type code> <ndim>, then ndim big-endian int32 dimension sizes, then the data in
# C order, big-endian. MNIST images are magic 0x00000803 (uint8, 3-D: N x rows x cols) and
# labels 0x00000801 (uint8, 1-D: N).
_IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_IDX_IMAGES_MAGIC = 0x00000803
_IDX_LABELS_MAGIC = 0x00000801
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes_maybe_gzip(path: Path) -> bytes:
    """Read a file, transparently gunzipping it if it starts with the gzip magic bytes.

    Detection is by content, not by extension, so a renamed file still loads; a truncated or
    corrupt gzip stream becomes a ``ValueError`` naming the file. Only a regular file is opened
    (``witness_theory.io.check_regular_file``: a named pipe never blocks the loader).
    """

    check_regular_file(path, "data")
    with open(path, "rb") as f:
        head = f.read(2)
        f.seek(0)
        if head != _GZIP_MAGIC:
            return f.read()
        try:
            with gzip.GzipFile(fileobj=f, mode="rb") as g:
                return g.read()
        except EOFError as exc:
            raise ValueError(f"{path}: truncated gzip stream ({exc}); re-download or re-extract the file") from exc
        except (gzip.BadGzipFile, zlib.error) as exc:
            raise ValueError(f"{path}: corrupt gzip stream ({exc}); re-download the file") from exc


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (gzipped or not) into a native-endian NumPy array of its header shape.

    Validates the magic number (two zero bytes, a known type code, ndim >= 1) and that the
    payload size equals exactly the product of the header dimensions times the item size,
    so truncated or padded files are rejected with a ``ValueError`` naming the file rather
    than misread. Raises ``FileNotFoundError`` if the file does not exist.
    """
    p = Path(path)
    raw = _read_bytes_maybe_gzip(p)
    if len(raw) < 4:
        raise ValueError(f"{p}: truncated IDX file: {len(raw)} bytes, shorter than the 4-byte magic number")
    magic = struct.unpack(">I", raw[:4])[0]
    type_code, ndim = raw[2], raw[3]
    if raw[:2] != b"\x00\x00" or type_code not in _IDX_DTYPES or ndim == 0:
        raise ValueError(
            f"{p}: bad IDX magic number 0x{magic:08X} (expected 0x0000TTNN with type code TT in "
            f"{{{', '.join(f'0x{k:02X}' for k in _IDX_DTYPES)}}} and ndim NN >= 1, "
            "e.g. 0x00000803 for images, 0x00000801 for labels); not an IDX file or corrupt"
        )
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise ValueError(f"{p}: truncated IDX header: {ndim} dims need {header_len} bytes, file has {len(raw)}")
    dims = struct.unpack(">" + "i" * ndim, raw[4:header_len])  # big-endian int32 sizes
    if any(d < 0 for d in dims):
        raise ValueError(f"{p}: corrupt IDX header: negative dimension in {dims}")
    dtype = _IDX_DTYPES[type_code]
    count = 1
    for d in dims:
        count *= int(d)
    expected = count * dtype.itemsize
    found = len(raw) - header_len
    if found != expected:
        what = "truncated" if found < expected else "has trailing bytes"
        raise ValueError(
            f"{p}: IDX size does not match header dims {tuple(dims)}: expected {expected} data bytes, "
            f"found {found} (file {what})"
        )
    arr = np.frombuffer(raw, dtype=dtype, count=count, offset=header_len).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=True)  # native order, writable


_IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
_TORCHVISION_DIR = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}


def _env_root() -> Path | None:
    value = os.environ.get(DATA_ENV_VAR, "").strip()
    return Path(value).expanduser() if value else None


def _dedup(paths: Sequence[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if p not in out:
            out.append(p)
    return out


def _explicit_root(root: str | os.PathLike) -> Path:
    r = Path(root).expanduser()
    if not r.is_dir():
        raise FileNotFoundError(f"data root {str(r)!r} (root=... / --root) is not an existing directory; "
                                "pass the directory holding the data set, or leave it unset to use "
                                f"${DATA_ENV_VAR} or the system copy")
    return r


def _mnist_candidate_dirs(name: str, root: str | os.PathLike | None) -> list[Path]:
    """Search order: an explicit root only (root, <root>/<TV>/raw, <root>/<name>); else
    $WITNESS_DATA (same three); else the Debian dir (Fashion-MNIST only)."""
    tv = _TORCHVISION_DIR[name]
    if root is not None:
        r = _explicit_root(root)
        return _dedup([r, r / tv / "raw", r / name])
    env = _env_root()
    if env is not None:
        return _dedup([env, env / tv / "raw", env / name])
    return [DEBIAN_FASHION_MNIST_DIR] if name == "fashion-mnist" else []


def _find_idx_files(directory: Path) -> tuple[dict[str, Path], list[str]]:
    """Map each required IDX base name to an existing file (plain preferred over .gz)."""
    found: dict[str, Path] = {}
    missing: list[str] = []
    for base in _IDX_FILES:
        for cand in (directory / base, directory / (base + ".gz")):
            if cand.is_file():
                found[base] = cand
                break
        else:
            missing.append(base)
    return found, missing


def _mnist_missing_message(name: str, searched: list[tuple[Path, list[str]]]) -> str:
    tv = _TORCHVISION_DIR[name]
    pretty = "Fashion-MNIST" if name == "fashion-mnist" else "MNIST"
    lines = [f"{pretty} IDX files not found."]
    if searched:
        lines.append("Searched these directories:")
        for d, missing in searched:
            lines.append(f"  {d}: missing {', '.join(m + '[.gz]' for m in missing)}")
    else:
        lines.append(f"No directory to search: pass root=... or set ${DATA_ENV_VAR}.")
    lines.append(
        "Put these 4 files (gzipped or not) together in ONE directory DIR: "
        + ", ".join(f + "[.gz]" for f in _IDX_FILES)
        + f", then pass root=DIR (or put them in <root>/{tv}/raw/, or set {DATA_ENV_VAR}=DIR)."
    )
    if name == "fashion-mnist":
        lines.append(
            "To get them: `apt-get install dataset-fashion-mnist` (installs them into "
            f"{DEBIAN_FASHION_MNIST_DIR}, searched when neither root nor $WITNESS_DATA is given); or on a machine with internet "
            "`python -c \"import torchvision; torchvision.datasets.FashionMNIST('ROOT', download=True)\"` "
            f"(writes ROOT/{tv}/raw/) and copy them over; official source: "
            "https://github.com/zalandoresearch/fashion-mnist "
            "(http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/)."
        )
    else:
        lines.append(
            "To get them: on a machine with internet run "
            "`python -c \"import torchvision; torchvision.datasets.MNIST('ROOT', download=True)\"` "
            f"(writes ROOT/{tv}/raw/) and copy them over; official source: "
            "http://yann.lecun.com/exdb/mnist/ (mirror: https://ossci-datasets.s3.amazonaws.com/mnist/)."
        )
    lines.append("This loader never downloads anything.")
    return "\n".join(lines)


def _read_idx_expect(path: Path, magic: int, ndim: int) -> np.ndarray:
    arr = read_idx(path)
    if arr.dtype != np.uint8 or arr.ndim != ndim:
        kind = "images" if ndim == 3 else "labels"
        raise ValueError(
            f"{path}: expected IDX magic 0x{magic:08X} (uint8 {ndim}-D {kind}), "
            f"got a {arr.ndim}-D {arr.dtype} array of shape {arr.shape}"
        )
    return arr


def _load_mnist_like(name: str, root: str | os.PathLike | None) -> Dataset:
    searched: list[tuple[Path, list[str]]] = []
    files: dict[str, Path] | None = None
    directory: Path | None = None
    for d in _mnist_candidate_dirs(name, root):
        found, missing = _find_idx_files(d)
        if not missing:
            files, directory = found, d
            break
        searched.append((d, missing))
    if files is None or directory is None:
        raise FileNotFoundError(_mnist_missing_message(name, searched))

    parts = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        img_path = files[f"{prefix}-images-idx3-ubyte"]
        lab_path = files[f"{prefix}-labels-idx1-ubyte"]
        images = _read_idx_expect(img_path, _IDX_IMAGES_MAGIC, 3)
        labels = _read_idx_expect(lab_path, _IDX_LABELS_MAGIC, 1)
        if images.shape[0] != labels.shape[0]:
            raise ValueError(
                f"labels/images count mismatch: {img_path} has {images.shape[0]} images but "
                f"{lab_path} has {labels.shape[0]} labels"
            )
        parts[split] = (images, labels, img_path)
    (tr_img, tr_lab, tr_path), (te_img, te_lab, te_path) = parts["train"], parts["test"]
    if tr_img.shape[1:] != te_img.shape[1:]:
        raise ValueError(
            f"image size mismatch: {tr_path} has {tr_img.shape[1:]} images, {te_path} has {te_img.shape[1:]}"
        )
    image_shape = tuple(int(s) for s in tr_img.shape[1:])

    def to_float(images: np.ndarray) -> np.ndarray:
        # uint8 pixels 0..255 -> float32 in [0, 1]; flattened row-major (row, col).
        return images.reshape(images.shape[0], -1).astype(np.float32) / np.float32(255.0)

    return Dataset(
        name=name,
        x_train=to_float(tr_img),
        y_train=tr_lab.astype(np.int64),
        x_test=to_float(te_img),
        y_test=te_lab.astype(np.int64),
        image_shape=image_shape,
        source=str(directory),
        scaling={"mode": "fixed", "divisor": 255.0, "note": "uint8 pixels divided by 255"},
    )


# --------------------------------------------------------------------------------------------
# CIFAR-10 / CIFAR-100 (python pickle layout)
# --------------------------------------------------------------------------------------------

# Layout of https://www.cs.toronto.edu/~kriz/cifar.html "python version": each batch file is a
# pickled dict with b"data" -> uint8 array (N, 3072), rows = 1024 red, 1024 green, 1024 blue
# values of a 32x32 image in row-major order (i.e. CHW), and b"labels" (CIFAR-10) or
# b"fine_labels" (CIFAR-100, 100 classes) -> list of N ints.
class _CifarSpec(TypedDict):
    folder: str
    train: tuple[str, ...]
    test: tuple[str, ...]
    label_key: bytes
    n_classes: int
    archive: str
    tv: str
    pretty: str


_CIFAR: dict[str, _CifarSpec] = {
    "cifar10": {
        "folder": "cifar-10-batches-py",
        "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
        "test": ("test_batch",),
        "label_key": b"labels",
        "n_classes": 10,
        "archive": "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        "tv": "CIFAR10",
        "pretty": "CIFAR-10",
    },
    "cifar100": {
        "folder": "cifar-100-python",
        "train": ("train",),
        "test": ("test",),
        "label_key": b"fine_labels",
        "n_classes": 100,
        "archive": "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        "tv": "CIFAR100",
        "pretty": "CIFAR-100",
    },
}
_CIFAR_DIM = 3 * 32 * 32

# The only globals a CIFAR batch pickle needs: NumPy's array reconstruction (Python 2 era
# pickles name ``numpy.core.multiarray``; NumPy 2 writes ``numpy._core``), plus
# ``_codecs.encode`` which Python 3 protocol-2 pickles use for bytes objects.
_PICKLE_ALLOWED = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that refuses every global outside :data:`_PICKLE_ALLOWED`.

    A pickle can execute arbitrary code through the globals it references; a CIFAR batch only
    needs NumPy array reconstruction, so anything else is rejected.
    """

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _PICKLE_ALLOWED:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR batch")
        if module == "_codecs":
            import codecs

            return codecs.encode
        if module == "numpy":
            return getattr(np, name)
        sub = module.split(".")[-1]  # multiarray / numeric, resolved in numpy._core if present
        core = getattr(np, "_core", None)
        if core is not None and hasattr(core, sub):
            return getattr(getattr(core, sub), name)
        return super().find_class(module, name)


def _read_cifar_batch(path: Path, label_key: bytes, n_classes: int) -> tuple[np.ndarray, np.ndarray]:

    check_regular_file(path, "CIFAR batch")   # a named pipe never blocks the loader
    try:
        with open(path, "rb") as f:
            obj = _RestrictedUnpickler(f, encoding="bytes").load()
    except FileNotFoundError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as exc:
        raise ValueError(f"{path}: not a valid CIFAR batch pickle ({type(exc).__name__}: {exc})") from exc
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: CIFAR batch must be a pickled dict, got {type(obj).__name__}")
    # Python 2 pickles give bytes keys under encoding="bytes"; accept str keys from Python 3 writers.
    d = {(k.encode() if isinstance(k, str) else k): v for k, v in obj.items()}
    missing = [k for k in (b"data", label_key) if k not in d]
    if missing:
        raise ValueError(
            f"{path}: CIFAR batch is missing key(s) {missing} (has {sorted(map(repr, d))}); "
            f"expected b'data' and {label_key!r}"
        )
    data = d[b"data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != _CIFAR_DIM:
        desc = f"{data.dtype} array of shape {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise ValueError(f"{path}: b'data' must be a uint8 array of shape (N, {_CIFAR_DIM}), got {desc}")
    try:
        labels = np.asarray(d[label_key])
    except Exception as exc:  # ragged or odd objects
        raise ValueError(f"{path}: {label_key!r} is not a list of integers ({exc})") from exc
    if labels.ndim != 1 or labels.shape[0] != data.shape[0] or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"{path}: {label_key!r} must be {data.shape[0]} integers (one per row of b'data'), "
            f"got {labels.dtype} array of shape {labels.shape}"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"{path}: {label_key!r} values must lie in 0..{n_classes - 1}, got {labels.min()}..{labels.max()}")
    return data, labels.astype(np.int64)


def _cifar_candidate_dirs(name: str, root: str | os.PathLike | None) -> list[Path]:
    folder = _CIFAR[name]["folder"]
    dirs: list[Path] = []
    bases: list[Path] = []
    if root is not None:  # an explicit root is the only place searched
        bases.append(_explicit_root(root))
    elif (env_root := _env_root()) is not None:
        bases.append(env_root)
    for b in bases:
        dirs += [b / folder, b]  # standard layout, or root pointing at the batches folder
    return _dedup(dirs)


def _load_cifar(name: str, root: str | os.PathLike | None) -> Dataset:
    spec = _CIFAR[name]
    needed = list(spec["train"]) + list(spec["test"])
    searched: list[tuple[Path, list[str]]] = []
    directory: Path | None = None
    for d in _cifar_candidate_dirs(name, root):
        missing = [f for f in needed if not (d / f).is_file()]
        if not missing:
            directory = d
            break
        searched.append((d, missing))
    if directory is None:
        lines = [f"{spec['pretty']} python batches not found."]
        if searched:
            lines.append("Searched these directories:")
            lines += [f"  {d}: missing {', '.join(m)}" for d, m in searched]
        else:
            lines.append(f"No directory to search: pass root=... or set ${DATA_ENV_VAR}.")
        lines.append(
            f"Put the files {', '.join(needed)} in <root>/{spec['folder']}/ (or pass that folder as root, "
            f"or set {DATA_ENV_VAR}=<root>). To get them: download {spec['archive']} on a machine with "
            f"internet and extract it into <root> (tar xzf), or run "
            f"`python -c \"import torchvision; torchvision.datasets.{spec['tv']}('ROOT', download=True)\"` "
            f"there and copy ROOT/{spec['folder']}/ over. This loader never downloads anything."
        )
        raise FileNotFoundError("\n".join(lines))

    def read(files: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        xs, ys = [], []
        for f in files:
            x, y = _read_cifar_batch(directory / f, spec["label_key"], spec["n_classes"])
            xs.append(x)
            ys.append(y)
        x = np.concatenate(xs, axis=0)
        # Rows are already CHW (1024 R, 1024 G, 1024 B); keep that order, scale uint8 -> [0, 1].
        return x.astype(np.float32) / np.float32(255.0), np.concatenate(ys, axis=0)

    x_tr, y_tr = read(spec["train"])
    x_te, y_te = read(spec["test"])
    return Dataset(
        name=name,
        x_train=x_tr,
        y_train=y_tr,
        x_test=x_te,
        y_test=y_te,
        image_shape=(3, 32, 32),
        source=str(directory),
        scaling={"mode": "fixed", "divisor": 255.0, "note": "uint8 pixels divided by 255"},
    )


# --------------------------------------------------------------------------------------------
# User arrays (.npy / .npz)
# --------------------------------------------------------------------------------------------


def _check_user_x(x: Any, path: Path, key: str) -> np.ndarray:
    if not isinstance(x, np.ndarray):
        raise ValueError(f"{path}: {key} is not an array")
    if x.dtype.kind not in "biuf":
        raise ValueError(f"{path}: {key} must be numeric (bool/int/float), got dtype {x.dtype}")
    if x.ndim not in (2, 3, 4):
        raise ValueError(
            f"{path}: {key} must have 2, 3 or 4 dimensions ((N, D), (N, H, W) or (N, H, W, C)), "
            f"got ndim={x.ndim} with shape {x.shape}"
        )
    if x.shape[0] == 0:
        raise ValueError(f"{path}: {key} has no rows")
    if math.prod(x.shape[1:]) == 0:
        raise ValueError(f"{path}: {key} has rows of shape {x.shape[1:]} with no features")
    xf = x.astype(np.float64, copy=False)
    if not np.all(np.isfinite(xf)):
        n_bad = int(np.size(xf) - np.count_nonzero(np.isfinite(xf)))
        raise ValueError(f"{path}: {key} contains {n_bad} NaN or infinite value(s)")
    return xf


def _row_layout(shape: tuple, path: Path) -> tuple[tuple, tuple | None, list[str]]:
    """(image_shape, axes to transpose one row by or None, notes) of a user array's row shape.

    Rules (documented in :func:`load_array`): (D,) tabular; (H, W) grey images; 4-D arrays
    with 1 or 3 channels are recognised on either side: channels-last (N, H, W, C) is
    transposed to channels-first (C, H, W) as the conv net expects; one channel is squeezed
    to (H, W) (grey, MLP); a row shape with 1 or 3 on both sides is read as channels-first.
    Any other 4-D shape is kept as given.
    """
    notes: list[str] = []
    if len(shape) < 3:
        return tuple(shape), None, notes
    a, h, w = shape
    first, last = a in (1, 3), w in (1, 3)
    if last and not first:
        notes.append(f"{path.name}: rows of shape {shape} read as channels-last (H, W, C); "
                     f"transposed to channels-first {(w, a, h)}")
        if w == 1:
            notes.append(f"{path.name}: one channel squeezed, rows are grey images {(a, h)}")
            return (a, h), (2, 0, 1), notes
        return (w, a, h), (2, 0, 1), notes
    if first and last:
        notes.append(f"{path.name}: rows of shape {shape} have {a} and {w} on both sides; read as "
                     "channels-first (C, H, W). Transpose the array yourself if it is channels-last")
    if a == 1:
        notes.append(f"{path.name}: one channel squeezed, rows are grey images {(h, w)}")
        return (h, w), None, notes
    if not first:
        notes.append(f"{path.name}: rows of shape {shape} are not recognised as images with 1 or 3 channels; "
                     "kept as given")
    return tuple(shape), None, notes


def _scale(x_tr: np.ndarray, x_te: np.ndarray, mode: str, where: str) -> tuple[np.ndarray, np.ndarray, dict]:
    """Apply a scaling (float64 in, float64 out) and describe it; statistics from train only
    for the per-feature modes (the test split must not leak into the model input)."""
    info: dict = {"mode": mode}
    if mode == "none":
        pass
    elif mode == "max":
        if min(float(x_tr.min()), float(x_te.min())) < 0:
            raise ValueError(
                f"{where}: negative values (min {min(float(x_tr.min()), float(x_te.min())):g}) cannot be scaled "
                "by the maximum; pass scaling='minmax' (per feature to [0, 1]) or scaling='standardize' "
                "(on the command line: --set data.scaling=minmax)"
            )
        vmax = max(float(x_tr.max()), float(x_te.max()))
        # One common factor over train and test together (kept from earlier versions, so
        # results reproduce): 0..255 images map to 0..1; data already in [0, 1] is untouched.
        divisor = vmax if vmax > 1.0 else 1.0
        info.update(divisor=divisor, statistics_from="train+test")
        if divisor != 1.0:
            x_tr, x_te = x_tr / divisor, x_te / divisor
            feature_max = x_tr.max(axis=0)
            if x_tr.shape[1] > 1 and float(np.median(feature_max)) < 0.1:
                warnings.warn(
                    f"{where}: after dividing by the largest value {divisor:g}, half of the features stay below "
                    f"{float(np.median(feature_max)):.3g}: the features are on very different scales and most "
                    "carry almost no signal. Pass scaling='minmax' (per feature to [0, 1], train statistics; on the "
                    "command line: --set data.scaling=minmax)",
                    UserWarning, stacklevel=4)
    elif mode == "minmax":
        lo, hi = x_tr.min(axis=0), x_tr.max(axis=0)
        span = np.where(hi > lo, hi - lo, 1.0)  # a constant feature maps to 0
        x_tr = (x_tr - lo) / span
        x_te = (x_te - lo) / span
        outside = int(np.count_nonzero((x_te < 0) | (x_te > 1)))
        x_te = np.clip(x_te, 0.0, 1.0)  # test values beyond the training range
        x_tr = np.clip(x_tr, 0.0, 1.0)  # rounding only
        info.update(statistics_from="train", min=lo, max=hi, n_test_values_clipped=outside)
    elif mode == "standardize":
        mean, std = x_tr.mean(axis=0), x_tr.std(axis=0)
        std = np.where(std > 0, std, 1.0)  # a constant feature maps to 0
        x_tr = (x_tr - mean) / std
        x_te = (x_te - mean) / std
        info.update(statistics_from="train", mean=mean, std=std)
    else:  # pragma: no cover - checked by the callers
        raise ValueError(f"scaling must be one of {', '.join(SCALINGS)}, got {mode!r}")
    lo = min(float(x_tr.min()), float(x_te.min()))
    hi = max(float(x_tr.max()), float(x_te.max()))
    info.update(range=[lo, hi])
    if lo < 0.0 or hi > 1.0:
        warnings.warn(
            f"{where}: model input after scaling={mode!r} lies in [{lo:.4g}, {hi:.4g}], outside [0, 1]: the "
            "default Bernoulli decoder expects values in [0, 1] (pass scaling='minmax'; on the command line: "
            "--set data.scaling=minmax); this range is "
            "only suitable for a Gaussian decoder", UserWarning, stacklevel=4)
    return x_tr, x_te, info


def _check_user_y(y: Any, n: int, path: Path, key: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != n:
        raise ValueError(f"{path}: {key} must be 1-D of length {n} (one label per row), got shape {y.shape}")
    if y.dtype.kind in "iub":
        return y.astype(np.int64)
    if y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
        return y.astype(np.int64)
    raise ValueError(f"{path}: {key} must hold integer labels, got dtype {y.dtype}")


def load_array(
    path: str | os.PathLike, *, seed: int = 0, test_fraction: float = 0.2, scaling: str = "max"
) -> Dataset:
    """Load a user data set from ``.npy`` or ``.npz``.

    - ``.npy``: one array, (N, D) or (N, H, W) or (N, H, W, C); no labels, so ``y = -1``.
    - ``.npz``: key ``x`` (required, same shapes) and optionally ``y``, ``x_test``,
      ``y_test``. Missing labels become ``-1``; ``y_test`` without ``x_test`` is an error.

    Without ``x_test`` the rows are split by ``seed`` / ``test_fraction`` exactly as for
    ``digits``. Rows are flattened in C order after the layout rules below.

    Layout (``image_shape``, what the VAE gets): (N, D) is tabular, ``image_shape = (D,)``
    and the model is an MLP over D features (150 rows and 4 features are enough);
    (N, H, W) are grey images (MLP); (N, H, W, 3) channels-last colour images are transposed
    to channels-first (3, H, W) for the conv net (which needs square sides divisible by 8),
    and a note says so in ``Dataset.notes``; (N, H, W, 1) and (N, 1, H, W) are squeezed to
    (H, W). (N, 3, H, W) is already channels-first; an ambiguous (N, 3, H, 3) is read as
    channels-first with a note.

    Expected range and ``scaling``: the default Bernoulli decoder models values in [0, 1]
    (pixel intensities). Values must be finite.

    - ``"max"`` (default, the behaviour of earlier versions, so old runs reproduce): if the
      largest value over train and test exceeds 1, every value is divided by it (one common
      factor: 0..255 images map to 0..1); data in [0, 1] are kept as they are; negative
      values are an error. Warns when most features end up near 0 (features on very
      different scales: use ``"minmax"``).
    - ``"minmax"``: per feature, (x - min) / (max - min) with min and max of the training
      split; test values beyond the training range are clipped to [0, 1] (the count is
      recorded). Constant features become 0. The choice for tabular data.
    - ``"standardize"``: per feature, (x - mean) / std with training mean and std (ddof 0);
      constant features become 0. Not in [0, 1]: for a Gaussian decoder.
    - ``"none"``: values as stored.

    Any scaling whose result leaves [0, 1] warns (``UserWarning``) that the Bernoulli decoder
    expects [0, 1]. ``Dataset.scaling`` records the mode and its statistics (per-feature
    arrays as lists), ``range`` the final [min, max]. Files are read by
    :func:`empirical.io.read_array_file`: pickled object arrays are never loaded, and every
    corrupt file is a one-line ``ValueError`` naming it.
    """

    _check_split_args(test_fraction, None)
    _check_scaling(scaling)
    p = Path(path).expanduser()
    suffix = p.suffix.lower()
    if suffix not in (".npy", ".npz"):
        raise ValueError(f"{p}: user arrays must be .npy or .npz, got {suffix!r}")
    if not p.exists():
        raise FileNotFoundError(f"user array file not found: {p} (expected an existing .npy or .npz file)")
    loaded = read_array_file(p, "data set")
    y = y_test = x_test = None
    if isinstance(loaded, dict):
        keys = set(loaded)
        if "x" not in keys:
            raise ValueError(f"{p}: .npz must contain key 'x' (optional 'y', 'x_test', 'y_test'); has {sorted(keys)}")
        x, y, x_test, y_test = loaded["x"], loaded.get("y"), loaded.get("x_test"), loaded.get("y_test")
    else:
        x = loaded

    x = _check_user_x(x, p, "x")
    y = _check_user_y(y, x.shape[0], p, "y") if y is not None else np.full(x.shape[0], -1, np.int64)
    if x_test is None and y_test is not None:
        raise ValueError(f"{p}: 'y_test' given without 'x_test'")
    image_shape, axes, notes = _row_layout(tuple(int(s) for s in x.shape[1:]), p)
    if x_test is not None:
        x_test = _check_user_x(x_test, p, "x_test")
        if x_test.shape[1:] != x.shape[1:]:
            raise ValueError(f"{p}: x_test rows have shape {x_test.shape[1:]}, x rows have {x.shape[1:]}")
        y_test = (
            _check_user_y(y_test, x_test.shape[0], p, "y_test")
            if y_test is not None
            else np.full(x_test.shape[0], -1, np.int64)
        )
        x_tr, y_tr, x_te, y_te = x, y, x_test, y_test
    else:
        x_tr, x_te, y_tr, y_te = _split(x, y, seed, test_fraction)

    if axes is not None:  # channels-last rows -> channels-first
        x_tr = np.transpose(x_tr, (0, *(a + 1 for a in axes)))
        x_te = np.transpose(x_te, (0, *(a + 1 for a in axes)))
    x_tr = x_tr.reshape(x_tr.shape[0], -1)
    x_te = x_te.reshape(x_te.shape[0], -1)
    x_tr, x_te, info = _scale(x_tr, x_te, scaling, str(p))
    for note in notes:  # ambiguous layouts are worth a warning; the others are only recorded
        if "not recognised" in note or "both sides" in note:
            warnings.warn(note, UserWarning, stacklevel=2)
    return Dataset(
        name=p.stem,
        x_train=np.ascontiguousarray(x_tr, dtype=np.float32),
        y_train=np.ascontiguousarray(y_tr, dtype=np.int64),
        x_test=np.ascontiguousarray(x_te, dtype=np.float32),
        y_test=np.ascontiguousarray(y_te, dtype=np.int64),
        image_shape=image_shape,
        source=str(p),
        scaling=_jsonable_scaling(info),
        notes=tuple(notes),
    )


def _jsonable_scaling(info: dict) -> dict:
    return {k: (v.astype(float).tolist() if isinstance(v, np.ndarray) else v) for k, v in info.items()}


# --------------------------------------------------------------------------------------------
# Tiny-ImageNet-200 (standard layout, JPEG files read with Pillow)
# --------------------------------------------------------------------------------------------

# Layout of http://cs231n.stanford.edu/tiny-imagenet-200.zip (Le & Yang 2015, CS231N):
#   tiny-imagenet-200/wnids.txt                       200 WordNet ids, one a line
#   tiny-imagenet-200/train/<wnid>/images/*.JPEG      500 64x64 images per class
#   tiny-imagenet-200/val/images/*.JPEG               10,000 images
#   tiny-imagenet-200/val/val_annotations.txt         "<file>\t<wnid>\t<x0>\t<y0>\t<x1>\t<y1>"
# The test/ folder has no labels and is not used: the validation set is our test split.
_TINY_FOLDER = "tiny-imagenet-200"


def _tiny_candidate_dirs(root: str | os.PathLike | None) -> list[Path]:
    if root is not None:
        bases = [_explicit_root(root)]
    elif (env_root := _env_root()) is not None:
        bases = [env_root]
    else:
        bases = []
    return _dedup([d for b in bases for d in (b / _TINY_FOLDER, b)])


def _read_jpeg(path: Path, size: int) -> np.ndarray:
    """One image as uint8 (3, size, size): RGB, channels-first.

    Downsampling 64 -> 32 uses Pillow's BOX filter: each output pixel is the mean of a 2x2
    block (exact area averaging for an integer factor, no aliasing from skipped pixels).
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            if im.size != (64, 64):
                raise ValueError(f"{path}: Tiny-ImageNet images are 64x64, this one is {im.size[0]}x{im.size[1]}")
            rgb = im.convert("RGB")  # a few Tiny-ImageNet JPEGs are greyscale
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ValueError(f"{path}: not a readable JPEG image ({type(exc).__name__}: {exc})") from None
    if size != 64:
        rgb = rgb.resize((size, size), Image.Resampling.BOX)
    return np.asarray(rgb, dtype=np.uint8).transpose(2, 0, 1)


def load_tiny_imagenet(root: str | os.PathLike | None = None, *, size: int = 64,
                       limit: int | None = None) -> Dataset:
    """Tiny-ImageNet-200 from its standard layout: train (100,000 rows) and val (10,000) as test.

    Rows are channels-first float32 RGB in [0, 1] (uint8 / 255), ``image_shape`` (3, 64, 64),
    or (3, 32, 32) with ``size=32`` (2x2 box average) so the conv VAE and memory stay as for
    CIFAR (64x64: 100,000 x 12,288 float32 = 4.9 GB; 32x32: 1.2 GB). Labels are the line
    index of the wnid in ``wnids.txt``. Training rows are interleaved over classes (image 0
    of every class, then image 1, ...; file names sorted), so ``limit`` keeps every class;
    test rows follow ``val_annotations.txt``. ``limit`` reads only the rows kept.

    Searched: ``root`` (or ``root/tiny-imagenet-200``) only when given; else ``$WITNESS_DATA``
    likewise. Never downloads; a missing folder is a ``FileNotFoundError`` saying where to put it.
    """
    if size not in (32, 64):
        raise ValueError(f"size must be 64 (native) or 32 (2x2 box-downsampled), got {size!r}")
    if limit is not None and (isinstance(limit, bool) or int(limit) != limit or limit < 1):
        raise ValueError(f"limit must be a positive integer or None, got {limit!r}")
    candidates = _tiny_candidate_dirs(root)
    directory = next((d for d in candidates if (d / "wnids.txt").is_file() and (d / "train").is_dir()
                      and (d / "val" / "val_annotations.txt").is_file()), None)
    if directory is None:
        where = ", ".join(str(d) for d in candidates) or f"nowhere (pass root=... or set ${DATA_ENV_VAR})"
        raise FileNotFoundError(
            f"Tiny-ImageNet-200 not found; searched {where}. Put the extracted folder {_TINY_FOLDER}/ "
            f"(wnids.txt, train/<wnid>/images/*.JPEG, val/images/*.JPEG, val/val_annotations.txt) in a "
            f"directory DIR and pass root=DIR (--root DIR) or set {DATA_ENV_VAR}=DIR. To get it: download "
            "http://cs231n.stanford.edu/tiny-imagenet-200.zip on a machine with internet and unzip it into DIR. "
            "This loader never downloads anything."
        )
    wnids = [w.strip() for w in read_text(directory / "wnids.txt", "Tiny-ImageNet").splitlines() if w.strip()]
    if not wnids or len(set(wnids)) != len(wnids):
        raise ValueError(f"{directory / 'wnids.txt'}: expected distinct WordNet ids, one a line; got {len(wnids)} "
                         f"lines with {len(set(wnids))} distinct")
    label = {w: i for i, w in enumerate(wnids)}
    per_class = []
    for w in wnids:
        folder = directory / "train" / w / "images"
        files = sorted(folder.glob("*.JPEG")) if folder.is_dir() else []
        if not files:
            raise ValueError(f"{folder}: no *.JPEG training images for wnid {w} (listed in wnids.txt)")
        per_class.append(files)
    train = []  # (path, label), interleaved over classes
    for j in range(max(len(f) for f in per_class)):
        train += [(files[j], c) for c, files in enumerate(per_class) if j < len(files)]
    test = []
    ann = directory / "val" / "val_annotations.txt"
    for n, line in enumerate(read_text(ann, "Tiny-ImageNet").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) < 2 or parts[1] not in label:
            raise ValueError(f"{ann}, line {n}: expected '<file>\\t<wnid>\\t...' with a wnid from wnids.txt, "
                             f"got {line[:80]!r}")
        test.append((directory / "val" / "images" / parts[0], label[parts[1]]))
    if limit is not None:
        train, test = train[:int(limit)], test[:int(limit)]

    def read(rows):
        x = np.empty((len(rows), 3 * size * size), np.float32)
        for i, (path, _) in enumerate(rows):
            x[i] = _read_jpeg(path, size).reshape(-1)
        x /= np.float32(255.0)
        return x, np.array([c for _, c in rows], dtype=np.int64)

    x_tr, y_tr = read(train)
    x_te, y_te = read(test)
    return Dataset(
        name=TINY_IMAGENET if size == 64 else TINY_IMAGENET_32,
        x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te,
        image_shape=(3, size, size), source=str(directory),
        scaling={"mode": "fixed", "divisor": 255.0, "note": "uint8 pixels divided by 255"
                 + ("; 64x64 box-downsampled to 32x32" if size == 32 else "")},
    )


#: The readers the registry's entries name by kind: (name, root, *, seed, test_fraction, limit) -> Dataset.
#: The registry knows the data sets; this module knows how to read each kind of file.
LOADERS: dict[str, Callable] = {
    "digits": lambda name, root, *, seed, test_fraction, limit=None: _load_digits(seed=seed, test_fraction=test_fraction),
    "mnist-like": lambda name, root, *, seed, test_fraction, limit=None: _load_mnist_like(name, root),
    "cifar": lambda name, root, *, seed, test_fraction, limit=None: _load_cifar(name, root),
    # reads only the rows it keeps (the full set is ~4.9 GB in float32)
    "tiny-imagenet": lambda name, root, *, seed, test_fraction, limit=None: load_tiny_imagenet(
        root, size=32 if name.endswith("32") else 64, limit=limit),
}
