"""A price panel held compactly for pretraining: each instrument's traded bars, float32, end to end.

Memory is one row per *traded bar* (6 float32 + one int32 calendar position = 28 bytes), never
one row per window: a window of L bars is a slice ``bars[start : start + L]`` taken when it is
sampled (:mod:`kronos_quant.training.pretrain_sampler`). All of A-shares 2010-2020 (~9.5M bars)
is about 270 MB.

Layout (instrument-major, like :func:`kronos_quant.data.windows.build_windows`)::

    bars     float32 (M, 6)  open, high, low, close, volume, amount of the traded bars
    days     int32   (M,)    position of each bar in ``calendar``
    offsets  int64   (N + 1) instrument i owns rows offsets[i] : offsets[i + 1]

Bars after ``cut`` are dropped as each instrument is read, before anything else sees them:
nothing after the cut date can reach pretraining. Reading uses the Qlib binary format directly
(:mod:`kronos_quant.data.qlib_bin`), so no qlib import and no dense (days x instruments) panel.
"""
from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kronos_quant.data import qlib_bin
from kronos_quant.normalization import FEATURE_COLUMNS, derived_amount

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PricePanel:
    """Traded bars of many instruments (see the module doc for the layout)."""

    instruments: tuple[str, ...]
    calendar: pd.DatetimeIndex
    bars: np.ndarray
    days: np.ndarray
    offsets: np.ndarray

    def __post_init__(self) -> None:
        if self.bars.ndim != 2 or self.bars.shape[1] != len(FEATURE_COLUMNS) or self.bars.dtype != np.float32:
            raise ValueError(f"PricePanel.bars must be float32 (M, 6), got {self.bars.dtype} {self.bars.shape}")
        if self.days.shape != (len(self.bars),) or len(self.offsets) != len(self.instruments) + 1:
            raise ValueError("PricePanel: days must be (M,) and offsets (N + 1,); build it with panel_from_arrays")
        if self.offsets[0] != 0 or self.offsets[-1] != len(self.bars) or (np.diff(self.offsets) < 0).any():
            raise ValueError("PricePanel.offsets must rise from 0 to len(bars)")

    @property
    def lengths(self) -> np.ndarray:
        """int64 (N,): traded bars per instrument."""
        return np.diff(self.offsets)

    @property
    def nbytes(self) -> int:
        return int(self.bars.nbytes + self.days.nbytes + self.offsets.nbytes)

    def date_span(self) -> tuple[str, str]:
        """First and last date of any bar held, as YYYY-MM-DD."""
        if len(self.days) == 0:
            raise ValueError("the panel holds no bars")
        return (f"{self.calendar[int(self.days.min())]:%Y-%m-%d}", f"{self.calendar[int(self.days.max())]:%Y-%m-%d}")

    def digest(self) -> str:
        """sha256 of everything held (bars, days, offsets, names, calendar): the data half of a cache key."""
        hasher = hashlib.sha256()
        for array in (self.bars, self.days, self.offsets):
            hasher.update(np.ascontiguousarray(array).tobytes())
        hasher.update("\n".join(self.instruments).encode())
        hasher.update("\n".join(self.calendar.strftime("%Y-%m-%d")).encode())
        return hasher.hexdigest()

    def between(self, start=None, end=None) -> PricePanel:
        """The bars with dates in [start, end] (either may be None), same instruments."""
        lo = 0 if start is None else int(self.calendar.searchsorted(pd.Timestamp(start)))
        hi = len(self.calendar) if end is None else int(self.calendar.searchsorted(pd.Timestamp(end), side="right"))
        keep = (self.days >= lo) & (self.days < hi)
        kept_before = np.concatenate([[0], np.cumsum(keep)])  # kept rows before each row
        offsets = kept_before[self.offsets].astype(np.int64)
        return PricePanel(self.instruments, self.calendar, self.bars[keep], self.days[keep], offsets)


def traded_rows(raw: np.ndarray) -> np.ndarray:
    """bool (T,): bars with all six fields finite and volume > 0 (the policy of data.windows)."""
    with np.errstate(invalid="ignore"):
        return np.isfinite(raw).all(axis=1) & (raw[:, 4] > 0)


