"""Generation engines (tokens in, tokens out) and the DataFrame-level predictor."""
from kronos_quant.inference.forecast import forecast_windows
from kronos_quant.inference.forecast_result import ForecastResult
from kronos_quant.inference.generation import generate_paths, generate_tokens
from kronos_quant.inference.generation_config import GenerationConfig
from kronos_quant.inference.predictor import KronosPredictor
from kronos_quant.inference.sampling import SamplingConfig, draw_uniforms

__all__ = ["ForecastResult", "GenerationConfig", "KronosPredictor", "SamplingConfig", "draw_uniforms",
           "forecast_windows", "generate_paths", "generate_tokens"]
