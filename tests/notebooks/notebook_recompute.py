"""Independent recomputation of the notebooks' key outputs (numpy/scipy, labels from the provider's .bin files).

Each ``DUMPS[nn]`` names expressions the executed notebook's kernel saves (see ``dump_cell``); each
``CHECKS[nn](outputs, saved)`` asserts the printed KEY_OUTPUTS against numbers recomputed from them here,
without the package's IC, loss or calibration code.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

ANN_DAYS = 238  # Qlib's risk_analysis: annualised = mean daily return * 238


def dump_cell(expressions: dict[str, str], path: Path) -> str:
    """Source of a cell that pickles ``{name: eval(expression)}`` to ``path`` in the notebook's kernel."""
    items = ", ".join(f"{name!r}: ({expression})" for name, expression in expressions.items())
    return f"import pickle as _pickle\nwith open({str(path)!r}, 'wb') as _file:\n    _pickle.dump({{{items}}}, _file)"


# --- data straight from the provider ---------------------------------------------------------------------------

def provider_close(provider, instruments) -> pd.DataFrame:
    """Raw ``$close`` (calendar days x instruments) read from ``features/<code>/close.day.bin``.

    A .day.bin file is float32 ``[start index into calendars/day.txt, values...]``.
    """
    provider = Path(provider)
    calendar = pd.DatetimeIndex(pd.read_csv(provider / "calendars" / "day.txt", header=None)[0])
    close = pd.DataFrame(np.nan, index=calendar, columns=sorted(set(instruments)))
    for code in close.columns:
        raw = np.fromfile(provider / "features" / code.lower() / "close.day.bin", dtype="<f4")
        start = int(raw[0])
        close.iloc[start:start + len(raw) - 1, close.columns.get_loc(code)] = raw[1:]
    return close


def qlib_label(provider, index: pd.MultiIndex) -> pd.Series:
    """Qlib's ``Ref($close, -2) / Ref($close, -1) - 1`` on ``index`` (datetime, instrument), from the .bin files."""
    close = provider_close(provider, index.get_level_values("instrument"))
    wide = close.shift(-2) / close.shift(-1) - 1
    stacked = wide.stack(future_stack=True).rename_axis(["datetime", "instrument"])
    return stacked.reindex(index)


def daily_correlation(signal: pd.Series, label: pd.Series, method: str) -> pd.Series:
    """Per date, scipy's Pearson (``pearson``) or Spearman (``spearman``) correlation over the rows where both are
    finite; NaN for fewer than 2 rows or a constant side."""
    frame = pd.concat({"signal": signal, "label": label}, axis=1, join="inner").dropna()
    correlate = stats.pearsonr if method == "pearson" else stats.spearmanr
    values = {}
    for date, day in frame.groupby(level="datetime"):
        usable = len(day) > 1 and day["signal"].nunique() > 1 and day["label"].nunique() > 1
        values[date] = float(correlate(day["signal"], day["label"])[0]) if usable else np.nan
    return pd.Series(values, dtype=float)


def check_label(label: pd.Series, provider) -> pd.Series:
    """The notebook's label equals the one recomputed from the .bin files (no look-ahead shift); returns it."""
    expected = qlib_label(provider, label.index)
    both = label.notna() & expected.notna()
    assert both.mean() > 0.95 and (label.notna() == expected.notna()).mean() > 0.99
    np.testing.assert_allclose(label[both], expected[both], rtol=1e-5, atol=1e-7)
    return expected


# --- notebook 01 -------------------------------------------------------------------------------------------------

def check_01(outputs: dict, saved: dict) -> None:
    label = check_label(saved["label"], saved["provider"])
    rank_ic = daily_correlation(saved["score"], label, "spearman")
    ic = daily_correlation(saved["score"], label, "pearson")
    assert outputs["n_test_days"] == len(rank_ic) == saved["score"].index.get_level_values("datetime").nunique()
    # Qlib evaluates the label in float32; it is recomputed here in float64 (IC within ~1e-5)
    assert outputs["mean_rank_ic"] == pytest.approx(rank_ic.mean(), abs=1e-5)
    assert outputs["first_day_ic"] == pytest.approx(ic.iloc[0], abs=1e-5)
    assert outputs["first_day_ic"] != pytest.approx(rank_ic.iloc[0], abs=1e-4)  # IC and RankIC are told apart
    closes = np.asarray(saved["paths"])[0, :, :, 3]  # (paths, bars) of the one stock's close
    low, high = np.quantile(closes, [0.05, 0.95], axis=0)
    realised = np.asarray(saved["future_close"])
    assert outputs["inside_90"] == pytest.approx(((realised >= low) & (realised <= high)).mean())