def panel_from_arrays(values: np.ndarray, calendar: pd.DatetimeIndex, instruments: Sequence[str], *,
                      cut=None, start=None) -> PricePanel:
    """A PricePanel from a dense (D, N, 6) array of raw bars (tests, small universes).

    NaN amounts are derived from volume x mean(OHLC); untraded bars (NaN or volume <= 0) are dropped.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 3 or values.shape[1:] != (len(instruments), len(FEATURE_COLUMNS)):
        raise ValueError(f"values must be (days, {len(instruments)} instruments, 6), got {values.shape}")
    series = [(0, values[:, j]) for j in range(values.shape[1])]
    return _assemble(series, pd.DatetimeIndex(calendar), tuple(instruments), cut=cut, start=start)


def _assemble(series, calendar: pd.DatetimeIndex, instruments: tuple[str, ...], *, cut, start) -> PricePanel:
    """``series``: per instrument (first calendar position, raw (T, 6) float64) -> PricePanel."""
    hi = len(calendar) if cut is None else int(calendar.searchsorted(pd.Timestamp(cut), side="right"))
    lo = 0 if start is None else int(calendar.searchsorted(pd.Timestamp(start)))
    bars, days, lengths = [], [], []
    for first, raw in series:
        positions = first + np.arange(len(raw))
        inside = (positions >= lo) & (positions < hi)  # bars after the cut go no further than this line
        raw, positions = raw[inside], positions[inside]
        missing = np.isnan(raw[:, 5]) & np.isfinite(raw[:, :5]).all(axis=1)
        if missing.any():
            raw = raw.copy()
            raw[missing, 5] = derived_amount(raw[missing])
        traded = traded_rows(raw)
        bars.append(raw[traded].astype(np.float32))
        days.append(positions[traded].astype(np.int32))
        lengths.append(int(traded.sum()))
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    empty = np.zeros((0, len(FEATURE_COLUMNS)), np.float32)
    return PricePanel(instruments, calendar[:hi], np.concatenate(bars) if bars else empty,
                      np.concatenate(days) if days else np.zeros(0, np.int32), offsets)


def select_instruments(provider_uri: str | Path, instruments: str | Sequence[str]) -> list[str]:
    """Instrument codes of a provider: a universe name (instruments/<name>.txt), ``regex:<pattern>``
    over the codes of instruments/all.txt, or an explicit list. Sorted, without duplicates."""
    provider_uri = Path(provider_uri)
    if not isinstance(instruments, str):
        codes = sorted({str(code).upper() for code in instruments})
        if not codes:
            raise ValueError("instruments: the list is empty; name a universe, a regex:<pattern> or some codes")
        return codes
    if instruments.startswith("regex:"):
        pattern = re.compile(instruments[len("regex:"):], flags=re.I)
        codes = sorted(code for code in _universe_codes(provider_uri, "all") if pattern.search(code))
        if not codes:
            raise ValueError(f"instruments {instruments!r} matches none of {provider_uri}/instruments/all.txt")
        return codes
    return sorted(_universe_codes(provider_uri, instruments))


def _universe_codes(provider_uri: Path, name: str) -> set[str]:
    path = provider_uri / "instruments" / f"{name}.txt"
    if not path.is_file():
        available = sorted(p.stem for p in (provider_uri / "instruments").glob("*.txt"))
        raise ValueError(f"no universe {name!r} in {provider_uri}/instruments (have {available}); name one of "
                         "them, write regex:<pattern>, or list codes")
    return set(qlib_bin.read_instruments(provider_uri, name)["instrument"].str.upper())


def load_price_panel(provider_uri: str | Path, instruments: str | Sequence[str], *, cut, start=None) -> PricePanel:
    """The traded bars of ``instruments`` (see :func:`select_instruments`) in [start, cut], read per instrument.

    Peak memory is the panel itself plus one instrument's raw fields; a missing amount field is derived.
    """
    provider_uri = Path(provider_uri)
    calendar = qlib_bin.read_calendar(provider_uri)
    codes = select_instruments(provider_uri, instruments)
    series, skipped = [], 0
    for code in codes:
        first, raw = _read_instrument(provider_uri, code, len(calendar))
        skipped += raw is None
        series.append((0, np.zeros((0, 6))) if raw is None else (first, raw))
    if skipped:
        logger.info("%d of %d instruments have no price files and hold no bars", skipped, len(codes))
    panel = _assemble(series, calendar, tuple(codes), cut=cut, start=start)
    logger.info("price panel: %d instruments, %d traded bars up to %s (%.1f MB)", len(codes), len(panel.bars),
                cut, panel.nbytes / 2**20)
    return panel


def _read_instrument(provider_uri: Path, code: str, n_days: int) -> tuple[int, np.ndarray | None]:
    """(first calendar position, raw (T, 6) float64) of one instrument, NaN where a field has no value."""
    spans = {}
    for field in FEATURE_COLUMNS:
        path = qlib_bin.feature_path(provider_uri, code, field)
        if path.exists():
            spans[field] = qlib_bin.read_feature_file(path)
    if not all(field in spans for field in FEATURE_COLUMNS[:5]):
        return 0, None
    first = min(start for start, _ in spans.values())
    last = min(n_days, max(start + len(values) for start, values in spans.values()))
    raw = np.full((max(last - first, 0), len(FEATURE_COLUMNS)), np.nan)
    for column, field in enumerate(FEATURE_COLUMNS):
        if field in spans:
            start, values = spans[field]
            stop = min(start + len(values), last)
            raw[start - first: stop - first, column] = values[: stop - start]
    return first, raw
