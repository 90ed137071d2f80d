"""`kronos-quant data synth | import-csv` end to end on tiny inputs."""
from __future__ import annotations

import pandas as pd

from kronos_quant.cli import main
from kronos_quant.data import qlib_bin
from kronos_quant.data.synth import SynthConfig, ensure_synthetic_market


def test_synth_cli_and_ensure(tmp_path):
    out = tmp_path / "cn_synth"
    assert main(["data", "synth", "--out", str(out), "--seed", "3", "--instruments", "12",
                 "--start", "2021-01-04", "--end", "2021-08-31"]) == 0
    assert qlib_bin.read_instruments(out, "csi300")["instrument"].nunique() >= 9
    stamp = (out / "calendars" / "day.txt").stat().st_mtime_ns
    config = SynthConfig(seed=3, n_instruments=12, universe_size=9, start="2021-01-04", end="2021-08-31")
    assert ensure_synthetic_market(out, config) == out
    assert (out / "calendars" / "day.txt").stat().st_mtime_ns == stamp  # not regenerated


def test_import_csv_cli(tmp_path):
    src = tmp_path / "csv"
    src.mkdir()
    days = pd.bdate_range("2021-01-04", periods=5).strftime("%Y-%m-%d")
    pd.DataFrame({"date": days, "open": 1.0, "high": 1.2, "low": 0.9, "close": [1.0, 1.1, 1.0, 1.05, 1.1],
                  "volume": 100.0}).to_csv(src / "SH600000.csv", index=False)
    assert main(["data", "import-csv", str(src), "--out", str(tmp_path / "prov")]) == 0
    assert main(["data", "check", str(tmp_path / "prov")]) == 0
    start, change = qlib_bin.read_feature(tmp_path / "prov", "SH600000", "change")
    assert start == 0 and abs(change[1] - 0.1) < 1e-6
