"""Typed, frozen settings of :class:`~kronos_quant.qlib_ext.model.KronosModel` (no qlib here).

Three small groups instead of 15 flat keyword arguments:

* :class:`SourceSettings`: where the networks come from (``mode``) and how they are trained.
* :class:`ForecastSettings`: what Kronos forecasts and how the sample paths become one score.
* :class:`RuntimeSettings`: where and how fast it runs (never changes a score).

Every value is validated when the settings are built, so a bad qrun YAML fails when the model
is constructed, not an hour into a run.
"""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kronos_quant.inference.generation_config import GenerationConfig
from kronos_quant.inference.sampling import SamplingConfig
from kronos_quant.model.checkpoint import resolve_checkpoint_dir
from kronos_quant.model.presets import PREDICTOR_PRESETS, TOKENIZER_PRESETS
from kronos_quant.research.signals import SIGNALS

logger = logging.getLogger(__name__)

MODES = ("zero_shot", "finetune", "scratch")
NETWORKS = ("tokenizer", "predictor")
# TrainConfig fields KronosModel sets itself (from the sources, the mode and output_dir)
OWNED_TRAIN_FIELDS = ("model", "from_scratch", "tokenizer", "out_dir", "data")


def checkpoint_dir(spec: str, role: str) -> Path:
    """A checkpoint folder from a path or hub id, or a ValueError saying where to put it."""
    if not isinstance(spec, (str, Path)):
        raise ValueError(f"{role} must be a checkpoint dir or hub id (e.g. NeoQuasar/Kronos-small), got {spec!r}")
    try:
        return resolve_checkpoint_dir(str(spec)).resolve()
    except FileNotFoundError as err:
        raise ValueError(f"{role}: {err}") from None


def _check_architecture(spec, role: str, presets: Mapping) -> None:
    """scratch mode: a preset name, a mapping of config fields, or a checkpoint (its config only)."""
    if isinstance(spec, Mapping):
        return  # validated by the trainer's config class when built
    if isinstance(spec, str) and spec in presets:
        return
    if isinstance(spec, (str, Path)):
        try:
            checkpoint_dir(spec, role)
            return
        except ValueError:
            pass
    raise ValueError(f"{role}={spec!r}: with mode scratch pass a preset ({sorted(presets)}), a mapping of "
                     "config fields, or a checkpoint dir whose config.json gives the architecture")


def _load_train_section(value, network: str):
    """One network's TrainConfig from a mapping or a YAML path; None/False means 'do not train it'."""
    try:
        return _parse_train_section(value, network)
    except FileNotFoundError as err:
        raise ValueError(f"train_config.{network}: {err}") from None


def _parse_train_section(value, network: str):
    from kronos_quant.training.config import config_from_dict, load_train_config

    if value is None or value is False:
        return None
    if isinstance(value, (str, Path)):
        config = load_train_config(value)
    elif isinstance(value, Mapping) and "base" in value:  # a training YAML plus field overrides
        overrides = {key: item for key, item in value.items() if key != "base"}
        config = load_train_config(value["base"], **overrides)
    elif isinstance(value, Mapping):
        config = config_from_dict(dict(value), where=f"train_config.{network}")
    else:
        raise ValueError(f"train_config.{network} must be a mapping of TrainConfig fields, a YAML path or null, "
                         f"got {type(value).__name__}")
    if config.data is not None:
        logger.info("train_config.%s: its data section is ignored; windows come from the qrun dataset", network)
    return config.replace(data=None)


