"""Kronos features on a Qlib provider: cross-fitted fold models, scored windows, the on-disk cache.

:func:`kronos_features` is the entry point: for decision dates ``[start, end]`` it builds the
cross-fitting plan (:mod:`kronos_quant.factors.crossfit`), trains each fold's Kronos (or reuses it
from ``<work_dir>/models`` when its fold, settings and data are unchanged), and returns the features
of every (datetime, instrument) row from the model of that row's fold, through the feature cache
(:mod:`kronos_quant.factors.cache`). Nothing of a row's own training period reaches its model.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from kronos_quant.factors.cache import FeatureCache, key_digest, missing_spans, provider_digest, read_calendar
from kronos_quant.factors.config import KronosFactorConfig
from kronos_quant.factors.crossfit import Fold, assign_folds, walk_forward_plan, yearly_kfold_plan
from kronos_quant.factors.features import feature_names, window_features
from kronos_quant.inference.pair import load_pair
from kronos_quant.inference.sampling import window_uniforms
from kronos_quant.io_utils import atomic_write
from kronos_quant.model.checkpoint import CONFIG_NAME, WEIGHTS_NAME, sha256_of

logger = logging.getLogger(__name__)

FOLD_COLUMN = "kronos_fold"  # provenance: the fold whose model scored the row (not a feature)
BLOCK_DAYS = 63  # trading days scored and cached per block (an interrupted fill resumes from its last block)


def fold_plan(config: KronosFactorConfig, start, end) -> tuple[Fold, ...]:
    """The cross-fitting folds that score decision dates ``[start, end]``."""
    if config.scheme == "walk_forward":
        return walk_forward_plan((start, end), history_start=config.history_start, refit_years=config.refit_years,
                                 valid_months=config.valid_months, max_train_years=config.max_train_years,
                                 embargo_days=config.embargo_days)
    return yearly_kfold_plan((start, end), history_start=config.history_start, data_end=config.data_end,
                             k=config.k, valid_months=config.valid_months, embargo_days=config.embargo_days)


class DataDigest:
    """Memoised ``end -> provider_digest`` of the config's provider and universe."""

    def __init__(self, config: KronosFactorConfig):
        self.provider = Path(config.provider_uri).expanduser().resolve()
        self.universe = config.instruments
        self.memo: dict[pd.Timestamp, str] = {}

    def __call__(self, end) -> str:
        end = pd.Timestamp(end)
        if end not in self.memo:
            self.memo[end] = provider_digest(self.provider, self.universe, end)
        return self.memo[end]


def kronos_features(config: KronosFactorConfig, start, end) -> pd.DataFrame:
    """Features (columns :func:`~kronos_quant.factors.features.feature_names` + ``kronos_fold``)
    of every window whose decision date lies in ``[start, end]``, indexed (datetime, instrument).

    A ValueError when a trading day of the range gets no feature row (no fold, no lookback, or no
    future calendar days at the end of the data): the features cannot cover that segment.
    """
    _init_provider(config)
    calendar = read_calendar(Path(config.provider_uri).expanduser(), "day")
    dates = calendar[(calendar >= pd.Timestamp(start)) & (calendar <= pd.Timestamp(end))]
    if len(dates) == 0:
        raise ValueError(f"no trading days between {start} and {end} in {config.provider_uri}")
    folds = fold_plan(config, dates[0], dates[-1])
    owner = assign_folds(dates, folds, embargo_days=config.embargo_days)
    digest, cache = DataDigest(config), FeatureCache(Path(config.work_dir).expanduser() / "cache")
    frames = []
    for number, fold in enumerate(folds):
        if (owner == number).any():
            frame = _fold_features(config, fold, dates[owner == number], calendar, cache, digest)
            frames.append(frame.assign(**{FOLD_COLUMN: fold.name}))
    features = pd.concat(frames).sort_index()
    found = features.index.get_level_values("datetime").unique()
    uncovered = dates.difference(found)
    if len(uncovered):
        raise ValueError(f"Kronos features cannot cover {len(uncovered)} requested trading days (first "
                         f"{uncovered[0]:%Y-%m-%d}): no instrument has {config.forecast.lookback} traded bars of "
                         f"lookback and {config.forecast.horizon} calendar days ahead there; start the segment "
                         "later, end it earlier, or shorten forecast.lookback/horizon")
    return features


