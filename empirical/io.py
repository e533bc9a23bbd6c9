"""Run bookkeeping shared by every experiment: atomic files, JSON lines, run metadata,
safe reading of user array files, seed lists and run names.

A crash mid-run must lose nothing already written, so every result file is written to a
temporary file in the same directory and moved into place with ``os.replace`` (atomic on
POSIX). JSON-lines logs are appended line by line and flushed, so a killed run keeps every
complete line.

Temporary files and permissions. The temporary file of a target ``DIR/NAME`` is
``DIR/.NAME.<pid>.<8 random chars>.tmp`` (``tempfile.mkstemp``; ``<pid>`` is the writing
process). A run killed between creating and renaming it leaves that file behind; the next
atomic write of the same target deletes every such orphan whose process is no longer running
(or, whatever the pid, that is older than :data:`ORPHAN_MAX_AGE_S`), and also the
pid-less ``.NAME.<8 chars>.tmp`` files of older versions of this module once they are older
than :data:`LEGACY_ORPHAN_AGE_S`. ``mkstemp`` creates files with mode 0600; the finished
file gets ``0666 & ~umask`` instead, as ``open()`` would give it, so results are readable by
whoever the user's umask lets read them.

User array files (``.npy``/``.npz``: data sets, codes, teachers) are read only through
:func:`read_array_file`, which checks the file before NumPy touches it, so that every
broken file is one ``ValueError`` naming the file, its role and the problem.

Integrity. The files this package writes and later trusts (teacher files, codes files) are
written by :func:`atomic_save_verified_npz`, which records a SHA-256 of every array in the
archive (member :data:`CONTENT_KEY`); :func:`verify_content` recomputes them on load, so a
file changed after it was written (one row of ``T_test`` swapped, a flipped bit) is an error
naming the file and the array, not a silently different certificate. Files written before the
hash existed are still read, with an :class:`UnverifiedFileWarning` saying so.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import platform
import re
import stat
import sys
import tempfile
import threading
import time
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, cast

import numpy as np

from witness_theory.io import check_regular_file

__all__ = [
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_json",
    "atomic_save_npz",
    "atomic_save_verified_npz",
    "verify_content",
    "array_digest",
    "CONTENT_KEY",
    "scalar_field",
    "UnverifiedFileWarning",
    "append_jsonl",
    "read_jsonl",
    "to_jsonable",
    "library_versions",
    "read_array_file",
    "parse_seeds",
    "run_name",
    "clean_orphaned_temp_files",
    "check_output_path",
]


def to_jsonable(obj: Any) -> Any:
    """Convert NumPy / torch scalars and arrays, dataclasses and paths to plain JSON types.

    Non-finite floats become the strings "nan", "inf", "-inf" so the file stays valid JSON.
    """
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(dataclasses.asdict(obj))
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "detach") and hasattr(obj, "cpu"):  # torch tensor, without importing torch
        obj = obj.detach().cpu().numpy()
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        x = float(obj)
        if math.isnan(x):
            return "nan"
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        return x
    return obj


#: An orphaned temporary file older than this is removed even if its pid is alive (pid reuse).
ORPHAN_MAX_AGE_S = 24 * 3600.0
#: Pid-less temporary files (written by older versions of this module) are removed after this.
LEGACY_ORPHAN_AGE_S = 600.0

_umask_lock = threading.Lock()


def _current_umask() -> int:
    # Linux >= 4.7 reports it without changing it; elsewhere os.umask can only be read by
    # setting it, and the lock keeps two threads of this module from interleaving set/restore.
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _umask_lock:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def _pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return False
    return True


def clean_orphaned_temp_files(path: str | os.PathLike) -> list[Path]:
    """Remove temporary files that killed atomic writes of ``path`` left behind.

    Recognised names (see the module docstring): ``.NAME.<pid>.<8 chars>.tmp`` whose process
    is gone or that is older than :data:`ORPHAN_MAX_AGE_S`, and legacy ``.NAME.<8 chars>.tmp``
    older than :data:`LEGACY_ORPHAN_AGE_S`. Returns the removed paths; never raises for a file
    that vanished meanwhile (another writer cleaned it).
    """
    path = Path(path)
    if not path.parent.is_dir():
        return []
    pattern = re.compile(r"^\." + re.escape(path.name) + r"\.(?:(\d+)\.)?[a-z0-9_]{8}\.tmp$")
    removed = []
    now = time.time()
    for entry in os.scandir(path.parent):
        m = pattern.match(entry.name)
        if m is None:
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue
        if not stat.S_ISREG(st.st_mode):
            continue
        age = now - st.st_mtime
        pid = m.group(1)
        if pid is None:
            stale = age > LEGACY_ORPHAN_AGE_S
        else:
            stale = age > ORPHAN_MAX_AGE_S or (int(pid) != os.getpid() and not _pid_running(int(pid)))
        if stale:
            try:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
            except FileNotFoundError:
                pass
    return removed


def check_output_path(path: str | os.PathLike, role: str = "output") -> Path:
    """``path`` if a file can be written there, else a ``ValueError`` naming it and the fix:
    the path is an existing directory (or other non-regular file), or one of its parents
    exists but is not a directory (``--out results.json/x.json`` under a file)."""
    path = Path(path)
    label = f"{role} file {str(path)!r}"
    if path.is_dir():
        raise ValueError(f"{label} is a directory; pass a file name (e.g. {str(path / 'result.json')!r})")
    if path.exists() and not path.is_file():
        raise ValueError(f"{label} exists and is not a regular file; pass another file name")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"{label} cannot be created: {str(parent)!r} is a file, not a directory; "
                                 "pass a path in a directory")
            break
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file in the same directory + os.replace).

    The file gets mode ``0666 & ~umask``; orphaned temp files of ``path`` from killed runs
    are removed first (:func:`clean_orphaned_temp_files`). A path that is a directory or lies
    under a file is a ``ValueError`` naming it (:func:`check_output_path`).
    """
    path = check_output_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_orphaned_temp_files(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fchmod(fh.fileno(), 0o666 & ~_current_umask())  # mkstemp made it 0600
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(to_jsonable(obj), indent=2, sort_keys=False) + "\n")