def load_train_plan(train_config) -> dict:
    """``{"tokenizer": TrainConfig | None, "predictor": TrainConfig | None}`` from a mapping or YAML path.

    The mapping has keys ``tokenizer`` and ``predictor``; each value is a mapping of
    :class:`~kronos_quant.training.TrainConfig` fields, the path of a training YAML, a mapping
    ``{base: <training YAML>, <field>: <override>, ...}``, or null (keep that network as the source
    gives it; finetune only). ``model``, ``from_scratch``, ``tokenizer`` and ``out_dir`` are set by
    KronosModel from its sources, mode and output_dir; a ``data`` section is ignored.
    """
    if isinstance(train_config, (str, Path)):
        from kronos_quant.training.config import read_yaml_mapping

        try:
            train_config = read_yaml_mapping(train_config)
        except FileNotFoundError as err:
            raise ValueError(f"train_config: {err}") from None
    if not isinstance(train_config, Mapping):
        raise ValueError("train_config must be a mapping {tokenizer: ..., predictor: ...} or a YAML path")
    unknown = sorted(set(train_config) - set(NETWORKS))
    if unknown:
        raise ValueError(f"train_config: unknown keys {unknown}; use 'tokenizer' and 'predictor', each a mapping of "
                         "TrainConfig fields or a training YAML path (see configs/train_tiny.yaml)")
    return {network: _load_train_section(train_config.get(network), network) for network in NETWORKS}


@dataclass(frozen=True)
class SourceSettings:
    """Where the tokenizer and predictor come from.

    zero_shot: ``tokenizer``/``predictor`` are checkpoint dirs or hub ids, used as they are.
    finetune: the same, trained further on the dataset's train segment (``train_config``).
    scratch: preset names (e.g. "tokenizer-base", "small") or mappings of config fields, trained
    from random weights.
    """

    tokenizer: Any  # checkpoint dir / hub id; scratch: preset name or config mapping
    predictor: Any
    mode: str = "zero_shot"
    train_config: Any = None  # finetune/scratch: {tokenizer: ..., predictor: ...} or a YAML path
    output_dir: str = "outputs/kronos_model"  # trained checkpoints land in <output_dir>/{tokenizer,predictor}

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.mode == "zero_shot":
            if self.train_config is not None:
                raise ValueError("train_config is only used by mode finetune or scratch; drop it for zero_shot")
            checkpoint_dir(self.tokenizer, "tokenizer")
            checkpoint_dir(self.predictor, "predictor")
            return
        if self.train_config is None:
            raise ValueError(f"mode {self.mode} trains on the dataset: pass train_config {{tokenizer: ..., "
                             "predictor: ...}} (TrainConfig fields or YAML paths, e.g. configs/train_tiny.yaml)")
        plan = load_train_plan(self.train_config)
        if self.mode == "finetune":
            checkpoint_dir(self.tokenizer, "tokenizer")
            checkpoint_dir(self.predictor, "predictor")
            if plan["predictor"] is None and plan["tokenizer"] is None:
                raise ValueError("finetune with neither train_config.tokenizer nor .predictor trains nothing; "
                                 "use mode zero_shot instead")
        else:
            _check_architecture(self.tokenizer, "tokenizer", TOKENIZER_PRESETS)
            _check_architecture(self.predictor, "predictor", PREDICTOR_PRESETS)
            missing = [network for network in NETWORKS if plan[network] is None]
            if missing:
                raise ValueError(f"mode scratch trains both networks: set train_config.{missing[0]}")

    def train_plan(self) -> dict:
        """The parsed ``train_config`` (see :func:`load_train_plan`)."""
        return load_train_plan(self.train_config)