def _fold_features(config, fold: Fold, dates, calendar, cache: FeatureCache, digest: DataDigest) -> pd.DataFrame:
    tokenizer_dir, predictor_dir = train_fold(config, fold, digest)
    key = {"tokenizer": checkpoint_digest(tokenizer_dir), "predictor": checkpoint_digest(predictor_dir),
           **config.feature_spec()}
    cached, missing = cache.lookup(key, dates, digest)
    parts = [] if cached is None else [cached]
    if len(missing):
        pair = load_pair(tokenizer_dir, predictor_dir, _device(config))
        for span_start, span_end in missing_spans(missing, calendar):
            windows = span_windows(config, span_start, span_end)  # one provider load per span
            for block_start, block_end in _blocks(span_start, span_end, calendar):
                began = time.perf_counter()
                frame = score_windows(config, pair, windows, block_start, block_end)
                cache.store(key, frame, block_start, block_end, digest(block_end))
                logger.info("fold %s: scored %s..%s, %d rows in %.1f s", fold.name, f"{block_start:%Y-%m-%d}",
                            f"{block_end:%Y-%m-%d}", len(frame), time.perf_counter() - began)
                parts.append(frame)
    else:
        logger.info("fold %s: %d days from the feature cache", fold.name, len(dates))
    return pd.concat(parts).sort_index()


def _blocks(first, last, calendar: pd.DatetimeIndex):
    """Split the calendar days of [first, last] into pieces of at most BLOCK_DAYS trading days."""
    days = calendar[(calendar >= first) & (calendar <= last)]
    for start in range(0, len(days), BLOCK_DAYS):
        piece = days[start:start + BLOCK_DAYS]
        yield piece[0], piece[-1]


def span_windows(config: KronosFactorConfig, start, end):
    """Inference KronosWindows of every decision date in ``[start, end]`` (bars from
    ``history_margin_days`` before ``start``: a stock needs its lookback of traded bars in there)."""
    from kronos_quant.qlib_ext.dataset import KronosDataset

    start, end = pd.Timestamp(start), pd.Timestamp(end)
    load_from = start - pd.Timedelta(days=int(config.history_margin_days))
    dataset = KronosDataset(handler=_handler(config, load_from, end), segments={"score": (start, end)},
                            lookback=int(config.forecast.lookback), horizon=int(config.forecast.horizon))
    return dataset.prepare("score", mode="inference")


def score_windows(config: KronosFactorConfig, pair, windows, start, end) -> pd.DataFrame:
    """Features of the windows whose decision date lies in ``[start, end]`` (one model)."""
    dates = windows.index.get_level_values("datetime")
    rows = np.flatnonzero((dates >= pd.Timestamp(start)) & (dates <= pd.Timestamp(end)))
    index = windows.index[rows]
    forecast = config.forecast
    uniforms = window_uniforms(index, int(forecast.sample_count), int(forecast.horizon), seed=int(forecast.seed))
    values = window_features(pair, windows.x[rows], windows.x_stamp[rows], windows.y_stamp[rows], forecast,
                             uniforms, horizons=config.horizons, memory_budget_gb=float(config.memory_budget_gb))
    return pd.DataFrame(values, index=index, columns=feature_names(config.horizons))


def train_fold(config: KronosFactorConfig, fold: Fold, digest: DataDigest) -> tuple[str, str]:
    """(tokenizer_dir, predictor_dir) of the fold's model, trained on its seen spans only.

    Reused from ``<work_dir>/models/<fold>_<digest>`` when the fold, the model spec and the data
    up to the fold's last seen day are unchanged.
    """
    from kronos_quant.training import train_kronos
    from kronos_quant.training.config import config_from_dict

    last_seen = max(span[1] for span in fold.seen)
    spec = {"fold": fold.to_dict(), "model": config.model_spec(), "data": digest(last_seen)}
    folder = Path(config.work_dir).expanduser().resolve() / "models" / f"{fold.name}_{key_digest(spec)[:16]}"
    done = folder / "done.json"
    if done.is_file():
        paths = _finished_fold(done)
        if paths is not None:
            return paths["tokenizer"], paths["predictor"]
    began = time.perf_counter()
    train = _span_arrays(config, fold.train)
    valid = _span_arrays(config, (fold.valid,))
    common = {"device": config.device, **dict(config.train)}
    tok_config = config_from_dict({**common, "model": config.tokenizer, "from_scratch": True,
                                   "out_dir": str(folder / "tokenizer")}, where=f"fold {fold.name} tokenizer")
    pred_config = config_from_dict({**common, "model": config.predictor, "from_scratch": True,
                                    "out_dir": str(folder / "predictor")}, where=f"fold {fold.name} predictor")
    tokenizer_dir, predictor_dir = train_kronos(tok_config, pred_config, train, valid)
    paths = {"tokenizer": str(Path(tokenizer_dir).resolve()), "predictor": str(Path(predictor_dir).resolve()),
             "fold": fold.to_dict(), "train_windows": len(train), "valid_windows": len(valid),
             "seconds": round(time.perf_counter() - began, 1)}
    atomic_write(done, lambda path: Path(path).write_text(json.dumps(paths, indent=1)))  # never half a done.json
    logger.info("fold %s: trained on %d windows in %.1f s", fold.name, len(train), paths["seconds"])
    return paths["tokenizer"], paths["predictor"]


