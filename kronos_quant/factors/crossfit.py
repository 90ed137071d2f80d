"""Cross-fitting plans: which Kronos scores which dates, so that no feature row is in-sample.

A :class:`Fold` names the spans of bars its model may see (``train`` spans and the ``valid`` span
used for early stopping) and the span of decision dates it scores. Training windows of a span are
built from that span's bars only (their lookback and their targets both inside it), so a model's
*training period* is exactly the union of its ``seen`` spans. A plan is valid when every scored
date lies at least ``embargo_days`` calendar days away from every seen span of its own model: the
row's inputs (bars <= t) and its label (bars t+1, t+2, ...) were then never shown to that model.

Two schemes:

* :func:`walk_forward_plan` (the default, tradeable): blocks of ``refit_years`` years, each scored
  by a model trained on everything before it (expanding window), validated on the last
  ``valid_months`` before the block. The model of a year never saw that year or any later one.
* :func:`yearly_kfold_plan`: the scored years are split into ``k`` contiguous folds; each fold's
  model trains on the years before AND after it (purged by the embargo). Every row is out of
  sample, but a fold model may have seen *later* years, so use it for research on the features'
  content, not for a tradeable backtest.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

DEFAULT_EMBARGO_DAYS = 14  # calendar days between a seen span and a scored date (covers a 2-bar label)
MIN_SPAN_DAYS = 60  # a train/valid span shorter than this cannot hold a lookback plus targets

Span = tuple[pd.Timestamp, pd.Timestamp]


def _span(value, what: str) -> Span:
    try:
        start, end = (pd.Timestamp(v).normalize() for v in value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{what} must be a (start, end) pair of dates, got {value!r}") from err
    if start > end:
        raise ValueError(f"{what} starts after it ends: {start:%Y-%m-%d} > {end:%Y-%m-%d}")
    return start, end


@dataclass(frozen=True)
class Fold:
    """One cross-fitting model: the bars it may see and the decision dates it scores."""

    name: str
    train: tuple[Span, ...]  # spans whose bars build training windows (lookback and targets inside)
    valid: Span  # early-stopping span (also seen by the model)
    score: Span  # decision dates this model scores

    def __post_init__(self) -> None:
        object.__setattr__(self, "train", tuple(_span(s, f"fold {self.name} train span") for s in self.train))
        object.__setattr__(self, "valid", _span(self.valid, f"fold {self.name} valid span"))
        object.__setattr__(self, "score", _span(self.score, f"fold {self.name} score span"))
        if not self.train:
            raise ValueError(f"fold {self.name} has no train span")

    @property
    def seen(self) -> tuple[Span, ...]:
        """Every span of bars the model was trained or early-stopped on."""
        return self.train + (self.valid,)

    def to_dict(self) -> dict:
        iso = lambda span: [f"{span[0]:%Y-%m-%d}", f"{span[1]:%Y-%m-%d}"]  # noqa: E731
        return {"name": self.name, "train": [iso(s) for s in self.train], "valid": iso(self.valid),
                "score": iso(self.score)}


def gap_days(span: Span, dates: pd.DatetimeIndex) -> np.ndarray:
    """int (len(dates),) calendar days from each date to the span (0 inside it)."""
    dates = pd.DatetimeIndex(dates).normalize()
    before = (span[0] - dates).days.to_numpy()
    after = (dates - span[1]).days.to_numpy()
    return np.maximum(np.maximum(before, after), 0)


def check_plan(folds: tuple[Fold, ...] | list[Fold], *, embargo_days: int = DEFAULT_EMBARGO_DAYS) -> None:
    """ValueError unless score spans are disjoint and each lies ``embargo_days`` away from its seen spans."""
    if not folds:
        raise ValueError("a cross-fitting plan needs at least one fold")
    ordered = sorted(folds, key=lambda fold: fold.score[0])
    for left, right in zip(ordered, ordered[1:]):
        if right.score[0] <= left.score[1]:
            raise ValueError(f"folds {left.name} and {right.name} score overlapping dates; give each date one model")
    for fold in folds:
        ends = pd.DatetimeIndex([fold.score[0], fold.score[1]])
        for span in fold.seen:
            inside = not (span[1] < fold.score[0] or span[0] > fold.score[1])
            if inside or gap_days(span, ends).min() < embargo_days:
                raise ValueError(f"fold {fold.name}: its model sees {span[0]:%Y-%m-%d}..{span[1]:%Y-%m-%d}, within "
                                 f"{embargo_days} days of the dates it scores ({fold.score[0]:%Y-%m-%d}.."
                                 f"{fold.score[1]:%Y-%m-%d}); move the spans apart")
        for span in fold.seen:
            if (span[1] - span[0]).days < MIN_SPAN_DAYS:
                raise ValueError(f"fold {fold.name}: span {span[0]:%Y-%m-%d}..{span[1]:%Y-%m-%d} is shorter than "
                                 f"{MIN_SPAN_DAYS} days; start the history earlier or use fewer folds")


def assign_folds(dates, folds, *, embargo_days: int = DEFAULT_EMBARGO_DAYS) -> np.ndarray:
    """int (len(dates),) index into ``folds`` of the model that scores each date.

    A ValueError names the first date no fold scores, or a date within ``embargo_days`` of its
    model's seen spans (a plan built by hand that :func:`check_plan` would reject).
    """
    dates = pd.DatetimeIndex(dates).normalize()
    owner = np.full(len(dates), -1)
    for number, fold in enumerate(folds):
        inside = (dates >= fold.score[0]) & (dates <= fold.score[1])
        owner[inside] = number
        for span in fold.seen:
            bad = inside & (gap_days(span, dates) < embargo_days)
            if bad.any():
                raise ValueError(f"{dates[bad][0]:%Y-%m-%d} is within {embargo_days} days of fold {fold.name}'s "
                                 "training period; that row would be in-sample")
    if (owner < 0).any():
        raise ValueError(f"no fold scores {dates[owner < 0][0]:%Y-%m-%d}; extend the plan's score range to cover "
                         "every requested date")
    return owner


def _year_blocks(start: pd.Timestamp, end: pd.Timestamp, years_per_block: int) -> list[Span]:
    blocks, year = [], start.year
    while year <= end.year:
        last = year + years_per_block - 1
        blocks.append((max(start, pd.Timestamp(year, 1, 1)), min(end, pd.Timestamp(last, 12, 31))))
        year = last + 1
    return blocks


def walk_forward_plan(score: tuple, *, history_start, refit_years: int = 1, valid_months: int = 12,
                      max_train_years: int | None = None,
                      embargo_days: int = DEFAULT_EMBARGO_DAYS) -> tuple[Fold, ...]:
    """Expanding-window folds: the block starting Jan 1 of year Y is scored by a model trained on
    ``[history_start, V)`` and early-stopped on ``[V, block start - embargo]``, V = block start - ``valid_months``.
    ``max_train_years`` caps the training span to its last years (a rolling instead of expanding window)."""
    start, end = _span(score, "score range")
    history = pd.Timestamp(history_start).normalize()
    if int(refit_years) < 1 or int(valid_months) < 1:
        raise ValueError(f"refit_years and valid_months must be >= 1, got {refit_years}, {valid_months}")
    folds = []
    for block in _year_blocks(start, end, int(refit_years)):
        valid_start = block[0] - pd.DateOffset(months=int(valid_months))
        valid_end = block[0] - pd.Timedelta(days=int(embargo_days))
        if valid_start - history < pd.Timedelta(days=MIN_SPAN_DAYS):
            raise ValueError(f"fold wf{block[0]:%Y}: the history from {history:%Y-%m-%d} is shorter than "
                             f"{MIN_SPAN_DAYS} days before its early-stopping span ({valid_start:%Y-%m-%d}); start "
                             "the scored range later or history_start earlier")
        train_start = history
        if max_train_years is not None:
            train_start = max(history, valid_start - pd.DateOffset(years=int(max_train_years)))
        train = ((train_start, valid_start - pd.Timedelta(days=1)),)
        folds.append(Fold(name=f"wf{block[0]:%Y}", train=train, valid=(valid_start, valid_end), score=block))
    folds = tuple(folds)
    check_plan(folds, embargo_days=embargo_days)
    return folds


def yearly_kfold_plan(score: tuple, *, history_start, data_end, k: int, valid_months: int = 12,
                      embargo_days: int = DEFAULT_EMBARGO_DAYS) -> tuple[Fold, ...]:
    """``k`` contiguous groups of scored years; each group's model trains on the other years of
    ``[history_start, data_end]`` (purged by ``embargo_days`` on both sides). Its valid span is the
    last ``valid_months`` months of the longer remaining span (see the module docstring's caveat)."""
    start, end = _span(score, "score range")
    history, last = pd.Timestamp(history_start).normalize(), pd.Timestamp(data_end).normalize()
    years = list(range(start.year, end.year + 1))
    if not 1 <= int(k) <= len(years):
        raise ValueError(f"k must be between 1 and the {len(years)} scored years, got {k}")
    embargo = pd.Timedelta(days=int(embargo_days))
    folds = []
    for number, group in enumerate(np.array_split(np.array(years), int(k))):
        block = (max(start, pd.Timestamp(int(group[0]), 1, 1)), min(end, pd.Timestamp(int(group[-1]), 12, 31)))
        spans = [(history, block[0] - embargo), (block[1] + embargo, last)]
        spans = [s for s in spans if (s[1] - s[0]).days >= MIN_SPAN_DAYS]
        if not spans:
            raise ValueError(f"fold {number}: no training data outside {block}; widen [history_start, data_end]")
        longest = max(range(len(spans)), key=lambda i: spans[i][1] - spans[i][0])
        carved = spans[longest]
        valid_start = max(carved[0], carved[1] - pd.DateOffset(months=int(valid_months)) + pd.Timedelta(days=1))
        spans[longest] = (carved[0], valid_start - pd.Timedelta(days=1))
        folds.append(Fold(name=f"kf{number}", train=tuple(spans), valid=(valid_start, carved[1]), score=block))
    folds = tuple(folds)
    check_plan(folds, embargo_days=embargo_days)
    return folds
