"""Offline HTML page for the volatility evaluation (tables of :mod:`kronos_quant.research.vol_evaluation`).

``write_vol_report(tables, path)`` writes one self-contained HTML file (PNGs as base64 data URIs, same
style as :mod:`kronos_quant.research.report_html`) with: forecast vs realised volatility scatter per horizon,
the loss table per horizon, the Diebold-Mariano table, the calibration table, PIT histograms, interval
coverage bars and the P(up) reliability diagram. Every number cell carries ``data-table``,
``data-row`` and ``data-column`` attributes so tests and scripts can read it back.
"""
from __future__ import annotations

import base64
import html
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from kronos_quant.research.report_figures import DPI, PANEL_HEIGHT, WIDTH, to_png
from kronos_quant.research.report_html import NUMBER_FORMAT, STYLE

SCATTER_POINTS = 3000  # rows drawn per panel (seeded subsample) to keep the page light


def _figure(n_rows: int, n_cols: int):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH, PANEL_HEIGHT * n_rows), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, np.atleast_1d(fig.subplots(n_rows, n_cols, squeeze=False)).ravel()


def fig_scatter(points: pd.DataFrame, models: tuple[str, ...] = ("kronos", "garch")):
    """Log-log forecast vs realised volatility, one panel per horizon, with the 45-degree line."""
    horizons = sorted(points["horizon"].unique())
    fig, axes = _figure(1, len(horizons))
    for ax, h in zip(axes, horizons):
        rows = points[(points["horizon"] == h) & (points["realised"] > 0)]
        rows = rows.sample(min(len(rows), SCATTER_POINTS), random_state=0)
        for model in models:
            if model in rows:
                ax.scatter(rows[model], rows["realised"], s=3, alpha=0.3, label=model)
        low, high = np.nanpercentile(rows["realised"], [1, 99]) if len(rows) else (1e-3, 1e-1)
        ax.plot([low, high], [low, high], color="black", lw=1)
        ax.set(xscale="log", yscale="log", title=f"h={h}", xlabel="forecast vol (per bar)", ylabel="realised vol")
    axes[0].legend(fontsize=7)
    return fig


def fig_pit(pit_counts: pd.DataFrame):
    """PIT histograms (density; 1 = uniform), one panel per horizon, one bar group per forecaster."""
    horizons = sorted(pit_counts["horizon"].unique())
    fig, axes = _figure(1, len(horizons))
    for ax, h in zip(axes, horizons):
        rows = pit_counts[pit_counts["horizon"] == h]
        names = list(dict.fromkeys(rows["forecaster"]))
        for k, name in enumerate(names):
            counts = rows[rows["forecaster"] == name]["count"].to_numpy(dtype=float)
            bins = len(counts)
            ax.bar((np.arange(bins) + 0.15 + 0.7 * k / len(names)) / bins, counts / counts.mean(),
                   width=0.7 / len(names) / bins, align="edge", label=name)
        ax.axhline(1.0, color="black", lw=1)
        ax.set(title=f"PIT h={h}", xlabel="PIT", ylim=(0, None))
    axes[0].legend(fontsize=7)
    return fig


def fig_coverage(calibration: pd.DataFrame):
    """Empirical vs nominal coverage of the central intervals per horizon and forecaster."""
    columns = [c for c in calibration.columns if c.startswith("coverage_")]
    horizons = sorted(calibration["horizon"].unique())
    fig, axes = _figure(1, len(horizons))
    for ax, h in zip(axes, horizons):
        rows = calibration[calibration["horizon"] == h]
        for k, (_, row) in enumerate(rows.iterrows()):
            ax.bar(np.arange(len(columns)) + 0.8 * k / len(rows), row[columns].to_numpy(dtype=float),
                   width=0.8 / len(rows), label=row["forecaster"])
        nominal = [int(c.split("_")[1]) / 100 for c in columns]
        ax.scatter(np.arange(len(columns)) + 0.3, nominal, marker="_", s=400, color="black", label="nominal")
        ax.set(title=f"coverage h={h}", xticks=np.arange(len(columns)) + 0.3,
               xticklabels=[c.split("_")[1] + "%" for c in columns], ylim=(0, 1))
    axes[0].legend(fontsize=7)
    return fig


