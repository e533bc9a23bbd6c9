"""Safe reading of array files (.npy, .npz, .csv) given on a command line.

:func:`load_array` never hangs, never allocates more than the file can hold and never
unpickles: every problem is a ValueError whose message starts with the file's role and path,
e.g. ``teacher file /x/T.npy: truncated .npy (header says 1797x15 float64 = 215,640 bytes,
file has 100 data bytes)``.

- Only regular files are opened (``os.stat`` first): a named pipe, device or directory is
  refused without opening it, so a FIFO cannot block the reader.
- A .npy header is read and checked against the file size before any array is allocated,
  so a corrupt header that claims a huge shape is an error, not a MemoryError.
- Arrays of Python objects are refused (reading them would unpickle untrusted data).
"""
from __future__ import annotations

import math
import os
import stat
import zipfile
import zlib
from pathlib import Path

import numpy as np
from numpy.lib import format as npformat

__all__ = ["MAX_BYTES", "load_array", "check_regular_file"]

# Largest array a command line reads: 4 GiB of data. Larger inputs are refused before any
# allocation (the data sets here are at most a few hundred MB: 70,000 x 100 float64 = 56 MB).
MAX_BYTES = 4 * 2 ** 30

_NUMERIC_KINDS = "biuf"      # bool, signed, unsigned, float


class _Refused(ValueError):
    """A problem with the file's content; load_array prefixes role and path."""


def _fmt_shape(shape) -> str:
    return "x".join(map(str, shape)) if shape else "scalar"


def _check_header(shape, fortran, dtype, data_bytes: int, numeric: bool, what: str, max_bytes: int) -> None:
    dtype = np.dtype(dtype)
    if dtype.hasobject:
        raise _Refused(f"{what} holds Python objects (dtype {dtype}), which are not read for safety; "
                       "save a numeric array instead, e.g. np.save(path, np.asarray(x, dtype=float))")
    if dtype.names is not None:
        raise _Refused(f"{what} holds a structured array (fields {list(dtype.names)}); save a plain numeric array")
    if dtype.kind == "c":
        raise _Refused(f"{what} holds complex numbers (dtype {dtype}); only real arrays are accepted")
    allowed = _NUMERIC_KINDS if numeric else _NUMERIC_KINDS + "US"
    if dtype.kind not in allowed:
        raise _Refused(f"{what} holds {dtype} data, not numbers; save a numeric array")
    need = math.prod(shape) * dtype.itemsize     # Python ints: no overflow for any header
    desc = f"{_fmt_shape(shape)} {dtype.name}"
    if need > max_bytes:
        raise _Refused(f"{what} header says {desc} = {need:,} bytes, over the limit of {max_bytes:,} bytes")
    if need > data_bytes:
        raise _Refused(f"truncated {what} (header says {desc} = {need:,} bytes, file has {data_bytes:,} data bytes)")
    if need < data_bytes:
        raise _Refused(f"corrupt {what} (header says {desc} = {need:,} bytes, but there are {data_bytes:,} data bytes)")


def _read_npy_header(fp, what: str):
    try:
        version = npformat.read_magic(fp)
    except (ValueError, EOFError, OSError):
        raise _Refused(f"not a {what} file (its first bytes are not the .npy magic string)") from None
    try:
        if version == (1, 0):
            return npformat.read_array_header_1_0(fp, max_header_size=2 ** 20)
        if version == (2, 0):
            return npformat.read_array_header_2_0(fp, max_header_size=2 ** 20)
        raise _Refused(f"{what} format version {version[0]}.{version[1]} is not supported (1.0 and 2.0 are)")
    except _Refused:
        raise
    except Exception as exc:  # noqa: BLE001  the header is untrusted text: any parse failure (ValueError,
        # SyntaxError, tokenize.TokenError, ...) means a corrupt header
        raise _Refused(f"corrupt {what} header ({type(exc).__name__}: {_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def _read_npy(path: Path, size: int, numeric: bool, max_bytes: int) -> np.ndarray:
    with open(path, "rb") as fp:
        shape, fortran, dtype = _read_npy_header(fp, ".npy")
        _check_header(shape, fortran, dtype, size - fp.tell(), numeric, ".npy", max_bytes)
        fp.seek(0)
        return npformat.read_array(fp, allow_pickle=False)


def _read_npz(path: Path, numeric: bool, max_bytes: int, key: str | None, prefer: tuple[str, ...]) -> np.ndarray:
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, EOFError, ValueError):
        raise _Refused("not a valid .npz (corrupt or truncated zip archive)") from None
    with zf:
        members = {name[:-4]: name for name in zf.namelist() if name.endswith(".npy")}
        if not members:
            raise _Refused("the .npz holds no arrays")
        names = list(members)
        if key is not None:
            if key not in members:
                raise _Refused(f"has no array {key!r}; it has {names} (choose one with --key)")
            chosen = key
        else:
            found = [k for k in prefer if k in members]
            if found:
                chosen = found[0]
            elif len(names) == 1:
                chosen = names[0]
            else:
                raise _Refused(f"holds several arrays {names}; name one with --key")
        info = zf.getinfo(members[chosen])
        what = f".npz member {chosen!r}"
        if info.file_size > max_bytes + 2 ** 20:
            raise _Refused(f"{what} is {info.file_size:,} bytes uncompressed, over the limit of {max_bytes:,} bytes")
        with zf.open(info) as fp:
            shape, fortran, dtype = _read_npy_header(fp, what)
            _check_header(shape, fortran, dtype, info.file_size - fp.tell(), numeric, what, max_bytes)
        with zf.open(info) as fp:
            return npformat.read_array(fp, allow_pickle=False)


