"""KronosFactorConfig: one frozen, validated description of a Kronos feature build (no qlib here).

As a YAML mapping (the ``kronos`` argument of
:class:`~kronos_quant.qlib_ext.kronos_factor_handler.Alpha158Kronos`)::

    provider_uri: ../shared/data/qlib_cn_csi300
    instruments: csi300
    forecast: {lookback: 40, horizon: 10, T: 1.0, top_p: 0.9, sample_count: 4}
    horizons: [1, 2, 5, 10]
    scheme: walk_forward            # walk_forward | kfold  (see kronos_quant.factors.crossfit)
    history_start: 2010-01-04       # first bar any fold model may train on
    refit_years: 2                  # walk_forward: one model per block of years
    max_train_years: 3              # walk_forward: rolling (not expanding) training window; null = expanding
    tokenizer: {d_model: 32, ...}   # TokenizerConfig fields or a preset name; trained from scratch per fold
    predictor: {d_model: 64, ...}   # KronosConfig fields or a preset name
    train: {lr: 3.0e-3, batch_size: 64, epochs: 1, windows_per_epoch: 6400, ...}   # TrainConfig fields
    work_dir: outputs/kronos_factors   # models/ and cache/ live here
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kronos_quant.factors.crossfit import DEFAULT_EMBARGO_DAYS
from kronos_quant.factors.features import DEFAULT_HORIZONS, check_horizons
from kronos_quant.qlib_ext.model_settings import ForecastSettings, build_settings

SCHEMES = ("walk_forward", "kfold")
OWNED_TRAIN_FIELDS = ("model", "from_scratch", "tokenizer", "out_dir", "data", "resume")


@dataclass(frozen=True)
class KronosFactorConfig:
    """Everything that decides the Kronos feature values (and where they are stored)."""

    provider_uri: str  # Qlib data dir
    history_start: str  # first bar a fold model may train on
    instruments: str = "csi300"  # universe name
    forecast: ForecastSettings = field(default_factory=ForecastSettings)
    horizons: tuple[int, ...] = DEFAULT_HORIZONS  # bars ahead of the kronos_ret_* columns
    scheme: str = "walk_forward"  # see kronos_quant.factors.crossfit
    refit_years: int = 1  # walk_forward: years scored per model
    valid_months: int = 12  # early-stopping span before each block (walk_forward) / carved (kfold)
    max_train_years: int | None = None  # walk_forward: cap the training span (rolling window)
    k: int = 3  # kfold: number of folds
    data_end: str | None = None  # kfold: last bar of the data the folds may train on
    embargo_days: int = DEFAULT_EMBARGO_DAYS  # calendar days between a model's data and its scored dates
    history_margin_days: int = 400  # calendar days the handler loads before a scored date (membership rows)
    tokenizer: Any = "tokenizer-base"  # TokenizerConfig fields (mapping) or a preset name
    predictor: Any = "mini"  # KronosConfig fields (mapping) or a preset name
    train: Mapping = field(default_factory=dict)  # TrainConfig fields for both networks
    work_dir: str = "outputs/kronos_factors"
    memory_budget_gb: float = 1.0  # per forecast chunk
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {SCHEMES}, got {self.scheme!r}")
        object.__setattr__(self, "horizons", check_horizons(self.horizons, self.forecast.horizon))
        for name in ("refit_years", "valid_months", "k", "embargo_days", "history_margin_days"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_train_years is not None and int(self.max_train_years) < 1:
            raise ValueError(f"max_train_years must be >= 1 or null, got {self.max_train_years}")
        if self.scheme == "kfold" and self.data_end is None:
            raise ValueError("scheme kfold trains on years after each fold too: set data_end (last usable bar)")
        owned = sorted(set(self.train) & set(OWNED_TRAIN_FIELDS))
        if owned:
            raise ValueError(f"train: {owned} are set per fold by the feature builder; remove them")
        if not float(self.memory_budget_gb) > 0:
            raise ValueError(f"memory_budget_gb must be > 0, got {self.memory_budget_gb}")

    @classmethod
    def from_mapping(cls, values: Mapping) -> KronosFactorConfig:
        """From a YAML-style mapping; ``forecast`` may be a mapping of ForecastSettings fields."""
        if not isinstance(values, Mapping):
            raise TypeError(f"the Kronos feature config must be a mapping, got {type(values).__name__}")
        names = {item.name for item in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"Kronos feature config: unknown keys {unknown}; valid keys are {sorted(names)}")
        given = dict(values)
        given["forecast"] = build_settings(ForecastSettings, given.get("forecast"), {})
        if "horizons" in given:
            given["horizons"] = tuple(given["horizons"])
        for name in ("history_start", "data_end"):
            if given.get(name) is not None:
                given[name] = str(given[name])[:10]
        return cls(**given)

    def model_spec(self) -> dict:
        """What decides a fold model's weights (besides its fold and the data): JSON-ready."""
        return {"tokenizer": _plain(self.tokenizer), "predictor": _plain(self.predictor), "train": _plain(self.train),
                "lookback": int(self.forecast.lookback), "horizon": int(self.forecast.horizon),
                "clip": float(self.forecast.clip), "instruments": self.instruments}

    def feature_spec(self) -> dict:
        """What decides the features of a given model: JSON-ready forecast settings and horizons."""
        forecast = {item.name: getattr(self.forecast, item.name) for item in dataclasses.fields(self.forecast)
                    if item.init}
        return {"forecast": forecast, "horizons": list(self.horizons),
                "instruments": self.instruments, "history_margin_days": int(self.history_margin_days)}


def _plain(value):
    """Mappings/sequences from YAML -> plain JSON types (for digests)."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value
