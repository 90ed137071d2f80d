"""The CSI300 volatility study, Qlib-facing: train a small Kronos, sample paths, keep the bars.

Three steps, each saving what the next needs so a long CPU run can be resumed step by step:

1. :func:`train_study_model`: a small Kronos (tokenizer + predictor) from scratch on the train years,
   with early stopping on the validation segment. Train windows are a seeded 1-in-``every`` subsample of
   decision dates per year (the full 2010-2021 set is ~0.9M windows, ~5 GB of arrays).
2. :func:`forecast_segment`: price-space sample paths ``(N, P, H, 6)`` for every ``every``-th trading
   day of a segment (each window normalised on its own lookback, :mod:`kronos_quant.qlib_ext.scoring`).
3. :func:`load_close_panel`: the raw daily bars (dates x instruments) that the baselines and the
   realised volatility are computed from (research/volatility.py, research/vol_baselines.py).

Each step checks what the one before left: the model folder records the lookback and horizon it was
trained with (``study_model.json``, :func:`check_trained_model`), each paths file records its forecast
settings (:func:`save_forecast`), and :func:`evaluate_forecasts` refuses valid/test paths of different
horizons or lookbacks, or too short for the evaluated horizons, rather than scoring them together.
"""
from __future__ import annotations

import json
import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kronos_quant.qlib_ext.training_data import init_qlib_provider, windows_to_arrays
from kronos_quant.training.datasets import WindowArrays

logger = logging.getLogger(__name__)

HANDLER = {"class": "KronosHandler", "module_path": "kronos_quant.qlib_ext.handler"}
MODEL_SETTINGS = "study_model.json"  # beside tokenizer/ and predictor/: what the model was trained with

# small CPU architectures (config fields): ~0.1M parameters per network
STUDY_TOKENIZER = {"d_in": 6, "d_model": 64, "n_heads": 4, "ff_dim": 128, "n_enc_layers": 2, "n_dec_layers": 2,
                   "s1_bits": 8, "s2_bits": 8, "group_size": 4}
STUDY_PREDICTOR = {"s1_bits": 8, "s2_bits": 8, "n_layers": 3, "d_model": 64, "n_heads": 4, "ff_dim": 128}


@dataclass(frozen=True)
class StudyData:
    """Where the study's windows come from."""

    provider_uri: str  # Qlib data dir
    instruments: str = "csi300"  # universe
    lookback: int = 60  # bars Kronos sees
    horizon: int = 20  # bars forecast (horizons 1/5/10/20 need 20)

    def __post_init__(self) -> None:
        if self.lookback < 2 or self.horizon < 1:
            raise ValueError(f"lookback must be >= 2 and horizon >= 1, got {self.lookback}, {self.horizon}")


def make_dataset(data: StudyData, segments: dict, *, lookback: int | None = None):
    """A KronosDataset over ``segments`` with history loaded from 100 trading days before the first."""
    from kronos_quant.qlib_ext.dataset import KronosDataset

    init_qlib_provider(data.provider_uri)
    starts = sorted(pd.Timestamp(start) for start, _ in segments.values())
    ends = sorted(pd.Timestamp(end) for _, end in segments.values())
    history_start = starts[0] - pd.Timedelta(days=2 * (data.lookback + 30))
    handler = dict(HANDLER, kwargs={"instruments": data.instruments, "start_time": f"{history_start:%Y-%m-%d}",
                                    "end_time": f"{ends[-1]:%Y-%m-%d}"})
    return KronosDataset(handler=handler, segments=segments, lookback=lookback or data.lookback,
                         horizon=data.horizon)


def subsample_dates(index: pd.MultiIndex, every: int, *, offset: int = 0) -> np.ndarray:
    """Boolean mask (N,) keeping rows whose decision date is every ``every``-th distinct date."""
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    dates = index.get_level_values("datetime")
    unique = pd.DatetimeIndex(dates.unique()).sort_values()
    kept = unique[offset % every::every]
    return np.asarray(dates.isin(kept))


