"""On-disk cache of Kronos feature frames (parquet + JSON; nothing is unpickled). No qlib here.

Layout: ``<root>/<key digest>/key.json`` names what the entry is for (checkpoint digests, forecast
settings, feature horizons, universe); beside it, one ``<start>_<end>.parquet`` + ``.json`` per
computed block of decision dates. A block's JSON stores the digest of the provider's data it was
computed from (:func:`provider_digest`: every field file of every instrument of the universe, the
calendar and the universe file, up to the block's last date, since a lookback may reach back over
suspensions arbitrarily far). A lookup recomputes those digests: a block whose data changed is
deleted and its dates are reported missing, as are dates no block covers. The caller computes only
the missing dates and stores them as new blocks, so extending a range computes only the new dates.

Changing the model (checkpoint digest) or any forecast setting changes the key digest: a different
entry, i.e. a miss.

Integrity: a block's JSON also records the sha256 of its parquet file, its entry's key digest, its
columns and row count. A lookup checks all of them (and that the rows lie inside the block's dates),
and an entry's ``key.json`` must hold the key asked for. A block that fails (a truncated or edited
file, unreadable JSON, a file copied in from another entry, a block written before these checks) is
logged, deleted and reported missing, so it is recomputed and never served.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

KRONOS_FIELDS = ("open", "high", "low", "close", "volume", "amount")
INDEX_NAMES = ["datetime", "instrument"]
BLOCK_FIELDS = ("start", "end", "rows", "columns", "data_digest", "parquet_sha256", "key_digest")


def key_digest(key: dict) -> str:
    """sha256 of the canonical JSON of ``key`` (sorted keys; values must be JSON types)."""
    try:
        text = json.dumps(key, sort_keys=True, separators=(",", ":"))
    except TypeError as err:
        raise TypeError(f"cache key values must be JSON types (str, int, float, list, dict): {err}") from None
    return hashlib.sha256(text.encode()).hexdigest()


def read_calendar(provider_dir: str | Path, freq: str = "day") -> pd.DatetimeIndex:
    path = Path(provider_dir) / "calendars" / f"{freq}.txt"
    if not path.is_file():
        raise ValueError(f"{provider_dir} is not a Qlib data dir (no calendars/{freq}.txt)")
    return pd.DatetimeIndex(pd.to_datetime(path.read_text().split()), name="datetime")


def universe_instruments(provider_dir: str | Path, universe: str | Sequence[str]) -> list[str]:
    """Codes listed in ``instruments/<universe>.txt`` (any span), or the given list; sorted, upper case."""
    if not isinstance(universe, str):
        return sorted({str(code).upper() for code in universe})
    path = Path(provider_dir) / "instruments" / f"{universe.lower()}.txt"
    if not path.is_file():
        raise ValueError(f"unknown universe {universe!r}: {path} does not exist")
    return sorted({line.split()[0].upper() for line in path.read_text().splitlines() if line.strip()})


def provider_digest(provider_dir: str | Path, universe: str | Sequence[str], end, *,
                    fields: Sequence[str] = KRONOS_FIELDS, freq: str = "day") -> str:
    """sha256 of the provider's data that features up to ``end`` can depend on.

    Covers the calendar up to ``end``, the universe file, and for every instrument of the universe
    and every field in ``fields`` the bin values on calendar days <= ``end`` (a missing file is
    hashed as absent). Qlib bins are float32: the first value is the start index in the calendar.
    """
    provider_dir = Path(provider_dir)
    calendar = read_calendar(provider_dir, freq)
    last = int(calendar.searchsorted(pd.Timestamp(end), side="right")) - 1
    digest = hashlib.sha256()
    digest.update("\n".join(f"{day:%Y-%m-%d}" for day in calendar[: last + 1]).encode())
    if isinstance(universe, str):
        digest.update((provider_dir / "instruments" / f"{universe.lower()}.txt").read_bytes())
    for code in universe_instruments(provider_dir, universe):
        for field in fields:
            path = provider_dir / "features" / code.lower() / f"{field}.{freq}.bin"
            digest.update(f"|{code}/{field}|".encode())
            if not path.is_file():
                digest.update(b"absent")
                continue
            raw = path.read_bytes()
            start = int(np.frombuffer(raw[:4], dtype="<f4")[0]) if len(raw) >= 4 else 0
            count = max(0, last - start + 1)
            digest.update(raw[: 4 + 4 * count])
    return digest.hexdigest()


class FeatureCache:
    """Blocks of feature rows keyed by (key, date block), validated by a data digest (module docstring)."""

    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser()

    def entry(self, key: dict) -> Path:
        """The entry folder of ``key``; one whose ``key.json`` holds another key (or no readable key) is emptied."""
        folder = self.root / key_digest(key)[:24]
        folder.mkdir(parents=True, exist_ok=True)
        key_file = folder / "key.json"
        if key_file.exists() and _read_json(key_file) != json.loads(json.dumps(key)):
            logger.warning("feature cache: %s does not hold the key of this entry (edited, truncated or copied from "
                           "elsewhere); discarding the entry's blocks", key_file)
            for stale in folder.iterdir():
                if stale.is_file():
                    stale.unlink()
        if not key_file.exists():
            _atomic_write(key_file, json.dumps(key, sort_keys=True, indent=1).encode())
        return folder

    def lookup(self, key: dict, dates: pd.DatetimeIndex,
               data_digest: Callable[[pd.Timestamp], str]) -> tuple[pd.DataFrame | None, pd.DatetimeIndex]:
        """(cached rows whose date is in ``dates`` or None, the dates no valid block covers).

        Args:
            dates: the requested trading days (sorted).
            data_digest: ``end -> digest`` of the data a block ending at ``end`` depends on.
        """
        dates = pd.DatetimeIndex(dates)
        covered = np.zeros(len(dates), dtype=bool)
        frames = []
        entry_digest = key_digest(key)
        for meta_path in sorted(self.entry(key).glob("*.json")):
            if meta_path.name == "key.json":
                continue
            meta = _block_meta(meta_path, entry_digest)
            if meta is None:
                _discard(meta_path)
                continue
            start, end = pd.Timestamp(meta["start"]), pd.Timestamp(meta["end"])
            inside = (dates >= start) & (dates <= end)
            if not inside.any() or covered[inside].all():
                continue
            if meta["data_digest"] != data_digest(end):
                logger.info("feature cache: data changed under block %s..%s; recomputing it", meta["start"],
                            meta["end"])
                _discard(meta_path)
                continue
            frame = _read_block(meta_path, meta)
            if frame is None:
                _discard(meta_path)
                continue
            frames.append(frame[frame.index.get_level_values("datetime").isin(dates[inside & ~covered])])
            covered |= inside
        cached = pd.concat(frames).sort_index() if frames else None
        return cached, dates[~covered]

    def store(self, key: dict, frame: pd.DataFrame, start, end, data_digest: str) -> Path:
        """Save rows of decision dates ``[start, end]`` (all of them: a date without rows is covered too)."""
        if list(frame.index.names) != INDEX_NAMES:
            raise ValueError(f"feature frames are indexed {INDEX_NAMES}, got {frame.index.names}")
        start, end = pd.Timestamp(start), pd.Timestamp(end)
        folder = self.entry(key)
        stem = folder / f"{start:%Y%m%d}_{end:%Y%m%d}"
        buffer = io.BytesIO()
        frame.reset_index().to_parquet(buffer, index=False)
        _atomic_write(stem.with_suffix(".parquet"), buffer.getvalue())
        meta = {"start": f"{start:%Y-%m-%d}", "end": f"{end:%Y-%m-%d}", "rows": int(len(frame)),
                "columns": [str(c) for c in frame.columns], "data_digest": data_digest,
                "parquet_sha256": hashlib.sha256(buffer.getvalue()).hexdigest(), "key_digest": key_digest(key)}
        _atomic_write(stem.with_suffix(".json"), json.dumps(meta, indent=1).encode())
        return stem


def missing_spans(missing: pd.DatetimeIndex, calendar: pd.DatetimeIndex) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Maximal runs of consecutive ``calendar`` days among ``missing``: [(first, last), ...]."""
    if len(missing) == 0:
        return []
    positions = calendar.get_indexer(pd.DatetimeIndex(missing))
    if (positions < 0).any():
        raise ValueError("missing dates must be days of the calendar")
    positions = np.sort(positions)
    breaks = np.flatnonzero(np.diff(positions) > 1)
    starts = np.concatenate([[positions[0]], positions[breaks + 1]])
    ends = np.concatenate([positions[breaks], [positions[-1]]])
    return [(calendar[s], calendar[e]) for s, e in zip(starts, ends)]