def atomic_save_npz(path: str | os.PathLike, **arrays: np.ndarray) -> Path:
    """``np.savez`` made atomic: a reader never sees a half-written archive."""
    import io

    buf = io.BytesIO()
    # the stubs type ``**kwds`` against savez's ``allow_pickle: bool`` too; every value is an array
    np.savez(buf, **cast("dict[str, Any]", arrays))
    return atomic_write_bytes(path, buf.getvalue())


#: The .npz member holding the per-array SHA-256 digests (a JSON object {array name: hex digest}).
CONTENT_KEY = "content_sha256"


class UnverifiedFileWarning(UserWarning):
    """A file written before content hashes existed: read, but its arrays cannot be verified."""


def array_digest(name: str, array) -> str:
    """SHA-256 (hex) of one named array: its name, dtype (with byte order), shape and C-order bytes."""
    import hashlib

    a = np.ascontiguousarray(np.asarray(array))
    h = hashlib.sha256(f"{name}|{a.dtype.str}|{a.shape}|".encode())
    h.update(a.tobytes())
    return h.hexdigest()


def atomic_save_verified_npz(path: str | os.PathLike, **arrays: np.ndarray) -> Path:
    """:func:`atomic_save_npz` plus member :data:`CONTENT_KEY`: the SHA-256 of every array
    (:func:`array_digest`), checked by :func:`verify_content` when the file is read back."""
    if CONTENT_KEY in arrays:
        raise ValueError(f"{CONTENT_KEY!r} is reserved for the content hash; rename that array")
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    digests = {k: array_digest(k, v) for k, v in arrays.items()}
    return atomic_save_npz(path, **arrays, **{CONTENT_KEY: np.array(json.dumps(digests, sort_keys=True))})


