"""The neural networks: layers, BSQ quantiser, tokenizer, predictor and checkpoint I/O (tensors only)."""
from kronos_quant.model.checkpoint import CheckpointError
from kronos_quant.model.config import KronosConfig, TokenizerConfig
from kronos_quant.model.kronos import Kronos
from kronos_quant.model.presets import PREDICTOR_PRESETS, TOKENIZER_PRESETS, predictor_config, tokenizer_config
from kronos_quant.model.tokenizer import KronosTokenizer

__all__ = ["CheckpointError", "Kronos", "KronosConfig", "KronosTokenizer", "PREDICTOR_PRESETS",
           "TOKENIZER_PRESETS", "TokenizerConfig", "predictor_config", "tokenizer_config"]
