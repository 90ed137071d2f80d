"""Checks a study runs before it trains anything: the provider's files, the output folder, the settings digest.

No qlib here: the provider is read as files (``calendars/day.txt``, ``instruments/<market>.txt``,
``features/<code>/<field>.day.bin``), so a missing universe or benchmark is an error naming the file
minutes (or hours) before the first window would have failed.

Resume safety: ``<output_dir>/study_manifest.json`` records the digest of everything that decides the
trained windows (:func:`training_settings`: every config key except the report-only ones, plus a
fingerprint of the provider's data up to ``test_end``, not its path). A later run into the same folder
with another digest is refused, naming the keys that changed, so a resumed study never merges windows
trained with different settings or on different data (unless no window finished there yet, e.g. the
first run stopped at a config error: then the new settings are recorded). Report-only keys (``REPORT_ONLY``: backtest
costs and Top-K, the signal list, the random seed) may change between runs: they touch no trained window.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import sqlite3
from pathlib import Path

import pandas as pd

from kronos_quant.factors.cache import KRONOS_FIELDS, provider_digest
from kronos_quant.io_utils import atomic_write, check_writable_dir

logger = logging.getLogger(__name__)

MANIFEST_NAME = "study_manifest.json"
# keys that only change what is computed from the trained windows' predictions (never a trained window)
REPORT_ONLY = ("backtest", "signals", "random_seed", "pretrain_cutoff")
# left out of the digest too: the folder itself, and the provider's path (its data's fingerprint is in)
NOT_DIGESTED = (*REPORT_ONLY, "output_dir", "provider_uri")
DIGEST_FIELDS = (*KRONOS_FIELDS, "vwap", "factor", "change")  # what Kronos, Alpha158 and the backtest read


def check_study_provider(config) -> None:
    """A ValueError naming the missing file when the provider lacks the calendar, universe or benchmark,
    or when the universe is too small for the Top-K backtest, or the windows lie outside the calendar."""
    from kronos_quant.data.qlib_bin import read_instruments
    from kronos_quant.factors.cache import read_calendar, universe_instruments

    provider = Path(config.provider_uri).expanduser()
    if not (provider / "calendars" / "day.txt").is_file():
        raise ValueError(f"provider_uri {provider} is not a Qlib data dir (no calendars/day.txt); set provider_uri "
                         "or KRONOS_PROVIDER_URI")
    universe_file = provider / "instruments" / f"{config.market.lower()}.txt"
    if not universe_file.is_file():
        known = sorted(p.stem for p in (provider / "instruments").glob("*.txt"))
        raise ValueError(f"market {config.market!r}: {universe_file} does not exist; set market to one of {known}")
    members = universe_instruments(provider, config.market)
    if not members:
        raise ValueError(f"market {config.market!r}: {universe_file} lists no instruments")
    benchmark_file = provider / "features" / config.benchmark.lower() / "close.day.bin"
    if not benchmark_file.is_file():
        raise ValueError(f"benchmark {config.benchmark!r}: {benchmark_file} does not exist; set benchmark to an "
                         f"instrument of {provider / 'features'} (e.g. the index of the market)")
    spans = read_instruments(provider, config.market)
    day = pd.Timestamp(config.windows.test_start)
    on_day = int(spans.loc[(spans["start"] <= day) & (spans["end"] >= day), "instrument"].nunique())
    if config.backtest.topk >= on_day:
        raise ValueError(f"backtest.topk {config.backtest.topk} >= the {on_day} instruments {universe_file} lists on "
                         f"{day:%Y-%m-%d}: the Top-K portfolio would hold the whole universe; lower backtest.topk")
    calendar = read_calendar(provider)
    first_train = config.windows.train[0]
    if first_train < f"{calendar[0]:%Y-%m-%d}" or config.windows.test_start > f"{calendar[-1]:%Y-%m-%d}":
        raise ValueError(f"windows: train starts {first_train} and the test {config.windows.test_start}, but "
                         f"{provider} holds {calendar[0]:%Y-%m-%d}..{calendar[-1]:%Y-%m-%d}; move the windows inside")


def check_output_dir(config) -> Path:
    """Create ``output_dir`` and prove it writable (a probe file); a ValueError naming it otherwise."""
    return check_writable_dir(config.output_dir, setting="output_dir",
                              fix="set output_dir (or --output-dir) to a folder you can write")


def training_settings(config) -> dict:
    """JSON-ready settings that decide the trained windows (see the module docstring)."""
    settings = {}
    for item in dataclasses.fields(config):
        if item.name in NOT_DIGESTED:
            continue
        value = getattr(config, item.name)
        settings[item.name] = _plain(dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value)
    provider = Path(config.provider_uri).expanduser()
    settings["provider_data"] = provider_digest(provider, config.market, config.windows.test_end,
                                                fields=DIGEST_FIELDS) + "+" + provider_digest(
        provider, [config.benchmark], config.windows.test_end, fields=("close",))
    return settings


def settings_digest(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def claim_output_dir(config) -> Path:
    """Check (or record) the folder's settings digest; a ValueError when an earlier run used other settings."""
    out = check_output_dir(config)
    manifest = out / MANIFEST_NAME
    settings = training_settings(config)
    digest = settings_digest(settings)
    if manifest.is_file():
        try:
            recorded = json.loads(manifest.read_text())
            recorded_digest, recorded_settings = recorded["digest"], recorded["settings"]
        except (ValueError, KeyError, TypeError):
            if finished_runs(out) == 0:
                logger.warning("%s is unreadable but no window finished there yet; recording the settings again",
                               manifest)
                _record(manifest, digest, settings)
                return out
            raise ValueError(f"{manifest} is unreadable (edited or truncated), so this folder's trained windows "
                             "cannot be matched to settings; use a new --output-dir, or delete the folder to start "
                             "over") from None
        if recorded_digest != digest:
            changed = sorted(key for key in set(settings) | set(recorded_settings)
                             if settings.get(key) != recorded_settings.get(key))
            if finished_runs(out) == 0:  # e.g. the earlier run stopped at a config error: nothing to mix with
                logger.info("%s: settings changed (%s) but no window finished there yet; recording the new ones",
                            out, changed)
                _record(manifest, digest, settings)
                return out
            raise ValueError(f"output_dir {out} holds a study run with other settings (changed: {changed}); resuming "
                             "would mix windows trained with different settings or data. Use a new --output-dir, "
                             "revert the change, or delete the folder to start over")
        return out
    if (out / "mlflow.db").exists():
        logger.warning("%s has runs but no %s (written by an older version): its finished windows are resumed as "
                       "before, matched by their task hash only; the settings are recorded from now on", out,
                       MANIFEST_NAME)
    _record(manifest, digest, settings)
    return out


def finished_runs(out: Path) -> int:
    """FINISHED MLflow runs in ``out/mlflow.db`` (the study's store); 0 when there is no store yet."""
    store = out / "mlflow.db"
    if not store.is_file():
        return 0
    try:
        with contextlib.closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as connection:
            return int(connection.execute("SELECT COUNT(*) FROM runs WHERE status = 'FINISHED'").fetchone()[0])
    except sqlite3.Error:  # no runs table yet (MLflow creates it on first use)
        return 0


def _record(manifest: Path, digest: str, settings: dict) -> None:
    payload = json.dumps({"digest": digest, "settings": settings}, indent=1, sort_keys=True)
    atomic_write(manifest, lambda path: Path(path).write_text(payload))


def _plain(value):
    """Mappings/sequences -> JSON types (tuples become lists, so a reloaded manifest compares equal)."""
    if isinstance(value, dict) or hasattr(value, "items"):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