def verify_content(data: dict[str, np.ndarray], label: str, *, warn: bool = True) -> bool:
    """Check the arrays of a file read by :func:`read_array_file` against its recorded digests.

    Returns True when the file records a content hash and every array matches it; False (and an
    :class:`UnverifiedFileWarning` when ``warn``) when it records none (an older file). Raises a
    ``ValueError`` starting with ``label`` (e.g. ``teacher file 'x.npz'``) and naming the array
    when an array differs from its digest, is missing, or was added after the file was written.
    Removes :data:`CONTENT_KEY` from ``data``.
    """
    raw = data.pop(CONTENT_KEY, None)
    if raw is None:
        if warn:
            import warnings

            warnings.warn(f"{label} has no content hash (written by an older version): its arrays cannot be "
                          "verified against tampering or corruption; write it again to add one",
                          UnverifiedFileWarning, stacklevel=3)
        return False
    try:
        if np.asarray(raw).ndim != 0:
            raise ValueError("not a scalar")
        digests = json.loads(str(raw))
        if not isinstance(digests, dict) or not all(isinstance(v, str) for v in digests.values()):
            raise ValueError("not an object of hex digests")
    except ValueError as exc:
        raise ValueError(f"{label}: its content hash ({CONTENT_KEY}) is unreadable ({exc}); the file is corrupt: "
                         "write it again") from None
    missing = sorted(set(digests) - set(data))
    if missing:
        raise ValueError(f"{label}: array {missing[0]!r} recorded in its content hash is missing: the file was "
                         "modified after it was written; write it again")
    added = sorted(set(data) - set(digests))
    if added:
        raise ValueError(f"{label}: array {added[0]!r} is not covered by its content hash (added after the file "
                         "was written); write the file again")
    for name in sorted(digests):
        if array_digest(name, data[name]) != digests[name]:
            raise ValueError(f"{label}: array {name!r} does not match its recorded SHA-256: the file was modified "
                             "or corrupted after it was written; write it again")
    return True


_SCALAR_KINDS = {"integer": "iu", "real": "iuf", "bool": "biu", "text": "U"}


def scalar_field(data: dict[str, np.ndarray], key: str, label: str, kind: str):
    """The scalar ``data[key]`` of a file's arrays as a Python int/float/bool/str, or a
    ``ValueError`` starting with ``label`` naming the array when it is not one scalar of ``kind``
    (integer, real, bool, text): a (2,)-shaped ``format_version`` is an error, not a traceback."""
    a = np.asarray(data[key])
    if a.ndim != 0 or a.dtype.kind not in _SCALAR_KINDS[kind]:
        raise ValueError(f"{label}: array {key!r} must be one {kind} scalar, got {a.dtype} shape {a.shape}; "
                         "write the file again")
    v = a.item()
    if kind == "integer":
        return int(v)
    if kind == "real":
        if not math.isfinite(float(v)):
            raise ValueError(f"{label}: array {key!r} must be a finite number, got {v}; write the file again")
        return float(v)
    if kind == "bool":
        if v not in (0, 1, True, False):
            raise ValueError(f"{label}: array {key!r} must be a bool, got {v}; write the file again")
        return bool(v)
    return str(v)