@dataclass(frozen=True)
class ForecastSettings:
    """What Kronos forecasts per (date, instrument) and how the paths become one score.

    The generation fields (horizon .. autocast) are given flat, as qrun YAMLs write them; they are
    gathered, validated, in ``generation``, the :class:`GenerationConfig` every forecast runs with.
    """

    lookback: int = 90  # bars of history per window (the dataset must provide at least this many)
    horizon: int = 10  # bars forecast (the dataset's horizon must be >= this)
    T: float = 1.0  # sampling temperature
    top_k: int = 0  # 0 disables; 1 is greedy
    top_p: float = 0.9  # nucleus sampling
    sample_count: int = 1  # sample paths per window
    signal: str = "expected_return"  # a name in kronos_quant.research.signals.SIGNALS
    max_context: int = 512  # tokens the predictor sees (longer lookbacks keep the latest bars)
    engine: str = "cached"  # "cached" (KV cache) or "recompute" (the official algorithm)
    sliding: str = "exact"  # past max_context: "exact" (recompute the slid window) or "rolling" (ring cache)
    autocast: str | None = None  # None/"fp32", "bf16" or "fp16" mixed precision
    seed: int = 0  # seeds the sampling uniforms: same seed, same scores on every device
    clip: float = 5.0  # normalised bars are clipped to +-clip
    generation: GenerationConfig = dataclasses.field(init=False, repr=False)  # built from the fields above

    def __post_init__(self) -> None:
        for name in ("lookback", "horizon", "sample_count", "max_context"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.signal not in SIGNALS:
            raise ValueError(f"unknown signal {self.signal!r}; choose one of {sorted(SIGNALS)}")
        if not self.clip > 0:
            raise ValueError(f"clip must be > 0, got {self.clip}")
        sampling = SamplingConfig(temperature=float(self.T), top_k=int(self.top_k), top_p=float(self.top_p))
        generation = GenerationConfig(pred_len=int(self.horizon), max_context=int(self.max_context),
                                      sampling=sampling, sample_count=int(self.sample_count), engine=self.engine,
                                      sliding=self.sliding, autocast=self.autocast)
        object.__setattr__(self, "generation", generation)  # validates T, top_k, top_p, engine, sliding, ...

    def crop(self, x: np.ndarray, x_stamp: np.ndarray, y_stamp: np.ndarray):
        """Keep the last ``min(lookback, max_context)`` bars and the first ``horizon`` future stamps.

        Args:
            x: float (N, L, 6) raw bars with L >= lookback; x_stamp (N, L, 5); y_stamp (N, H', 5), H' >= horizon.
        """
        lookback, horizon = int(self.lookback), int(self.horizon)
        if x.shape[1] < lookback:
            raise ValueError(f"the dataset gives {x.shape[1]} lookback bars but the model needs lookback={lookback}; "
                             "set the dataset's lookback >= the model's")
        if y_stamp.shape[1] < horizon:
            raise ValueError(f"the dataset gives {y_stamp.shape[1]} future stamps but the model forecasts "
                             f"horizon={horizon}; set the dataset's horizon >= the model's")
        context = min(lookback, int(self.max_context))
        return x[:, -context:], x_stamp[:, -context:], y_stamp[:, :horizon]


@dataclass(frozen=True)
class RuntimeSettings:
    """Where training and inference run; only ``device`` and ``threads`` can move a score (float rounding)."""

    device: str | None = None  # None/"auto": cuda, then mps, then cpu; or "cpu", "cuda", "cuda:1"
    memory_budget_gb: float = 2.0  # per forecast chunk; raise it on a big GPU
    progress: bool = False  # tqdm bar over forecast chunks
    threads: int | None = None  # torch CPU threads in fit/forecast; fixed -> same figures whatever OMP_NUM_THREADS

    def __post_init__(self) -> None:
        if self.device not in (None, "auto"):
            try:
                torch.device(self.device)
            except (RuntimeError, TypeError) as err:
                raise ValueError(f"device must be auto, cpu, cuda, cuda:N or mps, got {self.device!r}") from err
        if not float(self.memory_budget_gb) > 0:
            raise ValueError(f"memory_budget_gb must be > 0, got {self.memory_budget_gb}")
        if self.threads is not None and (isinstance(self.threads, bool) or not isinstance(self.threads, int)
                                         or self.threads < 1):
            raise ValueError(f"threads must be a whole number >= 1 (torch CPU threads) or null, got {self.threads!r}")


def build_settings(cls, given, flat: dict):
    """``cls`` from a mapping/instance ``given`` plus flat keyword overrides that name its fields.

    Consumed keys are removed from ``flat``.
    """
    names = {field.name for field in dataclasses.fields(cls) if field.init}
    if given is None:
        values = {}
    elif isinstance(given, cls):
        values = {name: getattr(given, name) for name in names}
    elif isinstance(given, Mapping):
        values = dict(given)
    else:
        raise ValueError(f"{cls.__name__} settings must be a mapping of {sorted(names)}, got {type(given).__name__}")
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown keys {unknown}; valid keys are {sorted(names)}")
    values.update({key: flat.pop(key) for key in list(flat) if key in names})
    return cls(**values)
