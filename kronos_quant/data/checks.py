"""Health checks of a Qlib provider directory: the problems users really hit, with fixes.

``check_provider(path)`` reads the files directly (no qlib) and returns a ``CheckReport``; a report
with a ``fatal`` finding means qlib or Kronos will fail or silently compute garbage.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from kronos_quant.data import qlib_bin
from kronos_quant.data.instrument_codes import check_instrument_code
from kronos_quant.validation import check_bar_panels

logger = logging.getLogger(__name__)

SEVERITIES = ("fatal", "warning", "info")
PRICE_FIELDS = ("open", "high", "low", "close")
UNREADABLE = ("corrupt_feature_file", "data_beyond_calendar", "invalid_instrument_dir")  # value checks would crash
MAX_CALENDAR_GAP_DAYS = 14  # longer gaps between trading days are holes, not holidays


@dataclass(frozen=True)
class Finding:
    """One problem: severity in {"fatal", "warning", "info"}, a stable code, what is wrong and how to fix it."""

    severity: str
    code: str
    message: str
    fix: str = ""


@dataclass(frozen=True)
class CheckReport:
    """All findings for one provider directory."""

    path: Path
    findings: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when there is no fatal finding."""
        return not any(f.severity == "fatal" for f in self.findings)

    def codes(self, severity: str | None = None) -> set[str]:
        return {f.code for f in self.findings if severity is None or f.severity == severity}

    def format(self) -> str:
        lines = [f"data check of {self.path}: {'OK' if self.ok else 'FAILED'}"]
        for f in sorted(self.findings, key=lambda f: SEVERITIES.index(f.severity)):
            lines.append(f"  [{f.severity}] {f.code}: {f.message}" + (f"\n      fix: {f.fix}" if f.fix else ""))
        return "\n".join(lines)


def _check_layout(path: Path, out: list) -> bool:
    """Directory structure; returns False when nothing else can be checked."""
    if not (path / "calendars" / "day.txt").exists() or not (path / "features").is_dir():
        out.append(Finding("fatal", "not_a_provider", f"{path} has no calendars/day.txt or features/",
                           "point to the directory that holds calendars/, features/ and instruments/"))
        return False
    if not (path / "calendars" / "day_future.txt").exists():
        out.append(Finding("warning", "no_day_future", "calendars/day_future.txt is missing",
                           "end backtests before the last calendar day, or write day_future.txt "
                           "(the calendar plus some future trading days)"))
    if not (path / "instruments" / "all.txt").exists():
        out.append(Finding("warning", "no_all_instruments", "instruments/all.txt is missing",
                           "write one line INSTRUMENT<TAB>start<TAB>end per instrument"))
    upper = [p.name for p in (path / "features").iterdir() if p.is_dir() and p.name != p.name.lower()]
    if upper:
        out.append(Finding("fatal", "uppercase_feature_dirs",
                           f"{len(upper)} feature folders are not lowercase (e.g. {upper[:3]}); qlib cannot find them",
                           "rename features/<INSTRUMENT> to features/<instrument> (lowercase)"))
    return True


def _check_calendar(calendar: pd.DatetimeIndex, out: list) -> None:
    if calendar.has_duplicates or not calendar.is_monotonic_increasing:
        out.append(Finding("fatal", "calendar_unsorted", "calendars/day.txt is not strictly increasing",
                           "sort and de-duplicate the dates"))
        return
    gaps = np.diff(calendar.values).astype("timedelta64[D]").astype(int)
    holes = np.flatnonzero(gaps > MAX_CALENDAR_GAP_DAYS)
    if holes.size:
        examples = [f"{calendar[i]:%Y-%m-%d}->{calendar[i + 1]:%Y-%m-%d}" for i in holes[:3]]
        out.append(Finding("warning", "calendar_holes",
                           f"{holes.size} gaps longer than {MAX_CALENDAR_GAP_DAYS} days, e.g. {examples}",
                           "re-download the missing dates; windows will otherwise span the hole"))