# --- notebook 02 -------------------------------------------------------------------------------------------------

def check_02(outputs: dict, saved: dict) -> None:
    frame = saved["frame"]
    label = frame["label"]
    if outputs["data"] == "synthetic":  # the provider the notebook ran on
        check_label(label, saved["provider"])
    assert outputs["n_rows"] == len(frame) and frame.notna().all().all()
    assert outputs["n_years"] == frame.index.get_level_values("datetime").year.nunique()
    rank_ics = {name: daily_correlation(frame[name], label, "spearman").mean() for name in outputs["signals"]}
    for name, value in rank_ics.items():
        assert outputs["rank_ic"][name] == pytest.approx(value, rel=1e-9, abs=1e-12), name
    controls = list(saved["controls"])  # the study regresses Kronos on every signal but itself and random
    residual_ic = []
    for _, day in frame.groupby(level="datetime"):
        x = np.column_stack([np.ones(len(day)), day[controls].to_numpy()])
        resid = day["kronos"] - x @ np.linalg.lstsq(x, day["kronos"].to_numpy(), rcond=None)[0]
        residual_ic.append(stats.spearmanr(resid, day["label"])[0] if np.ptp(resid) > 1e-12 else 0.0)
    assert outputs["incremental_rank_ic"] == pytest.approx(np.nanmean(residual_ic), rel=1e-6, abs=1e-9)


# --- notebook 03 -------------------------------------------------------------------------------------------------

def check_03(outputs: dict, saved: dict) -> None:
    label = check_label(saved["label"], saved["provider"])
    for key, signal in (("rank_ic_raw", saved["raw"]), ("rank_ic_neutral", saved["neutral"])):
        assert outputs[key] == pytest.approx(daily_correlation(signal, label, "spearman").mean(), rel=1e-9), key
    for key, column in (("excess_raw", "raw Kronos"), ("excess_neutral", "neutralized")):
        daily = saved["excess"][column].dropna()  # return - bench - cost, per day
        assert outputs[key] == pytest.approx(daily.mean() * ANN_DAYS, rel=1e-9), key
    # the style table: mean over dates of the sqrt(market cap)-weighted correlation with each style, before and
    # after; the weighted least-squares residual is orthogonal to every style in that inner product
    exposures = saved["exposures"].reindex(saved["raw"].index)
    styles = [c for c in exposures.columns if c not in ("industry", "mktcap")]
    for key, signal in (("max_abs_corr_before", saved["raw"]), ("max_abs_corr_after", saved["neutral"])):
        means = []
        for column in styles:
            frame = pd.concat({"score": signal, "x": exposures[column], "w": np.sqrt(exposures["mktcap"])}, axis=1)
            daily = [_weighted_corr(day["score"], day["x"], day["w"])
                     for _, day in frame.dropna().groupby(level="datetime")]
            means.append(np.nanmean(daily))
        assert outputs[key] == pytest.approx(np.max(np.abs(means)), rel=1e-6, abs=1e-9), key


def _weighted_corr(x: pd.Series, y: pd.Series, w: pd.Series) -> float:
    if len(x) < 3:
        return np.nan
    cov = np.cov(x.to_numpy(float), y.to_numpy(float), aweights=w.to_numpy(float))
    return cov[0, 1] / np.sqrt(cov[0, 0] * cov[1, 1]) if cov[0, 0] > 0 and cov[1, 1] > 0 else np.nan


# --- notebook 06 -------------------------------------------------------------------------------------------------

def _traded_returns(bars: pd.DataFrame) -> dict[str, pd.Series]:
    """Per instrument, close-to-close log returns over its traded days (finite close, volume > 0)."""
    out = {}
    for code, rows in bars.groupby(level="instrument"):
        rows = rows.droplevel("instrument")
        traded = rows[np.isfinite(rows["close"]) & (rows["volume"] > 0)]
        out[code] = np.log(traded["close"].astype(np.float64)).diff()
    return out


