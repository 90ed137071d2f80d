"""A tokenizer whose d_in differs from the bars' columns fails with an error naming both, before any matmul."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from kronos_test_helpers import tiny_predictor_config, tiny_tokenizer_config

from kronos_quant.model import Kronos, KronosTokenizer


def test_encode_rejects_bars_of_another_width():
    tokenizer = KronosTokenizer(tiny_tokenizer_config(d_in=5))
    with pytest.raises(ValueError, match="d_in=5 .* but the bars have 6 columns"):
        tokenizer.encode(torch.zeros(2, 8, 6))
    with pytest.raises(ValueError, match="d_in=5"):
        tokenizer(torch.zeros(2, 8, 6))  # the training forward too
    assert tokenizer.encode(torch.zeros(2, 8, 5))[0].shape == (2, 8)


def test_predictor_with_a_five_column_tokenizer_says_so():
    from kronos_quant import KronosPredictor

    torch.manual_seed(0)
    predictor = KronosPredictor(Kronos(tiny_predictor_config()), KronosTokenizer(tiny_tokenizer_config(d_in=5)),
                                device="cpu")
    times = pd.Series(pd.bdate_range("2024-01-02", periods=40))
    close = np.linspace(10, 11, 40)
    bars = pd.DataFrame({"open": close, "high": close * 1.01, "low": close * 0.99, "close": close,
                         "volume": np.full(40, 1e4)})
    future = pd.Series(pd.bdate_range(times.iloc[-1] + pd.Timedelta(days=1), periods=3))
    with pytest.raises(ValueError, match="use a tokenizer trained on 6 columns"):
        predictor.predict_paths([bars], [times], [future], 3, sample_count=1, seed=0)
