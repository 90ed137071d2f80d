"""The typed, frozen config of ``kronos-quant pretrain``, loadable from YAML.

A YAML file holds the :class:`PretrainConfig` fields; ``tokenizer`` and ``predictor`` are
:class:`~kronos_quant.training.config.TrainConfig` mappings (without ``data``, ``out_dir`` or
``tokenizer``: the pretraining run sets those)::

    provider_uri: ../shared/data/qlib_cn_csi300
    instruments: all            # universe name, regex:<pattern>, or a list of codes
    valid_start: 2020-01-02     # training bars end before it; validation windows' future bars lie in [it, cut]
    cut: 2020-12-31             # the last bar pretraining may see
    lookback: 90
    horizon: 10
    sampling: {instruments: windows, half_life: null}
    rank_ic: {dates: 8, paths: 2, seed: 0}
    tokenizer: {model: {...}, batch_size: 64, max_steps: 500, windows_per_epoch: 32000, ...}
    predictor: {model: {...}, ...}

See configs/pretrain_tiny.yaml, pretrain_cpu.yaml and pretrain_gpu.yaml.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from kronos_quant.training.config import TrainConfig, _build
from kronos_quant.training.pretrain_sampler import SamplingWeights

# settings that change where or how visibly a run happens, not what it computes (the provider's
# folder is one: its bars enter the key through the data digest, so a copy elsewhere reuses the run)
_KEY_NEUTRAL = {"provider_uri", "out_dir", "resume", "mlflow", "cache", "device", "log_every", "compile"}


@dataclass(frozen=True)
class RankICConfig:
    """Validation RankIC of the predictor's signal on a fixed sample of validation dates."""

    dates: int = 8  # validation dates scored (a fixed, seeded sample); 0 disables the score
    paths: int = 2  # sample paths per instrument and date
    seed: int = 0  # fixes the dates and the sampling uniforms
    temperature: float = 1.0  # sampling temperature of the paths
    top_p: float = 0.9  # nucleus of the paths
    max_instruments: int = 300  # per date, a fixed seeded subset when more trade

    def __post_init__(self) -> None:
        if self.dates < 0 or self.paths < 1 or self.max_instruments < 5:
            raise ValueError(f"rank_ic: dates must be >= 0, paths >= 1 and max_instruments >= 5, got {self}")


