"""Typed, frozen training configs, validated when built and loadable from YAML.

A YAML file holds the :class:`TrainConfig` fields at the top level and an optional ``data``
mapping (a :class:`DataConfig`)::

    model: small                # preset name, checkpoint dir / hub id, or a mapping of config fields
    from_scratch: true          # false: start from the weights of the checkpoint named by ``model``
    tokenizer: out/tok/best     # predictor only: the frozen tokenizer checkpoint
    lr: 4.0e-4
    data:
      provider_uri: ../shared/data/qlib_cn_csi300
      instruments: csi300
      train: [2010-01-04, 2021-12-31]
      valid: [2022-01-01, 2024-06-28]
      lookback: 90
      horizon: 10

Unknown keys and bad values raise ``ValueError`` naming the key and the accepted values.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kronos_quant.data.dates import check_ordered_ranges

SCHEDULES = ("cosine", "linear", "constant")
SELECT_ON = ("loss", "rank_ic")


@dataclass(frozen=True)
class DataConfig:
    """Where training windows come from: a Qlib provider, or a saved ``.npz`` of window arrays.

    Either ``provider_uri`` (+ instruments, train/valid segments, lookback, horizon) or
    ``arrays_file`` (written by :func:`kronos_quant.training.datasets.save_window_arrays`).
    """

    provider_uri: str | None = None  # Qlib data dir, e.g. ../shared/data/qlib_cn_csi300
    instruments: str = "csi300"  # universe name (instruments/<name>.txt)
    train: tuple[str, str] | None = None  # decision dates (start, end) of training windows
    valid: tuple[str, str] | None = None  # decision dates (start, end) of validation windows
    start_time: str | None = None  # first bar loaded for lookback history (default: train start)
    lookback: int = 90  # bars of context per window
    horizon: int = 10  # future bars per window (teacher forcing)
    clip: float = 5.0  # normalised values are clipped to +-clip
    arrays_file: str | None = None  # alternative source: a .npz of normalised window arrays
    # generated universes as extra training data (kronos_quant.universes.training_windows): a .npz from
    # save_window_arrays whose train arrays are mixed in at ``generated_ratio`` generated windows per real
    # training window; validation stays real
    generated_file: str | None = None
    generated_ratio: float = 0.0

    def __post_init__(self) -> None:
        if (self.provider_uri is None) == (self.arrays_file is None):
            raise ValueError("data: set exactly one of provider_uri (a Qlib data dir) or arrays_file (.npz)")
        if self.lookback < 2 or self.horizon < 1:
            raise ValueError(f"data: lookback must be >= 2 and horizon >= 1, got {self.lookback}, {self.horizon}")
        if self.clip <= 0:
            raise ValueError(f"data.clip must be > 0, got {self.clip}")
        if self.generated_ratio < 0 or (self.generated_ratio > 0) != (self.generated_file is not None):
            raise ValueError("data: generated_ratio must be >= 0, and > 0 exactly when generated_file is set "
                             f"(got ratio {self.generated_ratio}, file {self.generated_file!r})")
        if self.provider_uri is not None:
            for name in ("train", "valid"):
                segment = getattr(self, name)
                if segment is None or len(segment) != 2:
                    raise ValueError(f"data.{name} must be [start, end] dates, e.g. [2010-01-04, 2021-12-31]")
            check_ordered_ranges({"train": self.train, "valid": self.valid}, owner="data")  # as dates


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of one training run (tokenizer or predictor); steps are optimizer steps."""

    model: str | Mapping[str, Any] = "small"  # preset, checkpoint dir / hub id, or explicit config fields
    from_scratch: bool = True  # False: load the weights of the checkpoint ``model`` names
    tokenizer: str | None = None  # predictor only: frozen tokenizer checkpoint dir / hub id
    out_dir: str = "outputs/train"  # best/, last/, resume.pt, metrics.csv land here
    lr: float = 4e-4  # peak learning rate after warmup
    betas: tuple[float, float] = (0.9, 0.95)  # AdamW betas
    weight_decay: float = 0.1  # AdamW decay on matrices/embeddings only (not biases, norms)
    warmup_steps: int = 100  # linear warmup from 0 to lr
    schedule: str = "cosine"  # decay after warmup: cosine | linear | constant
    min_lr_ratio: float = 0.1  # final lr = lr * min_lr_ratio (cosine/linear)
    grad_clip: float | None = 2.0  # max global grad norm; None disables clipping
    grad_accum_steps: int = 1  # micro-batches per optimizer step
    batch_size: int = 32  # windows per micro-batch per rank
    epochs: int = 10  # passes of ``windows_per_epoch`` sampled windows
    max_steps: int | None = None  # stop (and end the lr schedule) after this many optimizer steps
    windows_per_epoch: int | None = None  # windows sampled (seeded) per epoch; None: all
    valid_windows: int | None = None  # fixed seeded subset of validation windows; None: all
    eval_every: int | None = None  # evaluate/checkpoint every N steps; None: at each epoch end
    patience: int | None = None  # early stop after N evaluations without improvement; None: never
    min_delta: float = 0.0  # improvement needed to count as better
    # what picks best/ and drives early stopping: loss (validation loss) | rank_ic (a scorer's
    # val/rank_ic, e.g. pretraining's validation-date RankIC); both are logged either way
    select_on: str = "loss"
    seed: int = 42
    device: str = "auto"  # auto | cpu | cuda | cuda:N (under torchrun cuda:LOCAL_RANK)
    bf16: bool = True  # bf16 autocast (CUDA only; ignored on CPU)
    compile: bool = False  # torch.compile the model
    deterministic: bool = False  # torch.use_deterministic_algorithms (exact resume on GPU)
    teacher_forcing: bool = True  # predictor: condition s2 on the true next s1 (else sampled s1)
    log_every: int = 10  # steps between metric rows
    resume: bool = False  # continue from out_dir/resume.pt when it exists
    data: DataConfig | None = None

    def __post_init__(self) -> None:
        _check(self.lr > 0, "lr must be > 0", self.lr)
        _check(len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas), "betas must be two values in [0, 1)",
               self.betas)
        _check(self.weight_decay >= 0, "weight_decay must be >= 0", self.weight_decay)
        _check(self.warmup_steps >= 0, "warmup_steps must be >= 0", self.warmup_steps)
        _check(self.select_on in SELECT_ON, f"select_on must be one of {SELECT_ON}", self.select_on)
        _check(self.schedule in SCHEDULES, f"schedule must be one of {SCHEDULES}", self.schedule)
        _check(0 <= self.min_lr_ratio <= 1, "min_lr_ratio must be in [0, 1]", self.min_lr_ratio)
        _check(self.grad_clip is None or self.grad_clip > 0, "grad_clip must be > 0 or null", self.grad_clip)
        for name in ("grad_accum_steps", "batch_size", "epochs", "log_every"):
            _check(getattr(self, name) >= 1, f"{name} must be >= 1", getattr(self, name))
        for name in ("max_steps", "windows_per_epoch", "valid_windows", "eval_every", "patience"):
            value = getattr(self, name)
            _check(value is None or value >= 1, f"{name} must be >= 1 or null", value)
        _check(self.device == "auto" or self.device == "cpu" or self.device.startswith("cuda"),
               "device must be auto, cpu, cuda or cuda:N", self.device)
        _check(isinstance(self.model, (str, Mapping)), "model must be a preset name, a checkpoint dir or a "
               "mapping of config fields", self.model)
        _check(not (self.from_scratch is False and isinstance(self.model, Mapping)),
               "from_scratch: false needs model to be a checkpoint dir or hub id, not a config mapping", self.model)

    def replace(self, **changes) -> TrainConfig:
        return dataclasses.replace(self, **changes)


