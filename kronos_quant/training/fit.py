"""Public entry points: train a Kronos tokenizer and/or predictor on window arrays.

For the Qlib model adapter and notebooks::

    from kronos_quant.training import TrainConfig, WindowArrays, fit_tokenizer, fit_predictor, train_kronos

    tok = fit_tokenizer(TrainConfig(model="tokenizer-base", out_dir="out/tok"), train, valid)
    pred = fit_predictor(TrainConfig(model="small", tokenizer=str(tok.best_dir), out_dir="out/pred"),
                         train, valid)
    # or both at once -> (tokenizer_dir, predictor_dir), each the best-validation checkpoint:
    tokenizer_dir, predictor_dir = train_kronos(tok_config, pred_config, train, valid)

``train`` / ``valid`` are :class:`WindowArrays`: normalised bars (N, L, 6) and stamps (N, L, 5),
with L = lookback + horizon + 1 (the predictor learns tokens[:, 1:] from tokens[:, :-1]).
:func:`kronos_quant.qlib_ext.training_data.build_window_arrays` builds them from a Qlib provider.
Each ``fit_*`` returns a :class:`TrainResult` whose ``best_dir`` / ``last_dir`` hold
``config.json`` + ``model.safetensors`` (load them with ``from_pretrained``).

The ``model`` field of :class:`TrainConfig` names what to train: a preset ("tokenizer-base",
"tokenizer-2k", "mini", "small", "base", "large"), a mapping of config fields, or a checkpoint
dir / hub id (with ``from_scratch: false`` its weights are the starting point; with
``from_scratch: true`` only its config is used).
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from kronos_quant.bar_frequency import bar_freq_of_stamps
from kronos_quant.model import Kronos, KronosTokenizer
from kronos_quant.model.checkpoint import CONFIG_NAME, resolve_checkpoint_dir, write_bar_freq
from kronos_quant.model.presets import PREDICTOR_PRESETS, TOKENIZER_PRESETS
from kronos_quant.training.config import TrainConfig
from kronos_quant.training.datasets import WindowArrays
from kronos_quant.training.ddp import DistContext, resolve_device
from kronos_quant.training.loop import Trainer, TrainResult
from kronos_quant.training.losses import PredictorLoss, predictor_loss, tokenizer_loss

logger = logging.getLogger(__name__)


def build_model(cls: type[nn.Module], spec, *, from_scratch: bool, seed: int) -> nn.Module:
    """A KronosTokenizer or Kronos from a preset name, config mapping or checkpoint (see module doc)."""
    presets = TOKENIZER_PRESETS if cls is KronosTokenizer else PREDICTOR_PRESETS
    torch.manual_seed(seed)  # identical initial weights on every rank and every run
    if isinstance(spec, Mapping):
        return cls(cls.config_class.from_dict(dict(spec)))
    if spec in presets:
        if not from_scratch:
            raise ValueError(f"model {spec!r} is a preset (architecture only, no weights); set from_scratch: true "
                             "or point model at a checkpoint dir such as NeoQuasar/Kronos-small")
        return cls(presets[spec])
    other = PREDICTOR_PRESETS if cls is KronosTokenizer else TOKENIZER_PRESETS
    if spec in other:
        raise ValueError(f"model {spec!r} is a {'predictor' if cls is KronosTokenizer else 'tokenizer'} preset; "
                         f"for a {cls.__name__} use one of {sorted(presets)}")
    if from_scratch:
        folder = resolve_checkpoint_dir(spec)
        return cls(cls.config_class.from_json(folder / CONFIG_NAME))
    return cls.from_pretrained(spec).train()


class PredictorObjective:
    """Predictor loss on bars: tokenise with the frozen tokenizer (float32, no_grad), then next-token CE."""

    def __init__(self, tokenizer: KronosTokenizer, *, teacher_forcing: bool = True):
        self.tokenizer = tokenizer.eval().requires_grad_(False)
        self.teacher_forcing = teacher_forcing

    @torch.no_grad()
    def tokenize(self, bars: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised bars (B, L, 6) -> (s1_ids, s2_ids), each (B, L) int64."""
        with torch.autocast(bars.device.type, enabled=False):
            s1_ids, s2_ids = self.tokenizer.encode(bars.float(), half=True)
        return s1_ids, s2_ids

    def __call__(self, model: nn.Module, bars: torch.Tensor, stamps: torch.Tensor) -> PredictorLoss:
        s1_ids, s2_ids = self.tokenize(bars)
        return predictor_loss(model, s1_ids, s2_ids, stamps, teacher_forcing=self.teacher_forcing)