def _finished_fold(done: Path) -> dict | None:
    """The fold's ``done.json`` when it is readable and its checkpoint dirs hold weights; else None (logged:
    the fold is trained again rather than failing or serving a model that is not there)."""
    try:
        paths = json.loads(done.read_text())
        dirs = [Path(paths["tokenizer"]), Path(paths["predictor"])]
    except (OSError, ValueError, KeyError, TypeError) as err:
        logger.warning("%s is unreadable (%s: edited or truncated); training the fold again", done, type(err).__name__)
        return None
    missing = [str(d) for d in dirs if not (d / WEIGHTS_NAME).is_file() or not (d / CONFIG_NAME).is_file()]
    if missing:
        logger.warning("%s names checkpoints without weights or config (%s); training the fold again", done,
                       ", ".join(missing))
        return None
    return paths


def _span_arrays(config: KronosFactorConfig, spans):
    """Training WindowArrays whose bars (lookback and targets) all lie inside one span, concatenated.

    KronosDataset reads up to ``2 * lookback + 20`` sessions of history before a segment's start,
    so each span's decision dates start that many sessions after the span does.
    """
    from qlib.data import D

    from kronos_quant.qlib_ext.dataset import KronosDataset
    from kronos_quant.qlib_ext.training_data import windows_to_arrays
    from kronos_quant.training.datasets import WindowArrays

    lookback = int(config.forecast.lookback) + 1  # the predictor's next-token shift
    parts = []
    for start, end in spans:
        sessions = pd.DatetimeIndex(D.calendar(start_time=start, end_time=end, freq="day"))
        reach = 2 * lookback + 20
        if len(sessions) <= reach + int(config.forecast.horizon):
            raise ValueError(f"span {start:%Y-%m-%d}..{end:%Y-%m-%d} has {len(sessions)} sessions, too few for "
                             f"{reach} sessions of history plus a horizon; lengthen it or shorten the lookback")
        dataset = KronosDataset(handler=_handler(config, start, end), segments={"train": (sessions[reach], end)},
                                lookback=lookback, horizon=int(config.forecast.horizon))
        parts.append(windows_to_arrays(dataset.prepare("train", mode="train"), clip=float(config.forecast.clip)))
    if len(parts) == 1:
        return parts[0]
    return WindowArrays(np.concatenate([p.bars for p in parts]), np.concatenate([p.stamps for p in parts]))


def checkpoint_digest(folder) -> str:
    """sha256 over a checkpoint's config.json and model.safetensors."""
    folder = Path(folder)
    return sha256_of(folder / CONFIG_NAME)[:16] + sha256_of(folder / WEIGHTS_NAME)


def _handler(config: KronosFactorConfig, start, end) -> dict:
    return {"class": "KronosHandler", "module_path": "kronos_quant.qlib_ext.handler",
            "kwargs": {"instruments": config.instruments, "start_time": f"{pd.Timestamp(start):%Y-%m-%d}",
                       "end_time": f"{pd.Timestamp(end):%Y-%m-%d}"}}


def _device(config: KronosFactorConfig):
    import torch

    return torch.device(config.device)


def _init_provider(config: KronosFactorConfig) -> None:
    """qlib.init on the config's provider unless qlib already points there (qrun has done it)."""
    from kronos_quant.qlib_ext.qlib_setup import init_qlib

    init_qlib(provider_uri=config.provider_uri, reuse=True)
