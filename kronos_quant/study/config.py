"""Typed, frozen configuration of a walk-forward alpha study (no qlib here).

A study YAML (``studies/csi300.yaml``) holds the provider, universe, the first roll window, the roll
step, the signals to compare and the Kronos/LightGBM/backtest settings. Strings may hold environment
placeholders ``${NAME}`` or ``${NAME:-default}``, expanded when the file is read, so the same file runs
on another provider unchanged (``KRONOS_PROVIDER_URI=... kronos-quant study --config ...``).

A ``short:`` section (same layout, any subset of keys) is deep-merged over the file by ``--short``:
the CI mode on the synthetic market.

Windows
-------
``windows.train`` / ``windows.valid`` are the first window's train and validation periods;
``windows.test_start`` .. ``windows.test_end`` is the whole out-of-sample span, cut into test
periods of ``roll_step`` (``yearly``, ``half_yearly``, ``quarterly`` or a number of trading days).
Each later window shifts train/valid by the same step (``rolling: sliding``) or keeps the train
start (``rolling: expanding``). Qlib's ``RollingGen`` does the shifting; ``trunc_days`` trading
days are cut from the end of train/valid so no label (close[t+2]/close[t+1]-1) reaches into the
next period.
"""
from __future__ import annotations

import copy
import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

ROLL_STEPS = {"yearly": 12, "half_yearly": 6, "quarterly": 3}  # months
ROLLING_TYPES = ("sliding", "expanding")
MIN_COST_BP, MAX_COST_BP = 1.0, 1000.0  # plausible round-trip costs in bp (below: a fraction typed as bp)
OFFICIAL_PREFIX = "NeoQuasar/"  # hub ids of the official checkpoints
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_placeholders(value: Any, where: str = "") -> Any:
    """Replace ``${NAME}`` / ``${NAME:-default}`` in every string of a nested YAML value.

    A ``${NAME}`` without default whose variable is unset is a ValueError (never an empty string), and so
    is a ``${`` left over after expansion (a malformed placeholder such as ``${MY DIR}`` or ``${DIR:-x``);
    both name the key (``where``: the dotted path of ``value``).
    """
    if isinstance(value, str):
        at = f" (key {where})" if where else ""

        def substitute(match: re.Match) -> str:
            name, default = match.group(1), match.group(2)
            if name in os.environ:
                return os.environ[name]
            if default is None:
                raise ValueError(f"environment variable {name} is not set{at}; export it or write "
                                 f"${{{name}:-default}}")
            return default

        expanded = _PLACEHOLDER.sub(substitute, value)
        leftover = _PLACEHOLDER.sub("", value)
        if "${" in leftover:
            raise ValueError(f"unresolved placeholder in {value!r}{at}: write ${{NAME}} or ${{NAME:-default}} "
                             "with NAME of letters, digits and '_' (not starting with a digit) and a closing '}'")
        return expanded
    if isinstance(value, Mapping):
        return {key: expand_placeholders(item, f"{where}.{key}" if where else str(key)) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [expand_placeholders(item, f"{where}[{i}]") for i, item in enumerate(value)]
    return value


def deep_merge(base: Mapping, override: Mapping) -> dict:
    """``base`` with ``override`` merged in (mappings recursively, everything else replaced)."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _date(value, where: str) -> pd.Timestamp:
    try:
        return pd.Timestamp(str(value))
    except (ValueError, TypeError) as err:
        raise ValueError(f"{where}: {value!r} is not a date; write YYYY-MM-DD") from err


def _whole(value, where: str, *, minimum: int) -> int:
    """``value`` as an int >= ``minimum``; a ValueError naming ``where`` for 2.5, "50", True or too small."""
    if isinstance(value, bool) or not isinstance(value, int):
        if not (isinstance(value, float) and value.is_integer()):
            raise ValueError(f"{where} must be a whole number, got {value!r}")
    if int(value) < minimum:
        raise ValueError(f"{where} must be >= {minimum}, got {value!r}")
    return int(value)


def _number(value, where: str) -> float:
    """``value`` as a float; a ValueError naming ``where`` for strings such as "20bp"."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{where} must be a number, got {value!r}")
    return float(value)


def _period(value, where: str) -> tuple[str, str]:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ValueError(f"{where} must be [start, end] dates, got {value!r}")
    start, end = _date(value[0], where), _date(value[1], where)
    if start > end:
        raise ValueError(f"{where}: start {start:%Y-%m-%d} is after end {end:%Y-%m-%d}")
    return f"{start:%Y-%m-%d}", f"{end:%Y-%m-%d}"


