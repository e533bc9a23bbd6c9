"""Checkpoints: atomic, carrying the config, model, optimizer, method state, history and every
RNG state (python, numpy, torch, CUDA, the shuffle generator), so a killed run resumes bit for bit."""
from __future__ import annotations

import io
import random
from pathlib import Path

import numpy as np
import torch

from empirical import io as eio

__all__ = ["seed_everything", "rng_state", "set_rng_state", "save_checkpoint", "load_checkpoint"]


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


def save_checkpoint(path: Path, **payload) -> None:
    buf = io.BytesIO()
    torch.save(payload, buf)
    eio.atomic_write_bytes(path, buf.getvalue())  # temp file + os.replace: never half-written


def load_checkpoint(path: Path, device) -> dict:
    # weights_only=False: our own checkpoints also carry RNG states (numpy/python tuples)
    return torch.load(path, map_location=device, weights_only=False)
