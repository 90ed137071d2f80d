"""Command-line errors read like errors: one `error:` line, exit 1, the traceback only on request."""
from __future__ import annotations

import pandas as pd
import pytest

import kronos_quant.cli as cli
from kronos_quant.cli import main


def _bad_csv_dir(tmp_path):
    src = tmp_path / "csv"
    src.mkdir()
    pd.DataFrame({"date": ["2024-01-02", "2024-01-03"], "open": [1.0, 1.0], "high": [1.1, 0.5],
                  "low": [0.9, 0.9], "close": [1.0, 1.0], "volume": [10.0, 10.0]}).to_csv(src / "SH600000.csv",
                                                                                          index=False)
    return src


def test_toolkit_error_is_one_plain_line(tmp_path, capsys):
    assert main(["data", "import-csv", str(_bad_csv_dir(tmp_path)), "--out", str(tmp_path / "p")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("kronos-quant data: error: SH600000.csv has invalid bars:")
    assert "high below low, first at row 1 (2024-01-03" in err and "Traceback" not in err
    assert "--debug" in err


def test_missing_file_names_the_path(tmp_path, capsys):
    assert main(["data", "import-csv", str(tmp_path / "nowhere"), "--out", str(tmp_path / "p")]) == 1
    assert "nowhere" in capsys.readouterr().err


@pytest.mark.parametrize("how", ["flag_first", "flag_last", "env"])
def test_debug_shows_the_traceback(tmp_path, monkeypatch, how):
    argv = ["data", "import-csv", str(_bad_csv_dir(tmp_path)), "--out", str(tmp_path / "p")]
    if how == "env":
        monkeypatch.setenv("KRONOS_DEBUG", "1")
    argv = ["--debug", *argv] if how == "flag_first" else argv + (["--debug"] if how == "flag_last" else [])
    with pytest.raises(ValueError, match="invalid bars"):
        main(argv)


def test_error_after_qlib_init_still_reaches_the_user(tiny_market, monkeypatch, capsys):
    import kronos_quant.cli.report as report

    def failing_run(args):
        from kronos_quant.qlib_ext.qlib_setup import init_qlib

        init_qlib(provider_uri=tiny_market)  # qlib reconfigures logging here
        raise ValueError("segment test starts after the data ends")

    monkeypatch.setattr(report, "run", failing_run)
    assert main(["report", "--experiment", "x"]) == 1
    assert "kronos-quant report: error: segment test starts after the data ends" in capsys.readouterr().err


def test_a_missing_subcommand_module_is_an_error(monkeypatch):
    monkeypatch.setattr(cli, "SUBCOMMAND_MODULES", cli.SUBCOMMAND_MODULES + ("vanished",))
    with pytest.raises(ImportError, match=r"kronos_quant/cli/vanished.py is missing"):
        cli.build_parser()


def test_every_subcommand_is_registered():
    commands = cli.build_parser()._subparsers._group_actions[0].choices
    assert set(cli.SUBCOMMAND_MODULES) <= set(commands)


@pytest.mark.parametrize("uri", [None, "mlruns", "sqlite:///tracking.db"])
def test_report_on_a_missing_store_creates_nothing(tmp_path, monkeypatch, caplog, uri):
    monkeypatch.chdir(tmp_path)
    argv = ["report", "--experiment", "nope", "--out", "report"] + (["--uri", uri] if uri else [])
    assert main(argv) == 2
    assert "no MLflow tracking store" in caplog.text
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_invalid_date_argument_is_named(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["data", "synth", "--out", "unused", "--start", "2020-13-01"])
    assert exit_info.value.code == 2
    assert "argument --start: '2020-13-01' is not a date; write it as YYYY-MM-DD" in capsys.readouterr().err


@pytest.mark.parametrize("lookback", ["0", "-5"])
def test_forecast_lookback_must_be_positive(tmp_path, capsys, lookback):
    csv = tmp_path / "bars.csv"
    pd.DataFrame({"date": pd.bdate_range("2024-01-01", periods=5), "open": 1.0, "high": 1.1, "low": 0.9,
                  "close": 1.0}).to_csv(csv, index=False)
    argv = ["forecast", "--csv", str(csv), "--tokenizer", "t", "--predictor", "p", "--lookback", lookback]
    assert main(argv) == 1
    assert f"--lookback must be >= 1, got {lookback}" in capsys.readouterr().err