def _feature_inventory(path: Path, n_days: int, out: list) -> tuple[list[str], dict[str, int]]:
    """Instrument folders and how many have each field; flags unsafe names, corrupt files, data beyond the calendar."""
    instruments, counts, beyond, corrupt, bad_names = [], {}, [], [], []
    for folder in sorted(p for p in (path / "features").iterdir() if p.is_dir()):
        try:
            check_instrument_code(folder.name, source=str(folder))
        except ValueError:
            bad_names.append(folder.name)
            continue
        instruments.append(folder.name)
        for file in folder.glob("*.day.bin"):
            name = file.name[: -len(".day.bin")]
            try:
                start, values = qlib_bin.read_feature_file(file)
            except ValueError as err:
                corrupt.append(str(err))
                continue
            counts[name] = counts.get(name, 0) + 1
            if start + len(values) > n_days:
                beyond.append(folder.name)
    if bad_names:
        out.append(Finding("fatal", "invalid_instrument_dir", f"feature folders {bad_names[:3]} are not instrument "
                           "codes", "rename them to codes such as sh600000 (letters, digits, '.', '_', '-')"))
    if corrupt:
        out.append(Finding("fatal", "corrupt_feature_file", f"{len(corrupt)} feature files are corrupt, e.g. "
                           f"{corrupt[0]}", "re-import or re-download those instruments"))
    if beyond:
        out.append(Finding("fatal", "data_beyond_calendar",
                           f"{len(set(beyond))} instruments have data days not in the calendar (e.g. {beyond[:3]})",
                           "rebuild calendars/day.txt as the union of all instruments' dates"))
    return instruments, counts


def _check_instrument_files(path: Path, out: list) -> None:
    """Every instruments/<universe>.txt parses: codes are valid and dates are dates."""
    for file in sorted((path / "instruments").glob("*.txt")):
        try:
            spans = qlib_bin.read_instruments(path, file.stem)
            for code in spans["instrument"]:
                check_instrument_code(code, source=f"{file}")
        except ValueError as err:
            out.append(Finding("fatal", "invalid_instruments_file", str(err),
                               "fix the line, or re-import the data (one INSTRUMENT<TAB>start<TAB>end per line)"))
            continue
        if (spans["end"] < spans["start"]).any():
            row = int((spans["end"] < spans["start"]).to_numpy().nonzero()[0][0])
            out.append(Finding("fatal", "invalid_instruments_file",
                               f"{file} line {row + 1}: span ends before it starts", "swap start and end"))


def _check_fields(counts: dict[str, int], n_instruments: int, out: list) -> None:
    for name in PRICE_FIELDS + ("volume",):
        if counts.get(name, 0) == 0:
            out.append(Finding("fatal", f"missing_{name}", f"no instrument has ${name}",
                               f"write features/<instrument>/{name}.day.bin"))
    for name in ("factor", "change"):
        if counts.get(name, 0) < n_instruments:
            out.append(Finding("warning", f"missing_{name}",
                               f"${name} missing for {n_instruments - counts.get(name, 0)} instruments; "
                               "Qlib's backtest exchange needs it",
                               "factor: 1 if prices are unadjusted; change: close / previous close - 1"))
    if counts.get("amount", 0) == 0:
        out.append(Finding("warning", "missing_amount", "no $amount field",
                           "Kronos derives it as volume x mean(open, high, low, close); nothing to do "
                           "unless you have the real turnover"))


def _check_values(panels: dict[str, pd.DataFrame], out: list) -> None:
    close = panels["close"]
    alive = close.ffill().notna() & close.bfill().notna()  # inside each instrument's data range
    fractions = {name: float(panel.isna()[alive].sum().sum() / max(alive.sum().sum(), 1))
                 for name, panel in panels.items()}
    out.append(Finding("info", "nan_fractions", "NaN within instruments' data ranges: "
                       + ", ".join(f"${n} {f:.1%}" for n, f in fractions.items())))
    for name in (n for n, f in fractions.items() if f > 0.5):
        out.append(Finding("warning", f"mostly_nan_{name}", f"${name} is NaN on {fractions[name]:.0%} of bars",
                           "check the vendor export of that field"))
    bar_fields = {k: panels[k] for k in PRICE_FIELDS + ("volume", "amount") if k in panels}
    n_bars = int(close.notna().sum().sum())
    for issue in check_bar_panels(bar_fields):  # the rules the predictor and import-csv apply
        out.append(Finding("fatal" if issue.severity == "error" else "warning", issue.rule,
                           f"{issue.message().split('; fix: ')[0]} ({issue.count} of {n_bars} bars with a close)",
                           issue.fix))
    if "volume" in panels:
        _check_zero_volume(panels["volume"], close, out)
    if "change" in panels:
        _check_change_units(panels["change"], close, out)
    _check_last_bar(panels, out)


