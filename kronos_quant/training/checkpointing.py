"""Crash-safe checkpoints: ``best/`` and ``last/`` in save_pretrained layout, plus ``resume.pt``.

Every write goes to a temporary name in the same folder and is renamed into place, so a crash
mid-save leaves the previous checkpoint loadable:

- a model folder is written whole into ``.<name>.tmp-*``; then the old folder is renamed aside
  (``.<name>.old``), the new one renamed in, and the old one removed. If a crash falls between
  the two renames, :func:`recover_checkpoint_dirs` (run at start-up) moves ``.<name>.old`` back.
- ``resume.pt`` (torch.save) is written to a temporary file and ``os.replace``d.

``resume.pt`` holds everything an exact resume needs: model weights, optimizer, scheduler, RNG
states (python, numpy, torch, cuda), epoch, step, position within the epoch, best validation
loss and the early-stopping counter.
"""
from __future__ import annotations

import logging
import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kronos_quant.io_utils import atomic_write, make_staging_dir

logger = logging.getLogger(__name__)

RESUME_NAME = "resume.pt"
RESUME_KEYS = frozenset({"model", "optimizer", "scheduler", "rng", "state", "world_size", "config"})


def save_model_dir(model, folder: str | Path) -> Path:
    """``model.save_pretrained`` into a temp folder, then swap it in for ``folder``."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = make_staging_dir(folder.parent, prefix=f".{folder.name}.tmp-")
    try:
        model.save_pretrained(staging)
        aside = folder.parent / f".{folder.name}.old"
        if aside.exists():
            shutil.rmtree(aside)
        if folder.exists():
            os.replace(folder, aside)
        os.replace(staging, folder)
        if aside.exists():
            shutil.rmtree(aside)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return folder


def recover_checkpoint_dirs(out_dir: str | Path) -> None:
    """Undo a crash between the two renames of :func:`save_model_dir`; drop stale temp folders."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        return
    for aside in out_dir.glob(".*.old"):
        target = out_dir / aside.name[1:-len(".old")]
        if target.exists():
            shutil.rmtree(aside)
        else:
            logger.warning("restoring %s from %s (a previous save was interrupted)", target, aside)
            os.replace(aside, target)
    for staging in out_dir.glob(".*.tmp-*"):
        shutil.rmtree(staging, ignore_errors=True) if staging.is_dir() else staging.unlink()


def rng_state() -> dict[str, Any]:
    """RNG states in types ``torch.load(weights_only=True)`` accepts (tuples, lists, ints, floats, tensors)."""
    name, keys, position, has_gauss, cached_gaussian = np.random.get_state()
    state = {"python": random.getstate(),
             "numpy": (str(name), torch.from_numpy(keys.astype(np.int64)), int(position), int(has_gauss),
                       float(cached_gaussian)),
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, position, has_gauss, cached_gaussian = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.int64).astype(np.uint32), position, has_gauss,
                         cached_gaussian))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_resume_state(path: str | Path, state: dict[str, Any]) -> Path:
    """torch.save ``state`` to a temp file beside ``path``, then rename it into place."""
    return atomic_write(path, lambda temporary: torch.save(state, temporary))


def load_resume_state(path: str | Path) -> dict[str, Any]:
    """The dict written by :func:`save_resume_state` (on the CPU).

    Loaded with ``weights_only=True``: a resume.pt from a shared run folder can hold only tensors
    and plain containers, never code. A corrupt or foreign file is a ValueError naming it.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no resume state at {path}; start without resume, or point out_dir at the run")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises RuntimeError, UnpicklingError, EOFError, ...
        raise ValueError(f"{path} is corrupt or not a kronos-quant resume state ({type(err).__name__}: "
                         f"{str(err).splitlines()[0] if str(err) else ''}); delete it (or the run folder) and "
                         "train afresh, or set resume: false") from None
    missing = sorted(RESUME_KEYS - set(state)) if isinstance(state, dict) else sorted(RESUME_KEYS)
    if missing:
        raise ValueError(f"{path} is not a kronos-quant resume state (missing {missing}); delete it (or the run "
                         "folder) and train afresh, or set resume: false")
    return state
