"""Instrument codes taken from file and folder names, or written into paths: validated, never trusted.

A code becomes a path component (``features/<code>/``, ``<CODE>.csv``), so ``..``, path separators,
hidden names and empty names are refused; two files whose codes differ only in case would land in
the same lowercase feature folder (qlib looks codes up case-insensitively), so that is an error
naming both files.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")  # e.g. SH600000, 000001.SZ, BRK.B


def check_instrument_code(code, *, source: str) -> str:
    """``code`` as a string when it is a safe instrument code, else a ValueError naming ``source``."""
    text = str(code) if code is not None else ""
    if not text.strip():
        raise ValueError(f"{source}: empty instrument code; name the file or row after the instrument, "
                         "e.g. SH600000")
    if "/" in text or "\\" in text or ".." in text or not CODE_PATTERN.match(text):
        raise ValueError(f"{source}: {text!r} is not a valid instrument code (letters, digits, '.', '_' and "
                         "'-', starting with a letter or digit; no '..' or path separators); rename it, "
                         "e.g. SH600000")
    return text


def codes_from_paths(paths: Iterable[Path], *, upper: bool = True) -> dict[str, Path]:
    """Instrument code -> file, the code being the file's stem (uppercased when ``upper``).

    Raises ValueError for an invalid code, or for two files whose codes differ only in case.
    """
    codes: dict[str, Path] = {}
    for path in sorted(Path(p) for p in paths):
        code = check_instrument_code(_stem(path), source=str(path))
        key = code.upper() if upper else code
        clash = next((other for other in codes.values() if _stem(other).upper() == code.upper()), None)
        if clash is not None:
            raise ValueError(f"{clash.name} and {path.name} name the same instrument {code.upper()!r} (codes are "
                             "case-insensitive in Qlib); keep one of them")
        codes[key] = path
    return codes


def _stem(path: Path) -> str:
    return path.name if path.is_dir() else path.stem
