"""Crash-safe file writes: the one place the package writes a file through a temporary name.

:func:`atomic_write` runs a writer on a temporary file in the target's folder and renames it into
place (``os.replace`` is atomic on POSIX and Windows within one filesystem), so a crash mid-write
leaves the previous file intact and never half a file. The temporary file is removed on failure.
Files and folders get the mode a plain ``open``/``mkdir`` would give under the user's umask, not
the 0600/0700 of ``tempfile``, so colleagues on a shared server can read checkpoints as usual.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


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
        os.chmod(temporary, 0o666 & ~current_umask())  # mkstemp makes 0600; give the mode open() would
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return path


def check_writable_dir(folder: str | os.PathLike, *, setting: str, fix: str) -> Path:
    """Create ``folder`` and prove it writable with a probe file; its resolved path.

    Raises a ValueError ``"<setting> <folder> is not a writable folder (<reason>); <fix>"`` otherwise, so a
    run fails before it trains rather than when it first saves.
    """
    folder = Path(folder).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(dir=folder, prefix=".write_probe.")
        os.close(handle)
        os.remove(probe)
    except OSError as err:
        raise ValueError(f"{setting} {folder} is not a writable folder ({err.strerror or err}); {fix}") from None
    return folder.resolve()


def make_staging_dir(parent: Path, prefix: str) -> Path:
    """A new temporary folder in ``parent`` with the mode ``mkdir`` would give (mkdtemp makes 0700)."""
    staging = Path(tempfile.mkdtemp(dir=parent, prefix=prefix))
    os.chmod(staging, 0o777 & ~current_umask())
    return staging


def current_umask() -> int:
    """The process umask, read without changing it where Linux exposes it (else set and restored)."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