def _outcomes(bars: pd.DataFrame, index: pd.MultiIndex, h: int) -> tuple[np.ndarray, np.ndarray]:
    """Realised per-bar vol and h-bar log return of the h traded bars after each row's date (NaN without them)."""
    returns = _traded_returns(bars)
    rv, ret = np.full(len(index), np.nan), np.full(len(index), np.nan)
    for row, (date, code) in enumerate(index):
        series = returns[code]
        where = series.index.get_indexer([date])[0]
        if where >= 0 and where + h < len(series):
            window = series.iloc[where + 1:where + 1 + h].to_numpy()
            rv[row], ret[row] = np.sqrt(np.mean(window ** 2)), window.sum()
    return rv, ret


def _ensemble_crps(samples: np.ndarray, obs: np.ndarray) -> np.ndarray:
    """E|X - y| - E|X - X'| / 2 per row over the ensemble (all pairs)."""
    first = np.abs(samples - obs[:, None]).mean(axis=1)
    second = np.abs(samples[:, :, None] - samples[:, None, :]).mean(axis=(1, 2))
    return first - 0.5 * second


def check_06(outputs: dict, saved: dict) -> None:
    from kronos_quant.research.calibration import fit_spread_scale  # the fit itself; its inputs recomputed here

    h = 5
    bars = saved["bars"]
    test_index, test_paths, test_last = saved["test"]
    valid_index, valid_paths, valid_last = saved["valid"]
    with np.errstate(divide="ignore", invalid="ignore"):  # rows with a close <= 0 are left out below
        log_paths = np.log(np.asarray(test_paths, dtype=np.float64)[..., 3] / np.asarray(test_last)[:, None, None])
    steps = np.diff(np.concatenate([np.zeros(log_paths.shape[:2] + (1,)), log_paths], axis=2), axis=2)
    kronos_vol = np.sqrt((steps[:, :, :h] ** 2).mean(axis=(1, 2)))
    rv, ret = _outcomes(bars, test_index, h)
    points = saved["points"]
    points = points[points["horizon"] == h].set_index(["datetime", "instrument"]).reindex(test_index)
    present = points["kronos"].notna().to_numpy()  # rows whose paths all stay > 0 (the others are dropped)
    assert present.mean() > 0.9
    np.testing.assert_allclose(points["kronos"][present], kronos_vol[present], rtol=1e-9)
    np.testing.assert_allclose(points["realised"][present], rv[present], rtol=1e-9, equal_nan=True)
    models = [c for c in points.columns if c not in ("realised", "horizon")]
    common = present & np.isfinite(points[models].to_numpy()).all(axis=1) & np.isfinite(rv) & (rv > 0)
    assert outputs["n_scored"] == int(common.sum())
    for model in ("kronos", "garch", "har"):
        ratio = rv[common] ** 2 / points[model].to_numpy()[common] ** 2
        assert outputs[f"qlike_{model}"] == pytest.approx(np.mean(ratio - np.log(ratio) - 1), rel=1e-9), model
    # calibration of the h-bar return: rows with a finite outcome and a GARCH forecast
    horizon_returns = log_paths[:, :, h - 1]
    ok = present & np.isfinite(ret) & np.isfinite(points["garch"].to_numpy())
    assert outputs["crps_raw"] == pytest.approx(_ensemble_crps(horizon_returns[ok], ret[ok]).mean(), rel=1e-6)
    scale = outputs["spread_scale"]
    centre = horizon_returns[ok].mean(axis=1, keepdims=True)
    stretched = centre + scale * (horizon_returns[ok] - centre)
    assert outputs["crps_scaled"] == pytest.approx(_ensemble_crps(stretched, ret[ok]).mean(), rel=1e-6)
    # the spread scale is the validation rows' fit, whatever the test rows hold
    with np.errstate(divide="ignore", invalid="ignore"):
        valid_log = np.log(np.asarray(valid_paths, dtype=np.float64)[:, :, h - 1, 3] / np.asarray(valid_last)[:, None])
    _, valid_ret = _outcomes(bars, valid_index, h)
    usable = (np.asarray(valid_paths)[..., 3] > 0).all(axis=(1, 2)) & (np.asarray(valid_last) > 0)
    finite = usable & np.isfinite(valid_ret)
    refit = fit_spread_scale(valid_log[finite], valid_ret[finite])
    assert scale == pytest.approx(refit.scale, rel=1e-12)
    assert outputs["valid_crps_before"] == pytest.approx(_ensemble_crps(valid_log[finite], valid_ret[finite]).mean(),
                                                         rel=1e-6)