def _read_json(path: Path):
    """The JSON value in ``path``, or None when the file is unreadable or not JSON."""
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return None


def _block_meta(meta_path: Path, entry_digest: str) -> dict | None:
    """A block's metadata, or None (logged) when it is unreadable, incomplete or belongs to another entry."""
    meta = _read_json(meta_path)
    problem = None
    if not isinstance(meta, dict):
        problem = "is not a block's JSON metadata (truncated or foreign)"
    elif any(name not in meta for name in BLOCK_FIELDS):
        problem = f"lacks {[name for name in BLOCK_FIELDS if name not in meta]} (written by an older version?)"
    elif meta["key_digest"] != entry_digest:
        problem = "belongs to another cache entry (copied in?)"
    else:
        try:
            pd.Timestamp(meta["start"]), pd.Timestamp(meta["end"])
        except (ValueError, TypeError):
            problem = f"has unreadable dates {meta['start']!r}..{meta['end']!r}"
    if problem is not None:
        logger.warning("feature cache: %s %s; discarding the block (it will be recomputed)", meta_path, problem)
        return None
    return meta


def _read_block(meta_path: Path, meta: dict) -> pd.DataFrame | None:
    """The block's rows when its parquet file matches the metadata (sha256, columns, rows, dates), else None."""
    parquet = meta_path.with_suffix(".parquet")
    try:
        raw = parquet.read_bytes()
    except OSError:
        logger.warning("feature cache: %s is missing; recomputing block %s..%s", parquet, meta["start"], meta["end"])
        return None
    if hashlib.sha256(raw).hexdigest() != meta["parquet_sha256"]:
        logger.warning("feature cache: %s does not match its recorded sha256 (truncated or edited); recomputing "
                       "block %s..%s", parquet, meta["start"], meta["end"])
        return None
    try:
        frame = pd.read_parquet(io.BytesIO(raw))
    except Exception as err:  # noqa: BLE001 -- pyarrow raises several types for a file that is not parquet
        logger.warning("feature cache: %s is not readable parquet (%s); recomputing it", parquet, err)
        return None
    if list(frame.columns) != INDEX_NAMES + list(meta["columns"]) or len(frame) != int(meta["rows"]):
        logger.warning("feature cache: %s holds columns/rows other than its metadata says; recomputing it", parquet)
        return None
    frame = frame.set_index(INDEX_NAMES)
    days = pd.DatetimeIndex(frame.index.get_level_values("datetime"))
    if len(days) and (days.min() < pd.Timestamp(meta["start"]) or days.max() > pd.Timestamp(meta["end"])):
        logger.warning("feature cache: %s holds rows outside %s..%s; recomputing it", parquet, meta["start"],
                       meta["end"])
        return None
    return frame


def _discard(meta_path: Path) -> None:
    meta_path.with_suffix(".parquet").unlink(missing_ok=True)
    meta_path.unlink(missing_ok=True)


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
