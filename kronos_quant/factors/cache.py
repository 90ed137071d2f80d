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
"""
from __future__ import annotations

import hashlib
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
        folder = self.root / key_digest(key)[:24]
        folder.mkdir(parents=True, exist_ok=True)
        key_file = folder / "key.json"
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
        for meta_path in sorted(self.entry(key).glob("*.json")):
            if meta_path.name == "key.json":
                continue
            meta = json.loads(meta_path.read_text())
            start, end = pd.Timestamp(meta["start"]), pd.Timestamp(meta["end"])
            inside = (dates >= start) & (dates <= end)
            if not inside.any() or covered[inside].all():
                continue
            if meta["data_digest"] != data_digest(end):
                logger.info("feature cache: data changed under block %s..%s; recomputing it", meta["start"],
                            meta["end"])
                meta_path.with_suffix(".parquet").unlink(missing_ok=True)
                meta_path.unlink()
                continue
            frame = pd.read_parquet(meta_path.with_suffix(".parquet")).set_index(INDEX_NAMES)
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
        tmp = stem.with_suffix(".parquet.tmp")
        frame.reset_index().to_parquet(tmp, index=False)
        os.replace(tmp, stem.with_suffix(".parquet"))
        meta = {"start": f"{start:%Y-%m-%d}", "end": f"{end:%Y-%m-%d}", "rows": int(len(frame)),
                "columns": list(frame.columns), "data_digest": data_digest}
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


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