def segment_arrays(data: StudyData, start: str, end: str, *, every: int) -> WindowArrays:
    """Training WindowArrays (lookback + 1 + horizon bars) of one period, 1-in-``every`` dates."""
    dataset = make_dataset(data, {"seg": (start, end)}, lookback=data.lookback + 1)
    windows = dataset.prepare("seg", mode="train")
    keep = subsample_dates(windows.index, every)
    arrays = windows_to_arrays(windows, clip=5.0)
    return WindowArrays(arrays.bars[keep], arrays.stamps[keep])


def study_window_arrays(data: StudyData, train: tuple[str, str], valid: tuple[str, str], *,
                        every: int = 4) -> tuple[WindowArrays, WindowArrays]:
    """(train, valid) arrays; train built one year at a time to bound memory."""
    first, last = pd.Timestamp(train[0]).year, pd.Timestamp(train[1]).year
    parts = []
    for year in range(first, last + 1):
        start = max(pd.Timestamp(train[0]), pd.Timestamp(f"{year}-01-01"))
        end = min(pd.Timestamp(train[1]), pd.Timestamp(f"{year}-12-31"))
        parts.append(segment_arrays(data, f"{start:%Y-%m-%d}", f"{end:%Y-%m-%d}", every=every))
        logger.info("train year %d: %d windows", year, len(parts[-1].bars))
    train_arrays = WindowArrays(np.concatenate([p.bars for p in parts]), np.concatenate([p.stamps for p in parts]))
    valid_arrays = segment_arrays(data, valid[0], valid[1], every=every)
    return train_arrays, valid_arrays


