"""KronosPredictor: the DataFrame API, with the official signatures plus sample paths and quantiles."""
from __future__ import annotations

import logging
from collections.abc import Sequence

import pandas as pd
import torch

from kronos_quant.device import resolve_device
from kronos_quant.inference.forecast import forecast_windows
from kronos_quant.inference.forecast_result import ForecastResult
from kronos_quant.inference.generation_config import GenerationConfig
from kronos_quant.inference.pair import check_pair
from kronos_quant.inference.sampling import SamplingConfig, draw_uniforms, keyed_uniforms
from kronos_quant.inference.series_input import prepare_many
from kronos_quant.model.kronos import Kronos
from kronos_quant.model.tokenizer import KronosTokenizer

logger = logging.getLogger(__name__)


class KronosPredictor:
    """Forecast OHLCV DataFrames with a tokenizer + predictor pair.

    Args:
        model, tokenizer: a :class:`Kronos` and its :class:`KronosTokenizer` (put in eval mode here).
        device: None picks cuda, then mps, then cpu.
        max_context: tokens (bars) the predictor sees. As in the official predictor, a longer lookback is
            normalised and tokenised in full, then generation conditions on its latest max_context tokens.
        clip: normalised inputs are clipped to ±clip.
        engine: "cached" (fast, default) or "recompute" (the official algorithm).
        sliding: past max_context, "exact" (default) or "rolling" (approximate, faster).
        autocast: None, "bf16" or "fp16" mixed precision.
        memory_budget_gb: per-chunk memory target for large universes.
    """

    def __init__(self, model: Kronos, tokenizer: KronosTokenizer, device=None, max_context: int = 512,
                 clip: float = 5, *, engine: str = "cached", sliding: str = "exact", autocast: str | None = None,
                 memory_budget_gb: float = 2.0):
        check_pair(tokenizer, model)
        if clip <= 0:
            raise ValueError(f"clip must be > 0, got {clip}")
        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer.to(self.device).eval()
        self.max_context, self.clip = int(max_context), float(clip)
        self.engine, self.sliding, self.autocast = engine, sliding, autocast
        self.memory_budget_gb = memory_budget_gb
        self._config(1, SamplingConfig(), 1)  # validates engine/sliding/autocast now, not mid-run

    def _config(self, pred_len: int, sampling: SamplingConfig, sample_count: int) -> GenerationConfig:
        return GenerationConfig(pred_len=pred_len, max_context=self.max_context, sampling=sampling,
                                sample_count=sample_count, engine=self.engine, sliding=self.sliding,
                                autocast=self.autocast)

    def predict_paths(self, df_list: Sequence[pd.DataFrame], x_timestamp_list, y_timestamp_list, pred_len: int,
                      T: float = 1.0, top_k: int = 0, top_p: float = 0.9, sample_count: int = 1,
                      verbose: bool = False, seed: int | None = None,
                      generator: torch.Generator | None = None,
                      series_keys: Sequence | None = None) -> ForecastResult:
        """Every sample path of every series, in price space.

        Series may differ in lookback length and timestamps. Returns a :class:`ForecastResult`
        with paths (N, sample_count, pred_len, 6).

        Randomness: by default the uniforms are drawn in list order from ``seed`` (or ``generator``,
        or torch's global generator), so a series' paths depend on its position in the list. Pass
        ``series_keys`` (one stable key per series, e.g. ``"2024-06-13|SH600000"``) with a seed to
        make each series' paths depend on its key alone, whatever else is in the list.
        """
        if isinstance(df_list, pd.DataFrame) or not isinstance(df_list, (list, tuple)):
            raise TypeError("df_list must be a list of DataFrames; use predict() for a single series")
        if not (len(df_list) == len(x_timestamp_list) == len(y_timestamp_list)) or not df_list:
            raise ValueError(f"df_list, x_timestamp_list and y_timestamp_list must be non-empty and of equal "
                             f"length, got {len(df_list)}, {len(x_timestamp_list)}, {len(y_timestamp_list)}")
        if int(pred_len) < 1:
            raise ValueError(f"pred_len must be >= 1, got {pred_len}")
        config = self._config(int(pred_len), SamplingConfig(temperature=T, top_k=top_k, top_p=top_p),
                              int(sample_count))
        prepared = prepare_many(df_list, x_timestamp_list, y_timestamp_list, config.pred_len,
                                series_keys=series_keys)
        uniforms = self._uniforms(len(prepared), config, seed, generator, series_keys)
        return forecast_windows(self.tokenizer, self.model, [p.bars for p in prepared],
                                [p.x_stamp for p in prepared], [p.y_stamp for p in prepared], config, uniforms,
                                clip=self.clip, device=self.device, memory_budget_gb=self.memory_budget_gb,
                                progress=verbose, timestamps=[p.y_index for p in prepared])

    @staticmethod
    def _uniforms(n_series: int, config: GenerationConfig, seed, generator, series_keys) -> torch.Tensor:
        if series_keys is None:
            return draw_uniforms(n_series, config.sample_count, config.pred_len, seed=seed, generator=generator)
        if seed is None or generator is not None:
            raise ValueError("series_keys needs a seed (and no generator): keyed paths are a function of "
                             "(seed, key)")
        if len(series_keys) != n_series or len(set(map(str, series_keys))) != n_series:
            raise ValueError(f"series_keys must hold {n_series} distinct keys, one per series")
        return keyed_uniforms(series_keys, config.sample_count, config.pred_len, seed=seed)

    def predict(self, df: pd.DataFrame, x_timestamp, y_timestamp, pred_len: int, T: float = 1.0, top_k: int = 0,
                top_p: float = 0.9, sample_count: int = 1, verbose: bool = True,
                seed: int | None = None) -> pd.DataFrame:
        """Mean forecast (pred_len, 6) of one series, indexed by y_timestamp (the official API)."""
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
        result = self.predict_paths([df], [x_timestamp], [y_timestamp], pred_len, T=T, top_k=top_k, top_p=top_p,
                                    sample_count=sample_count, verbose=verbose, seed=seed)
        return result.mean()[0]

    def predict_batch(self, df_list: Sequence[pd.DataFrame], x_timestamp_list, y_timestamp_list, pred_len: int,
                      T: float = 1.0, top_k: int = 0, top_p: float = 0.9, sample_count: int = 1,
                      verbose: bool = True, seed: int | None = None,
                      series_keys: Sequence | None = None) -> list[pd.DataFrame]:
        """Mean forecasts of several series (the official API); lookbacks may differ in length."""
        result = self.predict_paths(df_list, x_timestamp_list, y_timestamp_list, pred_len, T=T, top_k=top_k,
                                    top_p=top_p, sample_count=sample_count, verbose=verbose, seed=seed,
                                    series_keys=series_keys)
        return result.mean()

    def predict_quantiles(self, df_list, x_timestamp_list, y_timestamp_list, pred_len: int,
                          quantile_levels: Sequence[float] = (0.1, 0.5, 0.9), **kwargs) -> list[pd.DataFrame]:
        """Per series, the quantiles and mean over sample paths (columns (field, level))."""
        return self.predict_paths(df_list, x_timestamp_list, y_timestamp_list, pred_len,
                                  **kwargs).quantiles(quantile_levels)
