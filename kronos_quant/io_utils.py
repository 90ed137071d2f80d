"""Crash-safe file writes: the one place the package writes a file through a temporary name.

:func:`atomic_write` runs a writer on a temporary file in the target's folder and renames it into
place (``os.replace`` is atomic on POSIX and Windows within one filesystem), so a crash mid-write
leaves the previous file intact and never half a file. The temporary file is removed on failure.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call ``write(temporary_path)``, then rename the temporary file onto ``path``; returns ``path``.

    Args:
        path: the destination file; its parent folder is created if missing.
        write: writes the whole file to the path it is given (e.g. ``lambda p: torch.save(obj, p)``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return path