def _read_text(path: Path, suffix: str, ndmin: int) -> np.ndarray:
    try:
        with open(path, "rb") as fp:
            head = fp.read(65536)
        if b"\x00" in head:
            raise _Refused(f"is not a text {suffix} file (it contains NUL bytes)")
        return np.loadtxt(str(path), delimiter="," if suffix == ".csv" else None, ndmin=ndmin,  # type: ignore[call-overload]
                          dtype=np.float64)  # ndmin is an int the caller checked (1 or 2); the stubs want a Literal
    except _Refused:
        raise
    except (ValueError, UnicodeDecodeError) as exc:
        raise _Refused(f"could not be parsed as numbers ({_first_line(exc)})") from None


def _file_kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def check_regular_file(path, role: str) -> os.stat_result:
    """``os.stat`` of ``path`` if it is a regular file (symlinks followed), else an error.

    The one gate every file the package reads passes first: ``os.stat`` never opens the
    file, so a named pipe cannot block the reader and a directory or device never reaches a
    parser. A missing file is ``FileNotFoundError``; anything else (a directory, pipe,
    socket, device, an unreadable parent, a NUL byte in the path) is ``ValueError``; both
    read ``"<role> file <path>: <reason>; <fix>"``.
    """
    text = os.fspath(path) if isinstance(path, (str, os.PathLike)) else None
    if text is None:
        raise TypeError(f"{role} file path must be a str or os.PathLike, got {type(path).__name__}")
    if "\0" in str(text):
        raise ValueError(f"{role} file {str(text)!r}: the path contains a NUL byte")
    prefix = f"{role} file {text}"
    try:
        st = os.stat(text)
    except FileNotFoundError:
        raise FileNotFoundError(f"{prefix}: does not exist") from None
    except NotADirectoryError:
        raise FileNotFoundError(f"{prefix}: does not exist (a parent is not a directory)") from None
    except PermissionError:
        raise ValueError(f"{prefix}: cannot be read (permission denied)") from None
    except OSError as exc:
        raise ValueError(f"{prefix}: cannot be read ({exc.strerror or type(exc).__name__})") from None
    if not stat.S_ISREG(st.st_mode):
        what = ("is a directory, not a regular file" if stat.S_ISDIR(st.st_mode)
                else f"is not a regular file ({_file_kind(st.st_mode)})")
        raise ValueError(f"{prefix}: {what}; pass a file on disk")
    return st


def load_array(path, role: str, *, allowed=(".npy", ".npz", ".csv"), max_bytes: int = MAX_BYTES,
               key: str | None = None, prefer: tuple[str, ...] = (), numeric: bool = True,
               ndmin: int = 1) -> np.ndarray:
    """Read one array from ``path``; every problem is a ValueError "``role`` file ``path``: ...".

    ``allowed`` lists the accepted suffixes (.npy, .npz, .csv, .txt). For .npz, the array is
    ``key`` if given, else the first of ``prefer`` present, else the only array. ``numeric``
    refuses anything but bool/int/float data (labels may set it False to admit text).
    ``ndmin`` is the least number of dimensions of an array read from text.
    """
    if not isinstance(role, str):
        raise TypeError(f"role must be a string naming what the file holds, got {type(role).__name__}")
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{role} file path must be a str or os.PathLike, got {type(path).__name__}")
    path = Path(path)
    if "\0" in str(path):
        raise ValueError(f"{role} file {str(path)!r}: the path contains a NUL byte")
    prefix = f"{role} file {path}"
    try:
        st = check_regular_file(path, role)
    except FileNotFoundError as exc:   # already "role file path: reason"; load_array raises ValueError only
        raise ValueError(str(exc)) from None
    try:
        suffix = path.suffix.lower()
        if suffix not in allowed:
            raise _Refused(f"must be {', '.join(allowed)}, got {suffix or 'no suffix'!r}")
        if st.st_size == 0:
            raise _Refused("is empty (0 bytes)")
        if st.st_size > max_bytes + 2 ** 20:
            raise _Refused(f"is {st.st_size:,} bytes, over the limit of {max_bytes:,} bytes")
        try:
            if suffix == ".npy":
                return _read_npy(path, st.st_size, numeric, max_bytes)
            if suffix == ".npz":
                return _read_npz(path, numeric, max_bytes, key, prefer)
            return _read_text(path, suffix, ndmin)
        except _Refused:
            raise
        except PermissionError:
            raise _Refused("cannot be read (permission denied)") from None
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise _Refused(f"is corrupt or truncated ({_first_line(exc)})") from None
        except (ValueError, OSError, UnicodeDecodeError) as exc:
            raise _Refused(f"could not be read ({_first_line(exc)})") from None
        except MemoryError:
            raise _Refused("is too large to read into memory") from None
    except _Refused as exc:
        raise ValueError(f"{prefix}: {exc}") from None
