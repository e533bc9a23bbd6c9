"""Checkpoints: atomic, carrying the config, model, optimizer, method state, history and every
RNG state (python, numpy, torch, CUDA, the shuffle generator), so a killed run resumes bit for bit.

Integrity: :func:`save_checkpoint` records the SHA-256 of what a certificate reads back from a
checkpoint (every model tensor, the config, the teacher hash) under ``content_sha256``;
:func:`load_checkpoint` recomputes it, so a checkpoint edited or corrupted after it was written is
an error naming the file and the entry. Checkpoints written before the hash existed are loaded
with an ``empirical.io.UnverifiedFileWarning``. Every problem reading a checkpoint (missing,
not a regular file, empty, not a torch checkpoint, no model or config) is one ``ValueError`` (or
``FileNotFoundError``) naming the file.

Safety: checkpoints are read with torch's restricted unpickler (``weights_only=True``, NumPy's
numeric arrays allowed), so a crafted checkpoint cannot run code when it is loaded.
"""
from __future__ import annotations

import hashlib
import io
import json
import pickle
import random
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from empirical import io as eio
from witness_theory.io import check_regular_file

__all__ = ["seed_everything", "rng_state", "set_rng_state", "save_checkpoint", "load_checkpoint",
           "checkpoint_digests"]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 -- the legacy global RNG, for library code that draws from it
    torch.manual_seed(seed)  # also seeds every CUDA device


def rng_state(shuffle: torch.Generator) -> dict:
    return {"python": random.getstate(), "numpy": np.random.get_state(),  # noqa: NPY002
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "shuffle": shuffle.get_state()}


def set_rng_state(state: dict, shuffle: torch.Generator) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])  # noqa: NPY002 -- restores the legacy global RNG
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    shuffle.set_state(state["shuffle"])


def _tensor_digest(name: str, t: torch.Tensor) -> str:
    t = t.detach().cpu().contiguous()
    h = hashlib.sha256(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
    h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())   # the raw bytes, any dtype
    return h.hexdigest()


def checkpoint_digests(payload: dict) -> dict[str, str]:
    """SHA-256 of what a certificate reads from a checkpoint: ``model.<tensor>`` for every
    tensor of the model's state dict, ``config`` (canonical JSON) and ``teacher_hash``."""
    out = {f"model.{k}": _tensor_digest(k, v) for k, v in payload["model"].items()}
    out["config"] = hashlib.sha256(json.dumps(eio.to_jsonable(payload["config"]), sort_keys=True).encode()).hexdigest()
    out["teacher_hash"] = hashlib.sha256(str(payload.get("teacher_hash")).encode()).hexdigest()
    return out


def save_checkpoint(path: Path, **payload) -> None:
    if "model" in payload and "config" in payload:
        payload[eio.CONTENT_KEY] = checkpoint_digests(payload)
    buf = io.BytesIO()
    torch.save(payload, buf)
    eio.atomic_write_bytes(path, buf.getvalue())  # temp file + os.replace: never half-written


# what torch.serialization.get_unsafe_globals_in_checkpoint names for our checkpoints (numpy 2.x):
# the array and scalar constructors and the dtype classes of bool and numeric arrays (not object
# or string arrays, whose items would be further pickles). The two constructors are taken from
# what pickle itself calls (__reduce__), not from numpy's private module path (numpy.core before
# 2.0, numpy._core after).
_NUMPY_GLOBALS: list[Any] = [np.ndarray, np.dtype, np.ndarray(0).__reduce__()[0], np.float64(0).__reduce__()[0],
                  *sorted({type(np.dtype(code)) for code in "?bBhHiIlLqQefdgFDG"}, key=lambda t: t.__name__)]


def load_checkpoint(path: Path, device) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint` and verify its content hash."""

    label = f"checkpoint {str(path)!r}"
    st = check_regular_file(path, "checkpoint")   # a FIFO or directory never reaches torch.load
    if st.st_size == 0:
        raise ValueError(f"{label} is empty (0 bytes); train again or pass another checkpoint")
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head[:2] != b"PK" and head[:1] != b"\x80":   # a zip archive (torch >= 1.6) or a legacy pickle
        raise ValueError(f"{label} is not a torch checkpoint (starts with {head!r}); pass the checkpoint.pt "
                         "that training wrote")
    try:
        # weights_only=True: torch's restricted unpickler, which builds tensors and plain Python
        # containers and calls no other code, so a crafted checkpoint cannot run anything on load.
        # Our checkpoints also carry NumPy arrays (the legacy RNG state, per-unit metrics in the
        # history): the three globals that rebuild an array (and the one for a NumPy scalar) are
        # allowed, as torch's serialization notes suggest for NumPy; they construct data only.
        with torch.serialization.safe_globals(_NUMPY_GLOBALS):
            ck = torch.load(path, map_location=device, weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, AttributeError, ImportError, TypeError,
            IndexError, pickle.UnpicklingError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise ValueError(f"{label} is not a readable torch checkpoint ({type(exc).__name__}: {first}); "
                         "pass the checkpoint.pt that training wrote") from None
    if not isinstance(ck, dict) or "model" not in ck or "config" not in ck:
        what = sorted(map(str, ck))[:8] if isinstance(ck, dict) else type(ck).__name__
        raise ValueError(f"{label} is not a training checkpoint (it holds {what}, not a model and its config); "
                         "pass the checkpoint.pt that training wrote")
    if not isinstance(ck["model"], dict) or not all(isinstance(v, torch.Tensor) for v in ck["model"].values()):
        raise ValueError(f"{label}: its 'model' entry is not a state dict of tensors; pass the checkpoint.pt "
                         "that training wrote")
    recorded = ck.pop(eio.CONTENT_KEY, None)
    if recorded is None:
        warnings.warn(f"{label} has no content hash (written by an older version): its weights cannot be "
                      "verified against tampering or corruption", eio.UnverifiedFileWarning, stacklevel=2)
        return ck
    if not isinstance(recorded, dict):
        raise ValueError(f"{label}: its content hash is unreadable; the file is corrupt: train again")
    now = checkpoint_digests(ck)
    for name in sorted(set(recorded) | set(now)):
        if recorded.get(name) != now.get(name):
            state = ("is missing" if name not in now else "was added after the file was written"
                     if name not in recorded else "does not match its recorded SHA-256")
            raise ValueError(f"{label}: entry {name!r} {state}: the checkpoint was modified or corrupted after it "
                             "was written; train again or restore it")
    return ck