# --- notebook 04 -------------------------------------------------------------------------------------------------

def check_04(outputs: dict, saved: dict) -> None:
    label = check_label(saved["label"], saved["provider"])
    kronos = saved["kronos_features"]
    assert outputs["n_rows"] == len(kronos) and outputs["n_kronos_features"] == kronos.shape[1]
    assert outputs["coverage"] == pytest.approx(kronos.notna().all(axis=1).mean())
    assert outputs["pup_min"] == pytest.approx(kronos["kronos_pup"].min())
    assert outputs["pup_max"] == pytest.approx(kronos["kronos_pup"].max())
    rank_ics = {}
    for name in ("plain", "blend"):
        prediction = saved["predictions"][name]
        ic = daily_correlation(prediction, label, "pearson")
        rank_ics[name] = daily_correlation(prediction, label, "spearman")
        assert outputs[f"ic_{name}"] == pytest.approx(ic.mean(), abs=1e-5), name
        assert outputs[f"rank_ic_{name}"] == pytest.approx(rank_ics[name].mean(), abs=1e-5), name
    difference = (rank_ics["blend"] - rank_ics["plain"]).dropna()
    assert outputs["rank_ic_difference"] == pytest.approx(difference.mean(), abs=1e-5)


# --- notebook 05 -------------------------------------------------------------------------------------------------

def check_05(outputs: dict, saved: dict) -> None:
    table, cumulative = saved["universes_csv"], np.asarray(saved["cumulative_excess"])
    assert outputs["universes"] == len(table) == cumulative.shape[0] == saved["n_universes"]
    # each universe's summed excess (with cost) is where its cumulative excess path ends
    np.testing.assert_allclose(table["excess_return"], cumulative[:, -1], rtol=1e-9, atol=1e-12)
    excess = table["excess_return"].to_numpy()
    assert excess.std() > 0  # the universes differ
    for q in (5, 50, 95):
        assert outputs[f"excess_q{q:02d}"] == pytest.approx(np.quantile(excess, q / 100), rel=1e-9, abs=1e-12)
    assert outputs["p_excess_loss"] == pytest.approx((excess < 0).mean())
    assert outputs["p_absolute_loss"] == pytest.approx((table["absolute_return"] < 0).mean())
    realised = outputs["excess_realised"]
    assert realised == pytest.approx(np.asarray(saved["realised_cumulative"])[-1], rel=1e-9, abs=1e-12)
    share_below = (excess < realised).mean() + 0.5 * (excess == realised).mean()
    assert outputs["excess_realised_percentile"] == pytest.approx(100 * share_below)
    assert min(saved["rho_grid"]) <= outputs["rho"] <= max(saved["rho_grid"])  # calibrated between grid points


DUMPS = {  # number -> {name: expression in the notebook's namespace}
    "01": {"provider": "str(provider)", "score": "score", "label": "label", "paths": "result.paths",
           "future_close": "future['close'].to_numpy()"},
    "02": {"provider": "os.environ['KRONOS_PROVIDER_URI']", "frame": "result.frame",
           "controls": "[c for c in result.frame.columns if c not in ('kronos', 'label', 'random')]"},
    "03": {"provider": "str(setup.provider)", "raw": "raw", "neutral": "neutral", "label": "label",
           "exposures": "exposures", "excess": "pd.DataFrame(curves).diff().fillna(pd.DataFrame(curves).iloc[:1])"},
    "04": {"provider": "str(provider)", "label": "label", "kronos_features": "raw[kronos_cols]",
           "predictions": "{'plain': predictions[PLAIN], 'blend': predictions[BLEND]}"},
    "05": {"universes_csv": "pd.read_csv(out_dir / f'{strategy.name}_universes.csv')",
           "cumulative_excess": "result.cumulative_excess", "n_universes": "config.n_universes",
           "realised_cumulative": "result.realised['cumulative_excess']", "rho_grid": "list(config.rho_grid)"},
    "06": {"bars": "bars", "valid": "valid", "test": "test", "points": "tables['points']"},
}
CHECKS = {"01": check_01, "02": check_02, "03": check_03, "04": check_04, "05": check_05, "06": check_06}
