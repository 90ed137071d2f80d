"""Training: losses, the shared loop, DDP helpers and crash-safe checkpoint/resume (no qlib here).

Start with :func:`fit_tokenizer`, :func:`fit_predictor` or :func:`train_kronos` (see
``kronos_quant.training.fit``); ``kronos-quant train tokenizer|predictor --config FILE.yaml`` is the CLI.
"""
from kronos_quant.training.config import DataConfig, TrainConfig, load_train_config
from kronos_quant.training.datasets import WindowArrays, load_window_arrays, save_window_arrays
from kronos_quant.training.fit import fit_predictor, fit_tokenizer, train_kronos
from kronos_quant.training.loop import NonFiniteLossError, Trainer, TrainResult

__all__ = ["DataConfig", "NonFiniteLossError", "TrainConfig", "TrainResult", "Trainer", "WindowArrays",
           "fit_predictor", "fit_tokenizer", "load_train_config", "load_window_arrays", "save_window_arrays",
           "train_kronos"]