def fig_reliability(reliability: pd.DataFrame):
    """P(up) reliability diagram: observed up-frequency vs mean forecast probability per bin."""
    horizons = sorted(reliability["horizon"].unique())
    fig, axes = _figure(1, len(horizons))
    for ax, h in zip(axes, horizons):
        rows = reliability[reliability["horizon"] == h]
        for name, group in rows.groupby("forecaster", sort=False):
            ax.plot(group["mean_prob"], group["frequency"], marker="o", ms=3, label=name)
        ax.plot([0, 1], [0, 1], color="black", lw=1)
        ax.set(title=f"P(up) h={h}", xlabel="forecast P(up)", ylabel="observed frequency", xlim=(0, 1), ylim=(0, 1))
    axes[0].legend(fontsize=7)
    return fig


def table_html(frame: pd.DataFrame, name: str) -> str:
    """A table whose numeric cells carry data-table/data-row/data-column (row = the frame's index)."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for label, values in frame.iterrows():
        label = "/".join(map(str, label)) if isinstance(label, tuple) else str(label)
        cells = []
        for column, value in values.items():
            text = NUMBER_FORMAT.format(value) if isinstance(value, (float, np.floating)) and np.isfinite(value) \
                else html.escape(str(value))
            cells.append(f'<td data-table="{name}" data-row="{html.escape(label)}" '
                         f'data-column="{html.escape(str(column))}">{text}</td>')
        rows.append(f"<tr><th>{html.escape(label)}</th>{''.join(cells)}</tr>")
    return f"<table><tr><th></th>{head}</tr>{''.join(rows)}</table>"


def _image(fig, caption: str) -> str:
    data = base64.b64encode(to_png(fig)).decode("ascii")
    return f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(caption)}"><figcaption>' \
           f"{html.escape(caption)}</figcaption></figure>"


def render_vol_report(tables: Mapping[str, pd.DataFrame], *, title: str,
                      spread_scales: Mapping[int, float] | None = None) -> str:
    """The HTML page as a string (see the module docstring)."""
    losses = tables["losses"].set_index(["horizon", "model"])
    dm = tables["dm"].set_index(["horizon", "loss", "baseline"])[["mean_diff", "stat", "p_value", "lags", "n_dates"]]
    mz = tables["mz"].set_index(["horizon", "model", "space"])
    calibration = tables["calibration"].set_index(["horizon", "forecaster"])
    parts = [f"<h1>{html.escape(title)}</h1>",
             "<p>Volatility per bar (daily). Losses on variances: QLIKE and MSE of log volatility (lower is better). "
             "DM: negative mean_diff = Kronos has the lower loss; Newey-West errors on per-date means.</p>",
             _image(fig_scatter(tables["points"]), "forecast vs realised volatility"),
             "<h2>Losses per horizon</h2>", table_html(losses, "losses"),
             "<h2>Diebold-Mariano: Kronos vs each baseline</h2>", table_html(dm, "dm"),
             "<h2>Mincer-Zarnowitz (Driscoll-Kraay errors)</h2>", table_html(mz, "mz"),
             "<h2>Calibration of horizon returns</h2>"]
    if spread_scales:
        scales = ", ".join(f"h={h}: {s:.3g}" for h, s in sorted(spread_scales.items()))
        parts.append(f"<p>Spread scales fitted on the validation segment only: {html.escape(scales)}.</p>")
    parts += [table_html(calibration, "calibration"), _image(fig_pit(tables["pit_counts"]), "PIT histograms"),
              _image(fig_coverage(tables["calibration"]), "central interval coverage"),
              _image(fig_reliability(tables["reliability"]), "P(up) reliability")]
    return f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>" \
           f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>"


def write_vol_report(tables: Mapping[str, pd.DataFrame], path: str | Path, *, title: str = "Volatility forecasts",
                     spread_scales: Mapping[int, float] | None = None) -> Path:
    """Write :func:`render_vol_report` to ``path`` (folders created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_vol_report(tables, title=title, spread_scales=spread_scales), encoding="utf-8")
    return path