@dataclass(frozen=True)
class PretrainConfig:
    """One pretraining run: tokenizer, then predictor, on every window of a provider up to ``cut``."""

    provider_uri: str  # Qlib data dir (read without qlib)
    cut: str  # last date any pretraining bar may carry (YYYY-MM-DD)
    valid_start: str  # training bars end the day before; validation windows predict bars from this day on
    instruments: str | tuple[str, ...] = "all"  # universe name, regex:<pattern>, or codes
    start: str | None = None  # first bar used (default: the provider's first)
    lookback: int = 90  # context bars are lookback + 1 (Kronos' lookback + horizon + 1 bars per window)
    horizon: int = 10
    clip: float = 5.0  # normalised values are clipped to +-clip
    sampling: SamplingWeights = SamplingWeights()
    rank_ic: RankICConfig = RankICConfig()
    out_dir: str = "outputs/pretrain"  # the run lands in out_dir/<key>/ (key: config + data digest)
    cache: bool = True  # reuse a finished run with the same key
    resume: bool = False  # continue an interrupted run with the same key
    mlflow: bool = True  # log params, curves and the model card to out_dir/mlflow.db
    ensemble: int = 1  # predictor seeds (predictor.seed + k) on the one tokenizer; their mean signal is scored too
    tokenizer: TrainConfig = TrainConfig()
    predictor: TrainConfig = TrainConfig()

    def __post_init__(self) -> None:
        try:
            start, valid_start, cut = (None if self.start is None else pd.Timestamp(self.start),
                                       pd.Timestamp(self.valid_start), pd.Timestamp(self.cut))
        except ValueError as err:
            raise ValueError(f"pretrain: start, valid_start and cut must be dates (YYYY-MM-DD): {err}") from None
        if not valid_start <= cut or (start is not None and not start < valid_start):
            raise ValueError(f"pretrain: need start < valid_start <= cut, got {self.start}, {self.valid_start}, "
                             f"{self.cut}")
        if self.ensemble < 1:
            raise ValueError(f"pretrain.ensemble must be >= 1 predictor seeds, got {self.ensemble}")
        if self.lookback < 2 or self.horizon < 1 or self.clip <= 0:
            raise ValueError(f"pretrain: lookback must be >= 2, horizon >= 1, clip > 0; got {self.lookback}, "
                             f"{self.horizon}, {self.clip}")
        for name in ("tokenizer", "predictor"):
            stage = getattr(self, name)
            if stage.windows_per_epoch is None or stage.valid_windows is None:
                raise ValueError(f"pretrain.{name}: set windows_per_epoch and valid_windows (windows are sampled "
                                 "on the fly; an epoch of every window would not fit in memory)")
            if stage.data is not None or stage.tokenizer is not None:
                raise ValueError(f"pretrain.{name}: leave out data and tokenizer; the pretraining run sets them")
        if self.tokenizer.select_on != "loss":
            raise ValueError("pretrain.tokenizer.select_on must be loss (RankIC scores the predictor's signal)")
        if self.predictor.select_on == "rank_ic" and self.rank_ic.dates == 0:
            raise ValueError("pretrain.predictor.select_on: rank_ic needs rank_ic.dates >= 1")

    @property
    def window_length(self) -> int:
        """Bars per window: lookback + 1 context bars and horizon future bars."""
        return self.lookback + 1 + self.horizon

    def key_fields(self) -> dict[str, Any]:
        """The fields that decide what the run computes (what the cache key digests)."""
        values = dataclasses.asdict(self)
        for name in ("tokenizer", "predictor"):
            values[name] = {k: v for k, v in values[name].items() if k not in _KEY_NEUTRAL}
        return {k: v for k, v in values.items() if k not in _KEY_NEUTRAL}

    def digest(self) -> str:
        """sha256 of :meth:`key_fields` (canonical JSON)."""
        text = json.dumps(self.key_fields(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def replace(self, **changes) -> PretrainConfig:
        return dataclasses.replace(self, **changes)


def pretrain_config_from_dict(values: Mapping[str, Any], where: str = "pretrain config") -> PretrainConfig:
    """A PretrainConfig from a plain mapping (as parsed from YAML)."""
    if not isinstance(values, Mapping):
        raise TypeError(f"{where} must be a mapping of PretrainConfig fields, got {type(values).__name__}")
    values = dict(values)
    nested = {"sampling": SamplingWeights, "rank_ic": RankICConfig, "tokenizer": TrainConfig,
              "predictor": TrainConfig}
    for name, cls in nested.items():
        if name in values:
            values[name] = _build(cls, values[name] or {}, f"{where}: {name}")
    return _build(PretrainConfig, values, where)  # lists become tuples, dates ISO strings


def load_pretrain_config(path: str | Path, **overrides) -> PretrainConfig:
    """Read a pretraining YAML; ``overrides`` (None values ignored) replace top-level fields."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pretraining config {path} does not exist; see configs/pretrain_tiny.yaml")
    with open(path, encoding="utf-8") as handle:
        values = yaml.safe_load(handle) or {}
    values.update({k: v for k, v in overrides.items() if v is not None})
    return pretrain_config_from_dict(values, where=str(path))


def latest_allowed_cut(first_test_day, *, label_span: int, calendar: pd.DatetimeIndex) -> pd.Timestamp:
    """The last pretraining cut a study may use: the trading day before (first test day - label span days).

    Labels of the days just before a test period look ``label_span`` trading days ahead, into it; a
    foundation model trained on those bars would have seen the test period's prices.
    """
    calendar = pd.DatetimeIndex(calendar)
    position = int(calendar.searchsorted(pd.Timestamp(first_test_day))) - label_span - 1
    if label_span < 0 or position < 0:
        raise ValueError(f"no pretraining cut fits before {first_test_day} minus {label_span} label days in a "
                         f"calendar starting {calendar[0]:%Y-%m-%d}; move the test period later")
    return calendar[position]


def check_cut_before_test(cut, first_test_day, *, label_span: int, calendar: pd.DatetimeIndex) -> None:
    """ValueError when pretraining bars up to ``cut`` would reach the first test period (see latest_allowed_cut)."""
    latest = latest_allowed_cut(first_test_day, label_span=label_span, calendar=calendar)
    if pd.Timestamp(cut) > latest:
        raise ValueError(f"pretraining cut {pd.Timestamp(cut):%Y-%m-%d} lets pretraining see bars of the test period "
                         f"starting {pd.Timestamp(first_test_day):%Y-%m-%d} (labels span {label_span} trading days); "
                         f"set cut: {latest:%Y-%m-%d} or earlier in the pretraining config, or start the test later")