def train_study_model(data: StudyData, train: tuple[str, str], valid: tuple[str, str], out_dir: str | Path, *,
                      every: int = 4, max_steps: int = 1500, batch_size: int = 64) -> tuple[Path, Path]:
    """Train the study tokenizer then predictor from scratch; returns their best checkpoint dirs."""
    from kronos_quant.training import TrainConfig, fit_predictor, fit_tokenizer

    train_arrays, valid_arrays = study_window_arrays(data, train, valid, every=every)
    logger.info("training on %d windows, validating on %d", len(train_arrays.bars), len(valid_arrays.bars))
    out = Path(out_dir)
    settings = {"lookback": data.lookback, "horizon": data.horizon, "instruments": data.instruments,
                "train": list(train), "valid": list(valid), "every": every, "max_steps": max_steps}
    _write_settings(out, {**settings, "complete": False})  # until both networks are trained
    common = dict(from_scratch=True, lr=2e-3, warmup_steps=50, batch_size=batch_size, epochs=1,
                  max_steps=max_steps, windows_per_epoch=max_steps * batch_size, valid_windows=2048,
                  eval_every=max(max_steps // 10, 1), patience=4, seed=7, device="cpu", log_every=50)
    tok = fit_tokenizer(TrainConfig(model=dict(STUDY_TOKENIZER), out_dir=str(out / "tokenizer"), **common),
                        train_arrays, valid_arrays)
    logger.info("tokenizer: %d steps, best val %.5f", tok.steps, tok.best_val_loss)
    pred = fit_predictor(TrainConfig(model=dict(STUDY_PREDICTOR), tokenizer=str(tok.best_dir),
                                     out_dir=str(out / "predictor"), **common), train_arrays, valid_arrays)
    logger.info("predictor: %d steps, best val %.5f", pred.steps, pred.best_val_loss)
    _write_settings(out, {**settings, "complete": True})
    return Path(tok.best_dir), Path(pred.best_dir)


def _write_settings(out: Path, settings: dict) -> None:
    from kronos_quant.io_utils import atomic_write

    atomic_write(out / MODEL_SETTINGS, lambda path: Path(path).write_text(json.dumps(settings, indent=1)))


def check_trained_model(out_dir: str | Path, data: StudyData, *, train_command: str) -> tuple[Path, Path]:
    """(tokenizer, predictor) best checkpoint dirs of the train step; a ValueError when the step has not run
    (naming ``train_command``) or ran with another lookback/horizon than ``data``."""
    out = Path(out_dir)
    dirs = (out / "tokenizer" / "best", out / "predictor" / "best")
    missing = [str(d) for d in dirs if not d.is_dir()]
    if missing:
        raise ValueError(f"no trained model in {out} ({', '.join(missing)} missing): run `{train_command}` first, "
                         "or point --out at the folder the train step wrote")
    settings_path = out / MODEL_SETTINGS
    if settings_path.is_file():
        trained = json.loads(settings_path.read_text())
        if not trained.get("complete", True):
            raise ValueError(f"the train step in {out} did not finish (interrupted?), so its checkpoints are not the "
                             f"final ones: rerun `{train_command}`")
        for name in ("lookback", "horizon"):
            if int(trained[name]) != int(getattr(data, name)):
                raise ValueError(f"the model in {out} was trained with --{name} {trained[name]}, this step has "
                                 f"--{name} {getattr(data, name)}; use the same value in every step, or retrain")
    else:
        logger.warning("%s has no %s (trained by an older version): its lookback/horizon cannot be checked", out,
                       MODEL_SETTINGS)
    return dirs


def forecast_segment(model, dataset, segment: str, *, every: int = 1) -> tuple[pd.MultiIndex, np.ndarray, np.ndarray]:
    """Sample paths of every ``every``-th decision date of ``segment``.

    Args:
        model: a fitted :class:`~kronos_quant.qlib_ext.model.KronosModel` (its forecast settings give the
            horizon, temperature, sample_count and seed); dataset: a KronosDataset covering them.
    Returns:
        index (datetime, instrument) (N,), paths float32 (N, P, H, 6) in price units, last_close (N,).
    """
    windows = model.prepare_windows(dataset, segment)
    keep = subsample_dates(windows.index, every)
    index = windows.index[keep]
    if len(index) == 0:
        raise ValueError(f"segment {segment!r} has no forecast windows (every {every}); widen the segment or use "
                         "a provider that covers it")
    settings = model.forecast_settings
    logger.info("segment %s: forecasting %d windows (%d dates), %d paths x %d bars", segment, len(index),
                index.get_level_values("datetime").nunique(), settings.sample_count, settings.horizon)
    result = model.forecast_rows(windows.x[keep], windows.x_stamp[keep], windows.y_stamp[keep], index)
    return index, result.paths, result.last_close


def save_forecast(path: str | Path, index: pd.MultiIndex, paths: np.ndarray, last_close: np.ndarray, *,
                  settings: dict | None = None) -> None:
    """``.npz`` with datetime (ns ints), instrument (str), paths, last_close and ``settings`` (JSON: the
    forecast's lookback, horizon, temperature, ... read back by :func:`forecast_file_settings`)."""
    from kronos_quant.io_utils import atomic_write

    arrays = dict(datetime=index.get_level_values("datetime").values.astype("datetime64[ns]").astype(np.int64),
                  instrument=np.asarray(index.get_level_values("instrument"), dtype=str), paths=paths,
                  last_close=last_close, settings=np.asarray(json.dumps(settings or {}, sort_keys=True)))

    def write(temporary: str) -> None:
        with open(temporary, "wb") as handle:  # a file object: numpy adds no ".npz" to the temporary name
            np.savez_compressed(handle, **arrays)

    atomic_write(path, write)  # an interrupted forecast step leaves no half-written paths file


def forecast_file_settings(path: str | Path) -> dict:
    """The ``settings`` a paths file was saved with (``{}`` for files written before they were recorded)."""
    with np.load(path) as data:
        return json.loads(str(data["settings"])) if "settings" in data.files else {}


def load_forecast(path: str | Path) -> tuple[pd.MultiIndex, np.ndarray, np.ndarray]:
    """Inverse of :func:`save_forecast`; a ValueError naming the file when it is not a complete paths file."""
    try:
        data = np.load(path)
        data.files  # noqa: B018 -- reads the zip directory: a truncated file fails here
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(f"{path} is not a readable paths file ({type(err).__name__}: {err}); run the forecast "
                         "step for it again") from None
    index = pd.MultiIndex.from_arrays([pd.to_datetime(data["datetime"]), data["instrument"]],
                                      names=["datetime", "instrument"])
    return index, data["paths"], data["last_close"]


def load_bars(instruments: list[str], start: str, end: str) -> pd.DataFrame:
    """Raw daily open/high/low/close/volume indexed (datetime, instrument) from the initialised provider."""
    from qlib.data import D

    frame = D.features(sorted(set(instruments)), ["$open", "$high", "$low", "$close", "$volume"],
                       start_time=start, end_time=end, freq="day")
    frame.columns = ["open", "high", "low", "close", "volume"]
    return frame.swaplevel().sort_index().rename_axis(["datetime", "instrument"])


def check_forecast_pair(valid: tuple, test: tuple, horizons) -> None:
    """ValueErrors for forecasts that cannot be evaluated together: an empty segment, valid and test paths of
    different horizons (the spread scale fitted on one would be applied to the other), or paths shorter than
    the largest evaluated horizon."""
    for name, (index, paths, _) in (("valid", valid), ("test", test)):
        if len(index) == 0:
            raise ValueError(f"the {name} forecasts are empty; forecast the {name} segment on a provider that "
                             "covers it")
        if paths.ndim != 4 or paths.shape[-1] != 6:
            raise ValueError(f"the {name} paths have shape {paths.shape}; expected (N, P, H, 6) from forecast_segment")
    valid_h, test_h = valid[1].shape[2], test[1].shape[2]
    if valid_h != test_h:
        raise ValueError(f"mismatched horizons: the valid paths have {valid_h} bars, the test paths {test_h}; "
                         "forecast both segments with the same --horizon")
    if valid_h < max(horizons):
        raise ValueError(f"the paths have {valid_h} bars but horizons {list(horizons)} are evaluated; forecast with "
                         f"--horizon {max(horizons)} or more")


def evaluate_forecasts(valid: tuple, test: tuple, bars: pd.DataFrame, config) -> tuple[dict, dict]:
    """Fit the spread scale on the valid forecasts only, then score the test forecasts.

    Args:
        valid, test: ``(index, paths, last_close)`` as returned by :func:`forecast_segment`.
        bars: raw daily bars of their instruments (:func:`load_bars`), with history for the baselines.
        config: :class:`~kronos_quant.research.vol_evaluation.VolEvalConfig`; its ``date_step`` is set from
            the test dates (forecasts every n-th trading day overlap for ceil(h / n) dates, not h).
    Returns:
        ``(tables, spread_scales {h: SpreadScale})``.
    """
    import dataclasses

    from kronos_quant.research.vol_evaluation import (
        evaluate,
        fit_spread_scales,
        infer_date_step,
        kronos_forecasts,
        outcomes,
    )

    check_forecast_pair(valid, test, config.horizons)
    from kronos_quant.research.volatility import realised_volatility, traded_series

    calendar = bars.index.get_level_values("datetime").unique().sort_values()
    config = dataclasses.replace(config, date_step=infer_date_step(test[0].get_level_values("datetime"), calendar))

    valid_forecasts = kronos_forecasts(valid[1], valid[2], valid[0], config.horizons)
    valid_realised = realised_volatility(traded_series(bars), valid_forecasts.index, config.horizons)
    scales = fit_spread_scales(valid_forecasts, valid_realised)  # validation rows only
    test_forecasts = kronos_forecasts(test[1], test[2], test[0], config.horizons)
    tables = evaluate(test_forecasts, outcomes(bars, test_forecasts.index, config), config,
                      spread_scales={h: s.scale for h, s in scales.items()})
    tables["rows"] = pd.DataFrame([{"segment": "valid", "rows": len(valid[0]), "dropped": valid_forecasts.dropped},
                                   {"segment": "test", "rows": len(test[0]), "dropped": test_forecasts.dropped}])
    return tables, scales
