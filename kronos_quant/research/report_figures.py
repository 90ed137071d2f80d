"""Static report figures (matplotlib object API, Agg canvas -- no pyplot, no network, no plotly).

Every ``fig_*`` function takes :class:`~kronos_quant.research.report_data.ReportEntry` objects
and returns a ``matplotlib.figure.Figure`` or ``None`` when no entry has the data it needs
(e.g. no portfolio report). Returns on the y axes are fractions; cumulative curves are sums.
"""
from __future__ import annotations

import io

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from kronos_quant.research.ic_analysis import cumulative

WIDTH = 10.0  # inches
PANEL_HEIGHT = 3.0  # inches per subplot row
DPI = 80  # small PNGs keep the HTML light


def _figure(n_rows: int = 1, n_cols: int = 1, *, sharex: bool = False) -> tuple[Figure, np.ndarray]:
    fig = Figure(figsize=(WIDTH, PANEL_HEIGHT * n_rows), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(n_rows, n_cols, squeeze=False, sharex=sharex)
    return fig, axes.ravel()


def to_png(fig: Figure) -> bytes:
    """Render a figure to PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _with_portfolio(entries):
    return [entry for entry in entries if entry.curves is not None]


def fig_cumulative_return(entries) -> Figure | None:
    """Cumulative strategy return of every signal vs the (first) benchmark."""
    entries = _with_portfolio(entries)
    if not entries:
        return None
    fig, (ax,) = _figure()
    for entry in entries:
        ax.plot(entry.curves.index, entry.curves["cum_return"], label=entry.result.name)
    ax.plot(entries[0].curves.index, entries[0].curves["cum_bench"], "k--", label="benchmark")
    ax.set(title="Cumulative return (sum of daily returns)", ylabel="return")
    ax.legend(loc="best")
    return fig


def fig_excess_return(entries) -> Figure | None:
    """Cumulative excess return without (solid) and with (dashed) cost."""
    entries = _with_portfolio(entries)
    if not entries:
        return None
    fig, (ax,) = _figure()
    for entry in entries:
        (line,) = ax.plot(
            entry.curves.index, entry.curves["cum_excess_without_cost"], label=f"{entry.result.name} w/o cost"
        )
        ax.plot(
            entry.curves.index,
            entry.curves["cum_excess_with_cost"],
            "--",
            color=line.get_color(),
            label=f"{entry.result.name} with cost",
        )
    ax.axhline(0.0, color="grey", lw=0.8)
    ax.set(title="Cumulative excess return vs benchmark", ylabel="excess return")
    ax.legend(loc="best", fontsize="small")
    return fig


def fig_drawdown(entries) -> Figure | None:
    """Drawdown of the cumulative excess return with cost."""
    entries = _with_portfolio(entries)
    if not entries:
        return None
    fig, (ax,) = _figure()
    for entry in entries:
        ax.fill_between(
            entry.curves.index, entry.curves["drawdown_with_cost"], 0.0, alpha=0.35, label=entry.result.name
        )
    ax.set(title="Drawdown of excess return (with cost)", ylabel="drawdown")
    ax.legend(loc="best")
    return fig


def fig_monthly_heatmap(entry, table) -> Figure:
    """Heatmap of a ``(years, months)`` table of monthly excess return, annotated in percent."""
    fig, (ax,) = _figure()
    values = table.to_numpy(dtype=float)
    limit = np.nanmax(np.abs(values)) if np.isfinite(values).any() else 1.0
    image = ax.imshow(values, cmap="RdYlGn", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_xticks(range(table.shape[1]), [str(m) for m in table.columns])
    ax.set_yticks(range(table.shape[0]), [str(y) for y in table.index])
    for (row, col), value in np.ndenumerate(values):
        if np.isfinite(value):
            ax.text(col, row, f"{value:.1%}", ha="center", va="center", fontsize="small")
    ax.set(title=f"{entry.result.name}: monthly excess return (with cost)", xlabel="month")
    fig.colorbar(image, ax=ax)
    return fig


def fig_turnover(entries) -> Figure | None:
    """Daily portfolio turnover (Qlib ``turnover`` column) and top-quantile signal turnover."""
    fig, axes = _figure(2, 1, sharex=True)
    for entry in entries:
        if entry.curves is not None:
            axes[0].plot(entry.curves.index, entry.curves["turnover"], label=entry.result.name)
        axes[1].plot(entry.analysis.turnover.index, entry.analysis.turnover, label=entry.result.name)
    axes[0].set(title="Portfolio turnover (backtest)", ylabel="turnover")
    axes[1].set(title="Top-quantile membership turnover (signal)", ylabel="fraction replaced")
    for ax in axes:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="best")
    return fig


def fig_ic(entries) -> Figure:
    """Per signal: daily IC and RankIC bars with their rolling means."""
    fig, axes = _figure(len(entries), 1)
    for ax, entry in zip(axes, entries):
        ic, rolled = entry.analysis.ic, entry.analysis.rolling_ic
        ax.bar(ic.index, ic["IC"], color="tab:blue", alpha=0.4, label="IC")
        ax.bar(ic.index, ic["RankIC"], color="tab:orange", alpha=0.4, label="RankIC")
        ax.plot(rolled.index, rolled["IC"], color="tab:blue", label="rolling IC")
        ax.plot(rolled.index, rolled["RankIC"], color="tab:orange", label="rolling RankIC")
        ax.axhline(0.0, color="grey", lw=0.8)
        ax.set(title=f"{entry.result.name}: daily IC / RankIC", ylabel="correlation")
        ax.legend(loc="best", fontsize="small", ncols=4)
    return fig


def fig_ic_decay(entries) -> Figure | None:
    """Mean IC and RankIC against the label horizon (days) for signals with decay data."""
    entries = [entry for entry in entries if entry.analysis.decay is not None]
    if not entries:
        return None
    fig, axes = _figure(1, 2)
    for entry in entries:
        decay = entry.analysis.decay
        axes[0].plot(decay.index, decay["IC"], marker="o", label=entry.result.name)
        axes[1].plot(decay.index, decay["RankIC"], marker="o", label=entry.result.name)
    for ax, column in zip(axes, ("IC", "RankIC")):
        ax.axhline(0.0, color="grey", lw=0.8)
        ax.set(title=f"{column} decay", xlabel="label horizon (days)", ylabel=f"mean {column}")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(loc="best")
    return fig


def fig_quantile_returns(entries) -> Figure:
    """Per signal: cumulative mean label of every quantile and of the long-short spread."""
    fig, axes = _figure(len(entries), 1)
    for ax, entry in zip(axes, entries):
        table = entry.analysis.quantile_returns
        for column in table.columns:
            ax.plot(table.index, cumulative(table[column]), label=f"Q{column}")
        ax.plot(table.index, cumulative(entry.analysis.long_short), "k--", label="long-short")
        horizon = entry.analysis.label_horizon
        overlap = f" (sums of overlapping {horizon}-day labels)" if horizon > 1 else ""
        ax.set(title=f"{entry.result.name}: cumulative quantile returns{overlap}", ylabel="summed return")
        ax.legend(loc="best", fontsize="small", ncols=4)
    return fig