def append_jsonl(path: str | os.PathLike, record: dict) -> None:
    """Append one JSON line and flush it: a killed run keeps every complete line."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(to_jsonable(record)) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


class UnreadableContentError(ValueError):
    """A regular file whose bytes are not what its reader expects (not UTF-8, not valid JSON)."""


def read_text(path: str | os.PathLike, role: str) -> str:
    """The text of ``path`` (UTF-8) after the package's regular-file gate
    (``witness_theory.io.check_regular_file``: a named pipe is never opened, a directory never
    read); an undecodable file is a ``ValueError`` naming the file and ``role``."""
    check_regular_file(path, role)
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise UnreadableContentError(f"{role} file {os.fspath(path)}: not UTF-8 text ({exc.reason} at byte {exc.start}); "
                         "write the file again") from None
    except OSError as exc:
        raise ValueError(f"{role} file {os.fspath(path)}: cannot be read ({exc.strerror or exc})") from None


def read_json(path: str | os.PathLike, role: str):
    """The JSON value in ``path``, through :func:`read_text`'s gate; invalid JSON is a
    ``ValueError`` naming the file, ``role`` and the line."""
    text = read_text(path, role)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UnreadableContentError(f"{role} file {os.fspath(path)}: not valid JSON ({exc.msg}, line {exc.lineno}); "
                         "write it again (or rerun the step that wrote it)") from None


def read_jsonl(path: str | os.PathLike, role: str = "JSON-lines") -> list[dict]:
    """Read a JSON-lines file, ignoring a trailing partial line left by a crash."""
    check_regular_file(path, role)
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                break
    return out


def library_versions(extra: Iterable[str] = ()) -> dict[str, str]:
    """Versions of Python and the libraries a run depends on (written with every run)."""
    from importlib import metadata

    names = ["witness-theory", "numpy", "scipy", "scikit-learn", "torch", "torchvision",
             "sympy", "hypothesis", "matplotlib", "tqdm", *extra]
    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


#: The package's code, whose uncommitted changes make a recorded commit not the code that ran
#: (results directories are left out: a run writes them, and overwrites committed ones).
CODE_PATHS = ("witness_theory", "empirical", "pyproject.toml")


def code_commit(root: str | Path | None = None) -> dict[str, Any]:
    """The git commit of the checkout this package runs from (or of ``root``, a checkout holding
    the same layout): ``{"commit": sha, "dirty": bool}``, ``dirty`` when a tracked file of
    :data:`CODE_PATHS` differs from that commit; ``{"commit": None, "dirty": None}`` where the
    package is not the top of a git checkout (an installed wheel) or git cannot be run. Recorded
    with every result (``provenance``) and named in its README.

    The package's own answer is taken once per process, at the first call (the command line makes
    it when a command starts): a commit made while a long run goes on does not change what the run
    records as the code it ran."""
    if root is None:
        return dict(_own_commit())
    return _git_commit(Path(root).resolve())


@functools.lru_cache(maxsize=1)
def _own_commit() -> dict[str, Any]:
    return _git_commit(Path(__file__).resolve().parents[1])


def _git_commit(root: Path) -> dict[str, Any]:
    import subprocess

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30,
                              check=True).stdout.strip()

    try:
        if Path(git("rev-parse", "--show-toplevel")).resolve() != root:   # inside some other repository
            return {"commit": None, "dirty": None}
        sha = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no", "--", *CODE_PATHS))
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": sha, "dirty": dirty}


def machine() -> dict[str, Any]:
    """What ran it: the CPU model (``/proc/cpuinfo``, else ``platform.processor()``), logical cores,
    architecture, and the CUDA device where torch is loaded and sees one."""
    cpu = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            cpu = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), "")
    except OSError:
        pass
    out: dict[str, Any] = {"cpu": cpu or platform.processor() or "unknown CPU", "cores": os.cpu_count(),
                           "arch": platform.machine()}
    torch = sys.modules.get("torch")      # not imported here: only a run that loaded torch can use a GPU
    if torch is not None and torch.cuda.is_available():
        out["gpu"] = torch.cuda.get_device_name(0)
    return out


def commit_phrase(sha: str, dirty: bool | None) -> str:
    """The phrase "commit <12 hex digits>", plus " with uncommitted changes to the code" where ``dirty``
    (the README sentence of :func:`recorded_line` and the trials' commits of a results README)."""
    return f"commit {sha[:12]}" + (" with uncommitted changes to the code" if dirty else "")


def recorded_line(commit: dict[str, Any] | None = None, where: dict[str, Any] | None = None) -> str:
    """One sentence for a results README: when (UTC), at which commit, on which machine."""
    commit = code_commit() if commit is None else commit
    where = machine() if where is None else where
    sha = commit.get("commit")
    at = f"at {commit_phrase(sha, commit.get('dirty'))}" if sha else "outside a git checkout (commit unknown)"
    gpu = f", GPU {where['gpu']}" if where.get("gpu") else ""
    return (f"Recorded {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} {at}, on {where['cpu']} "
            f"({where['cores']} logical cores, {where['arch']}{gpu}).")


# ---------------------------------------------------------------------------------------
# Safe reading of user array files
# ---------------------------------------------------------------------------------------

_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header, or an empty archive


def _npy_header(fh, where: str, size: int) -> tuple[tuple, np.dtype, int]:
    """(shape, dtype, header length) of an .npy stream, validated against ``size`` bytes.

    Reading the header first (numpy.lib.format, the .npy format spec NEP 1) lets a shape that
    the payload cannot hold be refused before NumPy tries to allocate it (a corrupt header
    claiming 10^12 rows would otherwise raise MemoryError or hang on a huge allocation).
    """
    from numpy.lib import format as npformat

    try:
        version = npformat.read_magic(fh)
        if version == (1, 0):
            shape, _fortran, dtype = npformat.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, _fortran, dtype = npformat.read_array_header_2_0(fh)
        else:  # 3.0 (utf-8 field names) has no public reader; np.load validates it below
            # a private reader that numpy's stubs do not declare
            shape, _fortran, dtype = npformat._read_array_header(fh, version)  # type: ignore[attr-defined]  # noqa: SLF001
    except (ValueError, EOFError, OSError, SyntaxError, TypeError, zlib.error, zipfile.BadZipFile) as exc:
        raise ValueError(f"{where}: corrupt .npy header ({type(exc).__name__}: {exc})") from None
    header_len = fh.tell()
    if dtype.hasobject:
        raise ValueError(f"{where}: holds Python objects (dtype {dtype}), which are never loaded; "
                         "save a numeric array (e.g. x.astype('float32')) instead")
    count = 1
    for s in shape:
        count *= int(s)
    need = count * dtype.itemsize
    have = size - header_len
    if need > have:
        raise ValueError(f"{where}: truncated or corrupt: header says shape {tuple(shape)} {dtype} "
                         f"({need} data bytes) but only {max(have, 0)} bytes follow; write the file again")
    return tuple(int(s) for s in shape), dtype, header_len


def read_array_file(path: str | os.PathLike, role: str) -> np.ndarray | dict[str, np.ndarray]:
    """Read a user ``.npy`` (returns the array) or ``.npz`` (returns ``{key: array}``) safely.

    ``role`` says what the file is for ("data set", "codes", "teacher", ...) and appears in
    every message. Checks, in order, each a one-line ``ValueError`` naming the file and role:
    not a regular file (a directory, device or named pipe: ``stat.S_ISREG`` is checked before
    the file is opened, so a FIFO can never block the run), empty, neither .npy nor zip magic
    bytes, a corrupt or truncated zip (``BadZipFile``, CRC errors), a corrupt .npy header,
    a header shape larger than the bytes that follow (no allocation is attempted), object
    (pickled) arrays, and anything NumPy still refuses. Pickles are never loaded. A missing
    file is ``FileNotFoundError`` naming the file and role.
    """

    p = Path(path).expanduser()
    label = f"{role} file {str(p)!r}"
    st = check_regular_file(p, role)   # the package's one gate: a FIFO is never opened
    if st.st_size == 0:
        raise ValueError(f"{label} is empty (0 bytes); write the file again")
    try:
        fh = open(p, "rb")
    except OSError as exc:
        raise ValueError(f"{label}: cannot be opened ({exc.strerror or exc})") from None
    with fh:
        head = fh.read(6)
        fh.seek(0)
        if head.startswith(_NPY_MAGIC):
            _npy_header(fh, label, st.st_size)
            fh.seek(0)
            try:
                return np.load(fh, allow_pickle=False)
            except (ValueError, OSError, EOFError, MemoryError) as exc:
                raise ValueError(f"{label}: unreadable .npy ({type(exc).__name__}: {exc})") from None
        if head[:4] not in _ZIP_MAGICS:
            raise ValueError(f"{label} is neither a .npy array nor a .npz archive (starts with {head!r}); "
                             "save it with numpy.save or numpy.savez")
        try:
            zf = zipfile.ZipFile(fh)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            raise ValueError(f"{label}: corrupt or truncated .npz archive ({exc}); write the file again") from None
        out: dict[str, np.ndarray] = {}
        with zf:
            for info in zf.infolist():
                key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
                where = f"{label}, member {key!r}"
                try:
                    with zf.open(info) as member:
                        _npy_header(member, where, info.file_size)
                    with zf.open(info) as member:
                        from numpy.lib import format as npformat

                        out[key] = npformat.read_array(member, allow_pickle=False)
                except ValueError as exc:
                    if str(exc).startswith(where):
                        raise
                    raise ValueError(f"{where}: unreadable ({exc})") from None
                except (zipfile.BadZipFile, OSError, EOFError, zlib.error, MemoryError, NotImplementedError) as exc:
                    raise ValueError(f"{where}: corrupt or truncated .npz archive ({type(exc).__name__}: {exc}); "
                                     "write the file again") from None
        return out


# ---------------------------------------------------------------------------------------
# Seeds and run names
# ---------------------------------------------------------------------------------------

_SEEDS_FORMS = ('accepted forms: a count "5" (seeds 0..4), an inclusive range "100-104", '
                'a list "3,7,11", or ranges and seeds combined "0-2,9"')


def parse_seeds(text: str | int) -> tuple[int, ...]:
    """Seeds from the text of ``--seeds``: ``"5"`` -> (0, 1, 2, 3, 4); ``"100-104"`` -> 100..104
    (inclusive); ``"3,7,11"``; ``"0-2,9"`` -> (0, 1, 2, 9). A single number alone is a count
    (>= 1); inside a list it is a seed. Seeds are non-negative, in the order given, without
    duplicates. Anything else raises ``ValueError`` naming --seeds and the accepted forms.
    """
    if isinstance(text, bool):
        raise ValueError(f"--seeds: expected text, got {text!r}; {_SEEDS_FORMS}")
    raw = str(text).strip()
    if re.fullmatch(r"\d+", raw):
        n = int(raw)
        if n < 1:
            raise ValueError(f"--seeds {raw!r}: a count must be >= 1; {_SEEDS_FORMS}")
        return tuple(range(n))
    seeds: list[int] = []
    parts = raw.split(",")
    for part in parts:
        item = part.strip()
        m = re.fullmatch(r"(\d+)\s*-\s*(\d+)", item)
        if m:
            a, b = int(m.group(1)), int(m.group(2))
            if a > b:
                raise ValueError(f"--seeds {raw!r}: range {item!r} runs backwards (write {b}-{a}); {_SEEDS_FORMS}")
            seeds.extend(range(a, b + 1))
        elif re.fullmatch(r"\d+", item):
            seeds.append(int(item))
        else:
            raise ValueError(f"--seeds {raw!r}: cannot read {item!r}; {_SEEDS_FORMS}")
    dupes = sorted({s for s in seeds if seeds.count(s) > 1})
    if dupes:
        raise ValueError(f"--seeds {raw!r}: seed(s) {dupes} given twice; {_SEEDS_FORMS}")
    return tuple(seeds)


def run_name(dataset: str | os.PathLike) -> str:
    """A safe, flat name for the run directory of a data set name or a data file path.

    Registered names pass through (``"fashion-mnist"``); a path (absolute or relative, with or
    without .npy/.npz) gives its file stem (``"/data/wine.npz"`` -> ``"wine"``). Characters
    outside ``[A-Za-z0-9_.-]`` become ``_`` and leading dots are stripped, so the result is
    never absolute, never contains a separator, never is ``.``/``..``; ``"data"`` if nothing is left.
    """
    text = os.fspath(dataset).strip()
    text = text.rstrip("/\\")
    base = re.split(r"[/\\]", text)[-1]
    if base.lower().endswith((".npy", ".npz")):
        base = base[:-4]
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", base).lstrip(".")
    return safe or "data"