@dataclass(frozen=True)
class WindowSettings:
    """The first roll window and how it moves (dates are inclusive, YYYY-MM-DD)."""

    train: tuple[str, str]  # first window's training period
    valid: tuple[str, str]  # first window's validation period (early stopping), after train
    test_start: str  # first out-of-sample day, after valid
    test_end: str  # last out-of-sample day (before the provider's last day minus 2: the label needs t+2)
    roll_step: Any = "yearly"  # yearly | half_yearly | quarterly | trading days (int)
    rolling: str = "sliding"  # sliding: train start moves too; expanding: train start fixed
    history_start: str | None = None  # first day the handlers load (lookback/feature warm-up); default train start
    trunc_days: int = 2  # trading days cut from train/valid ends (label spans t+1 -> t+2)

    def __post_init__(self) -> None:
        train, valid = _period(self.train, "windows.train"), _period(self.valid, "windows.valid")
        object.__setattr__(self, "train", train)
        object.__setattr__(self, "valid", valid)
        test_start, test_end = _period((self.test_start, self.test_end), "windows.test_start..test_end")
        object.__setattr__(self, "test_start", test_start)
        object.__setattr__(self, "test_end", test_end)
        if pd.Timestamp(train[1]) >= pd.Timestamp(valid[0]):
            raise ValueError(f"overlapping windows: train ends {train[1]}, on or after valid starts {valid[0]}; "
                             "end windows.train before windows.valid starts")
        if pd.Timestamp(valid[1]) >= pd.Timestamp(test_start):
            raise ValueError(f"a test before train/valid: test starts {test_start}, on or before valid ends "
                             f"{valid[1]}; move windows.test_start after windows.valid")
        step = self.roll_step
        if isinstance(step, str):
            if step not in ROLL_STEPS:
                raise ValueError(f"windows.roll_step {step!r}: use one of {sorted(ROLL_STEPS)} or a number of "
                                 "trading days (unquoted, e.g. 63)")
        elif not isinstance(step, int) or isinstance(step, bool) or step < 1:
            raise ValueError(f"windows.roll_step must be >= 1 trading day or one of {sorted(ROLL_STEPS)}, "
                             f"got {step!r}")
        if self.rolling not in ROLLING_TYPES:
            raise ValueError(f"windows.rolling must be one of {ROLLING_TYPES}, got {self.rolling!r}")
        if isinstance(self.trunc_days, bool) or not isinstance(self.trunc_days, int) or self.trunc_days < 2:
            raise ValueError(f"windows.trunc_days must be a whole number >= 2 (the label close[t+2]/close[t+1]-1 "
                             f"needs 2 days), got {self.trunc_days!r}")
        history = _date(self.history_start or train[0], "windows.history_start")
        if history > pd.Timestamp(train[0]):
            raise ValueError(f"windows.history_start {history:%Y-%m-%d} is after the train start {train[0]}; "
                             "move it on or before windows.train's start")
        object.__setattr__(self, "history_start", f"{history:%Y-%m-%d}")


@dataclass(frozen=True)
class BacktestSettings:
    """Top-K backtest (Qlib TopkDropoutStrategy) and long-short settings."""

    topk: int = 50  # stocks held
    n_drop: int = 5  # stocks replaced per day at most
    cost_bp: float = 20.0  # round-trip cost of the "with cost" backtest (half on buy, half on sell), bp
    cost_grid_bp: tuple[float, ...] = (0.0, 10.0, 20.0, 40.0)  # cost-sensitivity line, round trip, bp
    limit_threshold: float = 0.095  # A-share price limit (no trading at +-9.5 %)
    deal_price: str = "close"
    account: float = 1e8
    long_short_quantile: float = 0.2  # long top / short bottom fraction of the cross-section

    def __post_init__(self) -> None:
        topk = _whole(self.topk, "backtest.topk", minimum=1)
        n_drop = _whole(self.n_drop, "backtest.n_drop", minimum=0)
        if n_drop > topk:
            raise ValueError(f"need 0 <= n_drop <= topk, got topk={topk}, n_drop={n_drop}; lower backtest.n_drop")
        object.__setattr__(self, "topk", topk)
        object.__setattr__(self, "n_drop", n_drop)
        cost = _number(self.cost_bp, "backtest.cost_bp")
        if not cost > 0:
            raise ValueError(f"backtest.cost_bp must be > 0 (the cost line is scaled from it), got {self.cost_bp}")
        if not MIN_COST_BP <= cost <= MAX_COST_BP:
            raise ValueError(f"backtest.cost_bp {self.cost_bp!r} is in basis points (20 = 0.2 % round trip) and must "
                             f"lie in [{MIN_COST_BP:g}, {MAX_COST_BP:g}]; 0.002 would be a fraction, 2000 a 20 % cost")
        object.__setattr__(self, "cost_bp", cost)
        if isinstance(self.cost_grid_bp, (str, bytes)) or not isinstance(self.cost_grid_bp, (list, tuple)):
            raise ValueError(f"backtest.cost_grid_bp must be a list of round-trip costs in bp, got "
                             f"{self.cost_grid_bp!r}")
        grid = tuple(_number(c, "backtest.cost_grid_bp") for c in self.cost_grid_bp)
        if not grid or any(not 0 <= c <= MAX_COST_BP for c in grid):
            raise ValueError(f"backtest.cost_grid_bp must be a non-empty list of bp in [0, {MAX_COST_BP:g}], "
                             f"got {self.cost_grid_bp!r}")
        object.__setattr__(self, "cost_grid_bp", grid)
        if not 0 < _number(self.long_short_quantile, "backtest.long_short_quantile") <= 0.5:
            raise ValueError(f"backtest.long_short_quantile must be in (0, 0.5], got {self.long_short_quantile}")
        if not 0 < _number(self.limit_threshold, "backtest.limit_threshold") < 1:
            raise ValueError(f"backtest.limit_threshold is a fraction in (0, 1) (0.095 = +-9.5 %), got "
                             f"{self.limit_threshold!r}")
        if not _number(self.account, "backtest.account") > 0:
            raise ValueError(f"backtest.account must be > 0, got {self.account!r}")
        if not isinstance(self.deal_price, str) or not self.deal_price:
            raise ValueError(f"backtest.deal_price must be a price field such as 'close' or 'open', got "
                             f"{self.deal_price!r}")


