"""kronos-quant: Kronos, the K-line foundation model, as a Qlib research toolkit.

``import kronos_quant`` loads the model and inference layers only; the Qlib adapters live in
``kronos_quant.qlib_ext`` and are imported explicitly.
"""
from kronos_quant.inference import ForecastResult, GenerationConfig, KronosPredictor, SamplingConfig
from kronos_quant.model import (
                                CheckpointError,
                                Kronos,
                                KronosConfig,
                                KronosTokenizer,
                                TokenizerConfig,
                                predictor_config,
                                tokenizer_config,
)

__version__ = "0.1.0"

__all__ = ["CheckpointError", "ForecastResult", "GenerationConfig", "Kronos", "KronosConfig", "KronosPredictor",
           "KronosTokenizer", "SamplingConfig", "TokenizerConfig", "predictor_config", "tokenizer_config"]