def _check_zero_volume(volume: pd.DataFrame, close: pd.DataFrame, out: list) -> None:
    zero = int(((volume == 0) & close.notna()).sum().sum())
    if zero:
        out.append(Finding("info", "zero_volume_bars",
                           f"{zero} bars have prices but volume 0 (suspensions with prices carried forward)",
                           "nothing to do: Kronos treats them as not traded, like NaN bars"))


def _check_change_units(change: pd.DataFrame, close: pd.DataFrame, out: list) -> None:
    given = float(np.nanmedian(np.abs(change.to_numpy()))) if change.notna().any().any() else 0.0
    from_close = (close / close.ffill().shift(1) - 1).abs().to_numpy()
    reference = float(np.nanmedian(from_close)) if np.isfinite(from_close).any() else 0.0
    if reference > 0 and given > 20 * reference:
        out.append(Finding("fatal", "change_in_percent",
                           f"median |$change| is {given:.3g} but close moves {reference:.3g}: $change is in percent",
                           "divide change by 100; percent units silently disable Qlib's limit checks"))


def _check_last_bar(panels: dict[str, pd.DataFrame], out: list) -> None:
    close = panels["close"]
    if len(close) < 2:
        return
    previous = close.iloc[-2].notna()
    last = pd.concat([panels[k].iloc[-1] for k in ("close", "volume") if k in panels], axis=1)
    broken = (last.isna() | (last == 0)).any(axis=1) & previous  # traded yesterday, no close/volume today
    if previous.sum() and broken.sum() / previous.sum() > 0.5:
        out.append(Finding("fatal", "broken_last_bar",
                           f"on the last calendar day {close.index[-1]:%Y-%m-%d}, {int(broken.sum())} of "
                           f"{int(previous.sum())} instruments have a NaN or zero close/volume",
                           "drop the last date from calendars/day.txt or re-download it"))


def report_is_ok(findings: list) -> bool:
    """No fatal finding so far (value checks need readable files)."""
    return not any(f.severity == "fatal" and f.code in UNREADABLE for f in findings)


def check_provider(path: str | Path) -> CheckReport:
    """Check a Qlib provider directory (day frequency) and return every finding."""
    path = Path(path)
    findings: list[Finding] = []
    if not path.is_dir():
        findings.append(Finding("fatal", "not_a_provider", f"{path} does not exist", "check the path"))
        return CheckReport(path, findings)
    if not _check_layout(path, findings):
        return CheckReport(path, findings)
    try:
        calendar = qlib_bin.read_calendar(path)
    except ValueError as err:
        findings.append(Finding("fatal", "calendar_not_dates", str(err), "fix that line or re-import the data"))
        return CheckReport(path, findings)
    _check_calendar(calendar, findings)
    _check_instrument_files(path, findings)
    instruments, counts = _feature_inventory(path, len(calendar), findings)
    _check_fields(counts, len(instruments), findings)
    names = [n for n in PRICE_FIELDS + ("volume", "amount", "factor", "change") if counts.get(n)]
    if "close" in names and not calendar.has_duplicates and report_is_ok(findings):
        panels = {n: qlib_bin.read_field_panel(path, n, instruments, calendar) for n in names}
        _check_values(panels, findings)
    report = CheckReport(path, findings)
    logger.info("checked %s: %d findings, ok=%s", path, len(findings), report.ok)
    return report