@dataclass(frozen=True)
class KronosStudySettings:
    """The Kronos signal: KronosModel arguments plus the study's own knobs."""

    model: Mapping = field(default_factory=dict)  # KronosModel kwargs (mode, tokenizer, predictor, train_config, ...)
    horizons: tuple[int, ...] = (1, 2, 5, 10)  # cumulative-return horizons reported in the horizon table
    warm_start: bool = True  # later windows finetune the previous window's checkpoints
    warm_train_config: Mapping | None = None  # train_config of warm-started windows (default: model's)
    lookback: int = 60  # dataset lookback (>= the model's forecast lookback)
    predict_chunk_days: int = 63  # trading days scored per chunk (bounds memory)
    max_train_windows: int | None = None  # per train/valid segment, sampled chunk by chunk (None: all windows)

    def __post_init__(self) -> None:
        if isinstance(self.horizons, (str, bytes)) or not isinstance(self.horizons, (list, tuple)):
            raise ValueError(f"kronos.horizons must be a list of bar counts, e.g. [1, 2, 5, 10], got {self.horizons!r}")
        horizons = tuple(_whole(h, "kronos.horizons", minimum=1) for h in self.horizons)
        if not horizons or len(set(horizons)) != len(horizons):
            raise ValueError(f"kronos.horizons must be distinct positive bar counts, got {self.horizons!r}")
        object.__setattr__(self, "horizons", horizons)
        for name in ("predict_chunk_days", "lookback"):
            object.__setattr__(self, name, _whole(getattr(self, name), f"kronos.{name}", minimum=1))
        if self.max_train_windows is not None:
            object.__setattr__(self, "max_train_windows",
                               _whole(self.max_train_windows, "kronos.max_train_windows", minimum=1))
        for name in ("model", "warm_train_config"):
            value = getattr(self, name)
            if not (value is None and name == "warm_train_config") and not isinstance(value, Mapping):
                raise ValueError(f"kronos.{name} must be a mapping of settings, got {type(value).__name__}")
        forecast = self.model.get("forecast") or {}
        if isinstance(forecast, Mapping) and forecast.get("lookback") is not None \
                and _whole(forecast["lookback"], "kronos.model.forecast.lookback", minimum=1) > self.lookback:
            raise ValueError(f"kronos.model.forecast.lookback {forecast['lookback']} exceeds kronos.lookback "
                             f"{self.lookback} (the bars the dataset loads); raise kronos.lookback")

    @property
    def forecast_horizon(self) -> int:
        """Bars Kronos forecasts: at least 2 (the label's step t+1 -> t+2) and the largest reported horizon."""
        return max(2, *self.horizons)

    def official_weights(self) -> bool:
        """Whether the model starts from an official pretrained checkpoint (NeoQuasar/...)."""
        if self.model.get("mode", "zero_shot") == "scratch":
            return False
        sources = (self.model.get("tokenizer"), self.model.get("predictor"))
        return any(isinstance(s, str) and (s.startswith(OFFICIAL_PREFIX) or "Kronos-" in Path(s).name)
                   for s in sources)


