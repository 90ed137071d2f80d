"""KronosModel: Kronos as a Qlib ``Model`` for qrun workflows (imitates qlib/contrib/model/gbdt.py).

::

    model:
      class: KronosModel
      module_path: kronos_quant.qlib_ext.model
      kwargs:
        tokenizer: NeoQuasar/Kronos-Tokenizer-base   # checkpoint dir or hub id (scratch: preset/config)
        predictor: NeoQuasar/Kronos-small
        mode: zero_shot                              # zero_shot | finetune | scratch
        forecast: {lookback: 90, horizon: 10, T: 0.6, top_p: 0.9, sample_count: 5, signal: mean_return}
        runtime: {device: auto, memory_budget_gb: 4}

The fields of ``forecast`` (:class:`ForecastSettings`) and ``runtime`` (:class:`RuntimeSettings`)
may also be given flat (``lookback: 90``, ``device: cpu``); flat keys override the groups.
Everything is validated here, at construction.

``predict`` is the signal of ``forecast``: :meth:`KronosModel.forecast` gives the sample paths of
every window of a segment (for volatility, factors, universes), and ``predict`` applies
``forecast.signal`` to them.

State that must survive qrun's pickling (``params.pkl``) is public: the settings
(``forecast_settings``, ``runtime``, ``source``) and the checkpoint *paths* (``tokenizer_path``,
``predictor_path``). The loaded networks live in
``_pair``, which Qlib's ``Serializable`` drops; it is reloaded from the paths on first use. Trained
checkpoints are also logged to the recorder that ran ``fit`` (``checkpoint_artifacts``), so a pickled
model unpickled where those paths are missing loads them from the recorder instead.
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pandas as pd
import torch
from qlib.model.base import Model

from kronos_quant.data.windows import KronosWindows
from kronos_quant.device import resolve_device, torch_threads
from kronos_quant.inference.forecast import forecast_windows
from kronos_quant.inference.forecast_result import ForecastResult
from kronos_quant.inference.pair import KronosPair, load_pair
from kronos_quant.inference.sampling import window_uniforms
from kronos_quant.qlib_ext.checkpoint_artifacts import CheckpointArtifacts, checkpoint_path, log_checkpoints
from kronos_quant.qlib_ext.model_settings import (
    ForecastSettings,
    RuntimeSettings,
    SourceSettings,
    build_settings,
    checkpoint_dir,
)
from kronos_quant.research.signals import compute_signal

logger = logging.getLogger(__name__)


class KronosModel(Model):
    """Kronos forecasts -> one score per (datetime, instrument); see the module docstring.

    Args:
        tokenizer, predictor, mode, train_config, output_dir: see :class:`SourceSettings`.
        forecast: :class:`ForecastSettings` or a mapping of its fields.
        runtime: :class:`RuntimeSettings` or a mapping of its fields.
        **flat: any field of ForecastSettings / RuntimeSettings given directly.
    """

    def __init__(self, tokenizer, predictor, mode: str = "zero_shot", *, train_config=None,
                 output_dir: str = "outputs/kronos_model", forecast=None, runtime=None, **flat):
        self.source = SourceSettings(tokenizer=tokenizer, predictor=predictor, mode=mode,
                                     train_config=train_config, output_dir=str(output_dir))
        self.forecast_settings = build_settings(ForecastSettings, forecast, flat)
        self.runtime = build_settings(RuntimeSettings, runtime, flat)
        if flat:
            raise ValueError(f"KronosModel: unknown arguments {sorted(flat)}; see SourceSettings, ForecastSettings "
                             "and RuntimeSettings in kronos_quant.qlib_ext.model_settings for the valid ones")
        self.tokenizer_path: str | None = None  # checkpoint dirs used by predict(); set now or by fit()
        self.predictor_path: str | None = None
        if mode == "zero_shot":
            self.tokenizer_path = str(checkpoint_dir(tokenizer, "tokenizer"))
            self.predictor_path = str(checkpoint_dir(predictor, "predictor"))
        self.train_summary: dict = {}  # per network: best_dir, best_val_loss, steps (after fit)
        self.checkpoint_artifacts: CheckpointArtifacts | None = None  # trained checkpoints in the recorder

    @property
    def fitted(self) -> bool:
        return self.tokenizer_path is not None and self.predictor_path is not None

    def fit(self, dataset, reweighter=None):
        """zero_shot: load both checkpoints (strictly) and stop. finetune/scratch: train on the
        dataset's ``train`` segment with early stopping on ``valid``; keep the best checkpoints' paths."""
        if reweighter is not None:
            raise ValueError("KronosModel does not support a reweighter (sample weights); remove it from the task")
        check_dataset(dataset, self.forecast_settings)
        if self.source.mode == "zero_shot":
            self.networks()
            return self
        with torch_threads(getattr(self.runtime, "threads", None)):  # absent in pickles older than the field
            return self._train(dataset)

    def _train(self, dataset):
        """fit's finetune/scratch branch: both networks on ``train``, early stopping on ``valid``."""
        from kronos_quant.qlib_ext.training_data import windows_to_arrays
        from kronos_quant.training import fit_predictor, fit_tokenizer

        missing = [name for name in ("train", "valid") if name not in dataset.segments]
        if missing:
            raise ValueError(f"mode {self.source.mode} needs dataset segments 'train' and 'valid' (early stopping); "
                             f"missing {missing}")
        clip = float(self.forecast_settings.clip)
        train = windows_to_arrays(dataset.prepare("train", mode="train"), clip=clip)
        valid = windows_to_arrays(dataset.prepare("valid", mode="train"), clip=clip)
        plan, out_dir = self.source.train_plan(), Path(self.source.output_dir).expanduser().resolve()
        from_scratch = self.source.mode == "scratch"
        tokenizer_path = self._source_dir("tokenizer")
        if plan["tokenizer"] is not None:
            config = plan["tokenizer"].replace(model=_spec(self.source.tokenizer), from_scratch=from_scratch,
                                               out_dir=str(out_dir / "tokenizer"))
            tokenizer_path = self._record("tokenizer", fit_tokenizer(config, train, valid))
        predictor_path = self._source_dir("predictor")
        if plan["predictor"] is not None:
            config = plan["predictor"].replace(model=_spec(self.source.predictor), from_scratch=from_scratch,
                                               tokenizer=tokenizer_path, out_dir=str(out_dir / "predictor"))
            predictor_path = self._record("predictor", fit_predictor(config, train, valid))
        else:
            logger.warning("the tokenizer was retrained but the predictor was not: its tokens may no longer match")
        self.tokenizer_path, self.predictor_path = tokenizer_path, predictor_path
        trained = {network: getattr(self, f"{network}_path") for network in self.train_summary}
        self.checkpoint_artifacts = log_checkpoints(trained)
        self._pair = None
        return self

    def predict(self, dataset, segment: str | slice = "test") -> pd.Series:
        """Scores (name ``score``) indexed (datetime, instrument): the score at t uses bars <= t only.

        The signal (``forecast.signal``) of :meth:`forecast`'s paths.
        """
        index, result = self.forecast(dataset, segment)
        return pd.Series(self.score(result), index=index, name="score")

    def forecast(self, dataset, segment: str | slice = "test") -> tuple[pd.MultiIndex, ForecastResult]:
        """Sample paths of every window of ``segment``: its (datetime, instrument) index and a
        :class:`ForecastResult` (paths float32 (N, P, H, 6) in price units, last_close (N,))."""
        windows = self.prepare_windows(dataset, segment)
        return windows.index, self.forecast_rows(windows.x, windows.x_stamp, windows.y_stamp, windows.index)

    def forecast_rows(self, x, x_stamp, y_stamp, index: pd.MultiIndex, *, progress: bool | None = None
                      ) -> ForecastResult:
        """Paths of any rows of a segment's windows; each row's uniforms are keyed by its (datetime, instrument)
        and the seed, so a row's paths do not depend on the other rows (universe, segment, shard)."""
        settings, pair = self.forecast_settings, self.networks()
        x, x_stamp, y_stamp = settings.crop(x, x_stamp, y_stamp)
        config = settings.generation
        uniforms = window_uniforms(index, config.sample_count, config.pred_len, seed=int(settings.seed))
        with torch_threads(getattr(self.runtime, "threads", None)):
            return forecast_windows(pair.tokenizer, pair.model, x, x_stamp, y_stamp, config, uniforms,
                                    clip=float(settings.clip), device=pair.device,
                                    memory_budget_gb=float(self.runtime.memory_budget_gb),
                                    progress=bool(self.runtime.progress) if progress is None else progress)

    def score(self, result: ForecastResult):
        """float64 (N,) scores: the settings' signal of the paths."""
        return compute_signal(self.forecast_settings.signal, result.paths, result.last_close)

    def prepare_windows(self, dataset, segment) -> KronosWindows:
        """Inference windows of a segment name or ``slice(start, end)`` (KronosDataset only)."""
        if not isinstance(segment, (str, slice)):
            raise TypeError(f"KronosModel.predict takes a segment name such as 'test' or slice(start, end), got "
                            f"{segment!r}")
        check_dataset(dataset, self.forecast_settings)
        return dataset.prepare(segment, mode="inference")

    def __setstate__(self, state: dict) -> None:
        old = state.pop("forecast", None)  # params.pkl written before ``forecast`` became a method
        if old is not None and "forecast_settings" not in state:
            names = [field.name for field in dataclasses.fields(ForecastSettings) if field.init]
            state["forecast_settings"] = ForecastSettings(**{name: getattr(old, name) for name in names})
        super().__setstate__(state)

    def networks(self) -> KronosPair:
        """The loaded tokenizer and predictor (cached; reloaded from the paths after unpickling)."""
        pair = getattr(self, "_pair", None)
        if pair is None:
            if not self.fitted:
                raise ValueError(f"mode {self.source.mode}: call fit(dataset) first (it trains and stores the "
                                 "checkpoint paths), or use mode zero_shot with existing checkpoints")
            artifacts = getattr(self, "checkpoint_artifacts", None)  # absent in pickles older than the field
            paths = [checkpoint_path(getattr(self, f"{network}_path"), network, artifacts)
                     for network in ("tokenizer", "predictor")]
            pair = load_pair(*paths, self.device())
            self._pair = pair
        return pair

    def device(self) -> torch.device:
        return resolve_device(self.runtime.device)

    def _source_dir(self, network: str) -> str | None:
        spec = getattr(self.source, network)
        return None if self.source.mode == "scratch" else str(checkpoint_dir(spec, network))

    def _record(self, network: str, result) -> str:
        self.train_summary[network] = {"best_dir": str(result.best_dir), "best_val_loss": result.best_val_loss,
                                       "steps": result.steps, "stopped_early": result.stopped_early}
        logger.info("%s trained: %d steps, best val loss %.5f -> %s", network, result.steps,
                    result.best_val_loss, result.best_dir)
        return str(Path(result.best_dir).resolve())


def _spec(value):
    """A source for TrainConfig.model: plain dict for mappings (YAML may give ordered/commented maps)."""
    return dict(value) if hasattr(value, "keys") else str(value)


def check_dataset(dataset, forecast: ForecastSettings) -> None:
    """A TypeError/ValueError unless ``dataset`` is a KronosDataset with enough lookback and horizon."""
    if not hasattr(dataset, "prepare_windows"):
        raise TypeError(f"KronosModel needs a KronosDataset (module_path kronos_quant.qlib_ext.dataset), "
                        f"got {type(dataset).__name__}")
    if dataset.lookback < forecast.lookback or dataset.horizon < forecast.horizon:
        raise ValueError(f"the dataset's lookback/horizon ({dataset.lookback}, {dataset.horizon}) are shorter than "
                         f"the model's ({forecast.lookback}, {forecast.horizon}); raise the dataset's")