def _check(ok: bool, message: str, value) -> None:
    if not ok:
        raise ValueError(f"TrainConfig: {message}, got {value!r}")


def _build(cls, values: Mapping[str, Any], where: str):
    if not isinstance(values, Mapping):
        raise TypeError(f"{where} must be a mapping of {cls.__name__} fields, got {type(values).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; valid keys are {sorted(fields)}")
    kwargs = {key: _coerce(key, value) for key, value in values.items()}
    return cls(**kwargs)


def _coerce(key: str, value):
    """YAML -> dataclass values: lists become tuples, dates become ISO strings."""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()[:10]
    if isinstance(value, list):
        return tuple(_coerce(key, item) for item in value)
    return value


def config_from_dict(values: Mapping[str, Any], where: str = "config") -> TrainConfig:
    """A TrainConfig from a plain mapping (as parsed from YAML); ``data`` may be a nested mapping."""
    values = dict(values)
    data = values.pop("data", None)
    if isinstance(values.get("model"), Mapping):
        values["model"] = dict(values["model"])
    try:
        built = _build(TrainConfig, values, where)
        return built.replace(data=None if data is None else _build(DataConfig, data, f"{where}: data"))
    except TypeError as err:  # wrong value types surface as TypeError from comparisons
        raise ValueError(f"{where}: bad value type ({err}); check the YAML against TrainConfig's fields") from err


def read_yaml_mapping(path: str | Path) -> dict:
    """The top-level mapping of a training YAML; clear errors for a missing file or another shape."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"training config {path} does not exist (paths are relative to the working dir); "
                                "see configs/train_tiny.yaml for an example")
    with open(path, encoding="utf-8") as handle:
        values = yaml.safe_load(handle) or {}
    if not isinstance(values, dict):
        raise ValueError(f"{path}: the top level must be a mapping of TrainConfig fields")
    return values


def load_train_config(path: str | Path, **overrides) -> TrainConfig:
    """Read a YAML training config; ``overrides`` (non-None values) replace top-level fields.

    Relative paths in ``out_dir``, ``tokenizer``, ``data.provider_uri`` and ``data.arrays_file``
    are taken relative to the current working directory (run from the repository root).
    """
    values = read_yaml_mapping(path)
    values.update({key: value for key, value in overrides.items() if value is not None})
    return config_from_dict(values, where=str(path))