@dataclass(frozen=True)
class StudyConfig:
    """A whole walk-forward study; build it with :func:`load_study_config` or :func:`study_config_from_dict`."""

    name: str
    provider_uri: str
    windows: WindowSettings
    market: str = "csi300"
    benchmark: str = "SH000300"
    output_dir: str = "outputs/study"
    signals: tuple[str, ...] = ("kronos", "lightgbm_alpha158", "reversal_5d", "momentum_20d", "low_vol_20d",
                                "abnormal_volume_20d", "random")
    kronos: KronosStudySettings = field(default_factory=KronosStudySettings)
    lightgbm: Mapping = field(default_factory=dict)  # LGBModel kwargs
    backtest: BacktestSettings = field(default_factory=BacktestSettings)
    random_seed: int = 0
    pretrain_cutoff: str = "2024-06-30"  # official checkpoints saw data up to ~mid 2024 (maintainers' statement)

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", str(self.name)):
            raise ValueError(f"name {self.name!r}: use letters, digits, '_', '-', '.' (it names experiments)")
        signals = tuple(self.signals)
        if not signals:
            raise ValueError("signals is empty; list at least one registered signal")
        if len(set(signals)) != len(signals):
            raise ValueError(f"signals has duplicates: {signals}")
        from kronos_quant.study.registry import check_signal_names

        check_signal_names(signals)
        object.__setattr__(self, "signals", signals)
        _date(self.pretrain_cutoff, "pretrain_cutoff")
        for name in ("provider_uri", "output_dir", "market", "benchmark"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{name} must be a non-empty string, got {value!r}")
        object.__setattr__(self, "random_seed", _whole(self.random_seed, "random_seed", minimum=0))

    def experiment(self, signal: str) -> str:
        """The Qlib/MLflow experiment holding one signal's per-window recorders."""
        return f"{self.name}__{signal}"


def study_config_from_dict(raw: Mapping, *, short: bool = False) -> StudyConfig:
    """Build a validated :class:`StudyConfig` from a YAML mapping (placeholders already expanded)."""
    raw = dict(raw)
    short_section = raw.pop("short", None) or {}
    if not isinstance(short_section, Mapping):
        raise ValueError(f"short must be a mapping of the keys to override in --short mode, got {short_section!r}")
    from kronos_quant.study.registry import import_signal_modules

    modules = raw.pop("signal_modules", None)
    if isinstance(modules, str) or (modules is not None and not isinstance(modules, (list, tuple))):
        raise ValueError(f"signal_modules must be a list of module paths, e.g. [kronos_quant.factors.study_signal], "
                         f"got {modules!r}")
    import_signal_modules(modules)
    if short:
        raw = deep_merge(raw, short_section)
    known = {f.name for f in dataclasses.fields(StudyConfig)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ValueError(f"study config: unknown keys {unknown}; "
                         f"valid keys are {sorted(known)}, 'short' and 'signal_modules'")
    for key in ("name", "provider_uri", "windows"):
        if key not in raw:
            raise ValueError(f"study config: missing required key {key!r}")
    values = dict(raw)
    values["windows"] = _build(WindowSettings, raw["windows"], "windows")
    values["kronos"] = _build(KronosStudySettings, raw.get("kronos") or {}, "kronos")
    values["backtest"] = _build(BacktestSettings, raw.get("backtest") or {}, "backtest")
    if "signals" in values:
        values["signals"] = tuple(values["signals"])
    return StudyConfig(**values)


def _build(cls, section, where: str):
    if not isinstance(section, Mapping):
        raise ValueError(f"{where} must be a mapping, got {type(section).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(section) - names)
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; valid keys are {sorted(names)}")
    required = sorted(
        f.name
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    )
    missing = [name for name in required if name not in section]
    if missing:
        raise ValueError(f"{where}: missing required keys {missing}")
    values = dict(section)
    for key in ("train", "valid"):
        if key in values and isinstance(values[key], list):
            values[key] = tuple(values[key])
    return cls(**values)


def load_study_config(path, *, short: bool = False) -> StudyConfig:
    """Read a study YAML, expand ``${ENV:-default}`` placeholders, apply ``short:`` when asked, validate."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"study config {path} not found; see studies/csi300.yaml for an example")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err)
        raise ValueError(f"study config {path}{where}: YAML syntax error ({problem})") from None
    if not isinstance(raw, Mapping):
        raise ValueError(f"study config {path} must be a YAML mapping")
    try:
        return study_config_from_dict(expand_placeholders(raw), short=short)
    except (ValueError, TypeError) as err:
        raise ValueError(f"study config {path}: {err}") from None
