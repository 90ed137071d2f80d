"""The README's Python API example runs as written (hub ids swapped for tiny local checkpoints)."""
import re
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from kronos_test_helpers import tiny_predictor_config, tiny_tokenizer_config

from kronos_quant import Kronos, KronosTokenizer

README = Path(__file__).resolve().parents[1] / "README.md"


def api_example() -> str:
    section = README.read_text(encoding="utf-8").split("## Python API", 1)[1]
    return re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)


def write_bars(path: Path, n_bars: int = 520) -> None:
    rng = np.random.default_rng(0)
    close = 20 * np.exp(np.cumsum(rng.normal(0, 0.01, n_bars)))
    frame = pd.DataFrame({"timestamps": pd.date_range("2024-06-18 09:35", periods=n_bars, freq="5min"),
                          "open": close * (1 + rng.normal(0, 0.002, n_bars)), "close": close})
    frame["high"] = frame[["open", "close"]].max(axis=1) * 1.002
    frame["low"] = frame[["open", "close"]].min(axis=1) * 0.998
    frame["volume"] = rng.uniform(1e4, 5e4, n_bars)
    frame["amount"] = frame["volume"] * close
    frame.to_csv(path, index=False)


def test_python_api_example_runs(tmp_path, monkeypatch):
    torch.manual_seed(0)
    tokenizer_dir = KronosTokenizer(tiny_tokenizer_config()).save_pretrained(tmp_path / "tok")
    model_dir = Kronos(tiny_predictor_config()).save_pretrained(tmp_path / "model")
    code = api_example()
    assert '"NeoQuasar/Kronos-small"' in code and '"NeoQuasar/Kronos-Tokenizer-base"' in code
    code = code.replace('"NeoQuasar/Kronos-Tokenizer-base"', repr(str(tokenizer_dir)))
    code = code.replace('"NeoQuasar/Kronos-small"', repr(str(model_dir)))
    monkeypatch.chdir(tmp_path)
    write_bars(tmp_path / "bars.csv")
    namespace: dict = {}
    exec(compile(code, str(README), "exec"), namespace)
    assert namespace["mean_df"].shape == (120, 6)
    assert namespace["result"].paths.shape == (1, 20, 120, 6)
    assert np.isfinite(namespace["result"].paths).all()