def _tokenizer_objective(model: nn.Module, bars: torch.Tensor, stamps: torch.Tensor):
    return tokenizer_loss(model, bars)


def record_bar_freq(result: TrainResult, train: WindowArrays, ctx: DistContext) -> TrainResult:
    """Write the training bars' frequency (from their time features) beside best/ and last/ (rank 0 only), so
    ``kronos-quant forecast`` can warn when a CSV's bars are spaced differently."""
    stamps = train.head_stamps(512) if hasattr(train, "head_stamps") else train.stamps  # a sampler holds no stamps
    bar_freq = bar_freq_of_stamps(stamps)
    if ctx.is_master and bar_freq is not None:
        for folder in {Path(result.best_dir), Path(result.last_dir)}:
            if folder.is_dir():
                write_bar_freq(folder, bar_freq)
    return result


def _context(ctx: DistContext | None, config: TrainConfig) -> DistContext:
    return ctx if ctx is not None else DistContext(device=resolve_device(config.device))


def fit_tokenizer(config: TrainConfig, train: WindowArrays, valid: WindowArrays, *,
                  ctx: DistContext | None = None, model: KronosTokenizer | None = None,
                  **trainer_kwargs) -> TrainResult:
    """Train a KronosTokenizer on normalised bars; returns the best/last checkpoint dirs."""
    ctx = _context(ctx, config)
    model = model if model is not None else build_model(KronosTokenizer, config.model,
                                                        from_scratch=config.from_scratch, seed=config.seed)
    result = Trainer(model, _tokenizer_objective, config, train, valid, ctx=ctx, **trainer_kwargs).fit()
    return record_bar_freq(result, train, ctx)


def load_frozen_tokenizer(config: TrainConfig, device: torch.device) -> KronosTokenizer:
    if config.tokenizer is None:
        raise ValueError("training the predictor needs a tokenizer checkpoint: set tokenizer: <dir or hub id> "
                         "(e.g. the best/ dir of `kronos-quant train tokenizer`, or NeoQuasar/Kronos-Tokenizer-base)")
    return KronosTokenizer.from_pretrained(config.tokenizer, device=device)


def fit_predictor(config: TrainConfig, train: WindowArrays, valid: WindowArrays, *,
                  tokenizer: KronosTokenizer | None = None, ctx: DistContext | None = None,
                  model: Kronos | None = None, **trainer_kwargs) -> TrainResult:
    """Train Kronos on the frozen tokenizer's tokens of the windows; returns the best/last checkpoint dirs."""
    ctx = _context(ctx, config)
    tokenizer = tokenizer if tokenizer is not None else load_frozen_tokenizer(config, ctx.device)
    model = model if model is not None else build_model(Kronos, config.model, from_scratch=config.from_scratch,
                                                        seed=config.seed)
    pair = (tokenizer.config.s1_bits, tokenizer.config.s2_bits)
    if pair != (model.config.s1_bits, model.config.s2_bits):
        raise ValueError(f"tokenizer bits (s1, s2) = {pair} differ from the predictor's "
                         f"({model.config.s1_bits}, {model.config.s2_bits}); pair models with equal bits")
    objective = PredictorObjective(tokenizer.to(ctx.device), teacher_forcing=config.teacher_forcing)
    result = Trainer(model, objective, config, train, valid, ctx=ctx, **trainer_kwargs).fit()
    return record_bar_freq(result, train, ctx)


def train_kronos(tokenizer_config: TrainConfig, predictor_config: TrainConfig, train: WindowArrays,
                 valid: WindowArrays, *, ctx: DistContext | None = None) -> tuple[Path, Path]:
    """Tokenizer then predictor (on the new tokenizer's best checkpoint): (tokenizer_dir, predictor_dir)."""
    tokenizer_result = fit_tokenizer(tokenizer_config, train, valid, ctx=ctx)
    predictor_config = predictor_config.replace(tokenizer=str(tokenizer_result.best_dir))
    predictor_result = fit_predictor(predictor_config, train, valid, ctx=ctx)
    return tokenizer_result.best_dir, predictor_result.best_dir


def fit_task(task: str, config: TrainConfig, train: WindowArrays, valid: WindowArrays, *,
             ctx: DistContext | None = None) -> TrainResult:
    """``fit_tokenizer`` or ``fit_predictor`` by name ("tokenizer" | "predictor")."""
    if task == "tokenizer":
        return fit_tokenizer(config, train, valid, ctx=ctx)
    if task == "predictor":
        return fit_predictor(config, train, valid, ctx=ctx)
    raise ValueError(f"task must be 'tokenizer' or 'predictor', got {task!r}")
