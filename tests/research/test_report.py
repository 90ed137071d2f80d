"""End-to-end report rendering from a fabricated run (fixed seeds, no Qlib provider needed)."""
import json
import re

import numpy as np
import pandas as pd
import pytest
from qlib.contrib.evaluate import risk_analysis

from kronos_quant.research import ic_analysis as ica
from kronos_quant.research.report_data import SignalResult, normalize_risk_tables
from kronos_quant.research.report_html import write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
N_DAYS, N_INST = 45, 15


def _fake_run(name: str, seed: int, strength: float) -> SignalResult:
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2021-11-01", periods=N_DAYS, name="datetime")
    index = pd.MultiIndex.from_product([dates, [f"S{i:02d}" for i in range(N_INST)]], names=["datetime", "instrument"])
    pred = pd.Series(rng.normal(size=len(index)), index=index)
    label = pd.Series(strength * 0.01 * pred.to_numpy() + rng.normal(0, 0.02, len(index)), index=index)
    report = pd.DataFrame(
        {
            "return": rng.normal(0.001, 0.01, N_DAYS),
            "bench": rng.normal(0.0, 0.01, N_DAYS),
            "cost": np.full(N_DAYS, 0.0003),
            "turnover": rng.uniform(0.1, 0.3, N_DAYS),
        },
        index=dates,
    )
    labels = ica.forward_returns(
        pd.DataFrame(np.cumprod(1 + rng.normal(0, 0.01, (N_DAYS, N_INST)), axis=0), index=dates,
                     columns=index.levels[1]), horizons=(1, 2, 3)
    )
    return SignalResult(name, pred.to_frame("score"), label.to_frame("LABEL0"), report, decay_labels=labels)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    results = [_fake_run("kronos_raw", 0, 1.0), _fake_run("kronos_neutral", 1, 0.5), _fake_run("lgbm", 2, 0.0)]
    out = tmp_path_factory.mktemp("report")
    return results, out, write_report(results, out, n_quantiles=5, rolling_window=5)


def test_files_exist_and_pngs_are_valid(rendered):
    results, out, path = rendered
    assert path == out / "report.html" and path.stat().st_size > 0
    pngs = sorted((out / "figures").glob("*.png"))
    stems = {p.stem for p in pngs}
    assert {"cumulative_return", "excess_return", "drawdown", "turnover", "ic", "ic_decay", "quantile_returns"} <= stems
    assert {f"monthly_excess_{r.name}" for r in results} <= stems
    for png in pngs:
        data = png.read_bytes()
        assert len(data) > 1000 and data.startswith(PNG_MAGIC)
    for name in ("summary.csv", "metrics.json", "kronos_raw_ic.csv", "lgbm_risk.csv", "lgbm_ic_decay.csv"):
        assert (out / name).stat().st_size > 0


def test_html_is_self_contained_and_embeds_all_figures(rendered):
    _, out, path = rendered
    text = path.read_text()
    assert "http://" not in text and "https://" not in text
    assert text.count('src="data:image/png;base64,') == len(list((out / "figures").glob("*.png")))


def _html_number(text: str, signal: str, metric: str) -> float:
    match = re.search(rf'data-signal="{signal}" data-metric="{re.escape(metric)}">([^<]+)</td>', text)
    assert match, f"{signal}/{metric} not in the HTML"
    return float(match.group(1))


@pytest.mark.parametrize("signal", ["kronos_raw", "kronos_neutral", "lgbm"])
def test_html_numbers_equal_computed(rendered, signal):
    results, out, path = rendered
    text = path.read_text()
    result = next(r for r in results if r.name == signal)
    ic = ica.ic_series(result.pred, result.label)
    assert _html_number(text, signal, "IC_mean") == pytest.approx(ic["IC"].mean(), rel=1e-5)
    assert _html_number(text, signal, "RankIC_icir") == pytest.approx(
        ic["RankIC"].mean() / ic["RankIC"].std(), rel=1e-5
    )
    excess = result.portfolio_report["return"] - result.portfolio_report["bench"] - result.portfolio_report["cost"]
    expected_ir = risk_analysis(excess, freq="day").loc["information_ratio", "risk"]
    assert _html_number(text, signal, "excess_return_with_cost.information_ratio") == pytest.approx(
        expected_ir, rel=1e-5
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics[signal]["IC_mean"] == pytest.approx(ic["IC"].mean(), rel=1e-12)


def test_kronos_raw_has_positive_ic(rendered):
    _, out, _ = rendered
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["kronos_raw"]["IC_mean"] > 0.2 > metrics["lgbm"]["IC_mean"]


def test_qlib_port_analysis_layout_is_normalized(rendered):
    results, _, _ = rendered
    report = results[0].portfolio_report
    qlib_layout = pd.concat(
        {
            "excess_return_without_cost": risk_analysis(report["return"] - report["bench"]),
            "excess_return_with_cost": risk_analysis(report["return"] - report["bench"] - report["cost"]),
        }
    )
    table = normalize_risk_tables(qlib_layout)
    assert list(table.columns) == ["excess_return_without_cost", "excess_return_with_cost"]
    assert table.loc["max_drawdown", "excess_return_with_cost"] <= 0


def test_bad_inputs(tmp_path):
    good = _fake_run("a", 0, 1.0)
    with pytest.raises(ValueError, match="unique"):
        write_report([good, good], tmp_path)
    with pytest.raises(ValueError, match="report_normal_1day"):
        SignalResult("b", good.pred, good.label, good.portfolio_report.drop(columns="cost"))


def test_headline_leads_with_formatted_numbers_and_the_label(tmp_path):
    from dataclasses import replace

    from kronos_quant.research.report_data import label_horizon_of

    run = replace(
        _fake_run("kronos", 3, 1.0), label_expression="Ref($close, -6) / Ref($close, -1) - 1", label_horizon=None
    )
    assert run.label_horizon == 5 == label_horizon_of(run.label_expression)
    text = write_report([run], tmp_path, rolling_window=5).read_text()
    assert text.index("<h2>Headline</h2>") < text.index("<h2>All metrics</h2>") < text.index("<h2>Figures</h2>")
    assert "Ref($close, -6) / Ref($close, -1) - 1</code> (5-day horizon" in text
    assert "close[t+2]" not in text  # no hard-coded label
    metrics = json.loads((tmp_path / "metrics.json").read_text())["kronos"]
    assert metrics["label_horizon"] == 5 and metrics["IC_hac_lags"] >= 5

    def cell(label):
        match = re.search(rf'data-headline="{re.escape(label)}" data-signal="kronos">([^<]*)</td>', text)
        assert match, label
        return match.group(1)

    annualised = metrics["excess_return_with_cost.annualized_return"]
    assert cell("Annualised excess return, with cost") == f"{100 * annualised:.2f}%"
    assert cell("Max drawdown, with cost").endswith("%") and cell("Turnover, daily mean").endswith("%")
    assert float(cell("HAC t (IC)")) == pytest.approx(metrics["IC_hac_t"], abs=5e-3)
    assert float(cell("IC (mean)")) == pytest.approx(metrics["IC_mean"], abs=5e-5)


def test_unknown_label_is_said_so(rendered):
    _, _, path = rendered
    assert "not recorded in the run (1-day horizon" in path.read_text()
