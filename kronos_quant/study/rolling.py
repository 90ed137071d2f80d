"""Walk-forward training of a ``rolled`` signal on Qlib's rolling machinery (resumable).

* :func:`window_tasks`: Qlib's ``RollingGen`` turns the signal's task template into one task per roll
  window (train/valid shifted by the step, ``trunc_days`` cut before each next period), plus a shorter
  last window when the span does not divide into steps (``RollingGen`` stops at the calendar's end).
* :func:`run_rolled_signal`: trains each window with Qlib's ``TrainerR`` (one MLflow recorder per
  window in experiment ``<study>__<signal>``), then merges the out-of-sample ``pred.pkl`` of every
  window with ``RecorderCollector`` + ``RollingEnsemble``.

Resume: a finished window's recorder is tagged with the hash of its task; a rerun skips every window
whose recorder finished (``TrainerR``'s end_train tag) with the same task hash, so an interrupted study
continues from its last finished window (the interrupted window's recorder is ended FAILED or KILLED and
trained again from scratch). The output folder's settings digest (:mod:`kronos_quant.study.preflight`)
keeps a rerun with other settings or data from resuming at all. Windows run in date order because a warm
start finetunes the previous window's model.

Several machines: replace ``TrainerR`` by ``TrainerRM`` (MongoDB task pool); see ``studies/README.md``.
"""
from __future__ import annotations

import copy
import logging
from pathlib import Path

import pandas as pd
from qlib.data import D
from qlib.model.ens.ensemble import RollingEnsemble
from qlib.model.trainer import TrainerR
from qlib.utils import hash_args, init_instance_by_config
from qlib.workflow import R
from qlib.workflow.task.collect import RecorderCollector
from qlib.workflow.task.gen import RollingGen, handler_mod, task_generator

from kronos_quant.io_utils import atomic_write
from kronos_quant.model.checkpoint import sha256_of
from kronos_quant.safe_pickle import RestrictedUnpickler
from kronos_quant.study.config import ROLL_STEPS, StudyConfig
from kronos_quant.study.registry import SignalSpec

logger = logging.getLogger(__name__)

WINDOW_TAG = "study_window"
HASH_TAG = "study_task_hash"
SIGNAL_RECORD = {"class": "SignalRecord", "module_path": "qlib.workflow.record_temp"}


def roll_step_days(config: StudyConfig) -> int:
    """The roll step in trading days: an int as given, or the trading days of the first test period."""
    step = config.windows.roll_step
    if isinstance(step, int):
        return step
    start = pd.Timestamp(config.windows.test_start)
    end = start + pd.DateOffset(months=ROLL_STEPS[step]) - pd.Timedelta(days=1)
    days = len(D.calendar(start_time=start, end_time=end, freq="day"))
    if days < 1:
        raise ValueError(f"no trading days in {start:%Y-%m-%d}..{end:%Y-%m-%d}; check windows.test_start")
    return days


def window_key(task: dict) -> str:
    """A window's name: its first test day, YYYY-MM-DD."""
    return f"{pd.Timestamp(task['dataset']['kwargs']['segments']['test'][0]):%Y-%m-%d}"


def window_tasks(config: StudyConfig, spec: SignalSpec) -> list[dict]:
    """One Qlib task per roll window, test periods tiling ``test_start .. test_end`` without overlap."""
    template = spec.task(config)
    step = roll_step_days(config)
    rtype = RollingGen.ROLL_SD if config.windows.rolling == "sliding" else RollingGen.ROLL_EX
    generator = RollingGen(step=step, rtype=rtype, trunc_days=int(config.windows.trunc_days))
    tasks = task_generator([template], generator)
    tasks = _clip_to_span(tasks, config, generator)
    for task in tasks:
        task["record"] = [dict(SIGNAL_RECORD)]
    if spec.cache_handler:  # Qlib's handler cache: compute the features once for all windows
        cache_dir = Path(config.output_dir) / "handler_cache"
        cache_dir.mkdir(parents=True, exist_ok=True)
        tasks = [cache_task_handler(task, cache_dir) for task in tasks]
    return tasks


def cache_task_handler(task: dict, cache_dir: Path) -> dict:
    """Qlib's ``replace_task_handler_with_cache`` (same file name, so task hashes are unchanged), crash-safe.

    Qlib writes the pickle in place and reuses any file that exists, so an interrupt while writing (minutes
    for Alpha158 on CSI300) left a truncated handler that every rerun failed to load. Here the pickle is
    written through a temporary file, and a ``.sha256`` beside it is written last; a pickle without a
    matching one (interrupted, edited, or from an older version) is built again.
    """
    task = copy.deepcopy(task)
    handler = task["dataset"]["kwargs"]["handler"]
    if not isinstance(handler, dict):
        return task
    path = Path(cache_dir) / f"{handler['class']}.{hash_args(handler)[:10]}.pkl"
    marker = path.with_name(path.name + ".sha256")
    if not (path.is_file() and marker.is_file() and marker.read_text().strip() == sha256_of(path)):
        if path.exists():
            logger.warning("handler cache %s has no matching %s (interrupted, edited or older); building it again",
                           path, marker.name)
        built = init_instance_by_config(handler)
        atomic_write(path, lambda temporary: built.to_pickle(temporary, dump_all=True))
        digest = sha256_of(path)
        atomic_write(marker, lambda temporary: Path(temporary).write_text(digest))
    task["dataset"]["kwargs"]["handler"] = f"file://{path}"
    return task


def _clip_to_span(tasks: list[dict], config: StudyConfig, generator: RollingGen) -> list[dict]:
    """Drop windows past ``test_end``, clip the last test end, add a tail window if the span is not covered."""
    end = pd.Timestamp(config.windows.test_end)
    kept = []
    for task in tasks:
        segments = task["dataset"]["kwargs"]["segments"]
        start, stop = (pd.Timestamp(t) for t in segments["test"])
        if start > end:
            continue
        # without day_future.txt RollingGen's last window can end past the calendar (NaT): clip it to the span
        segments["test"] = (start, end if pd.isna(stop) or stop > end else stop)
        handler_mod(task, generator)  # the handler loads up to this (clipped) test end ...
        _clip_handler_end(task, end)  # ... and never past the span
        kept.append(task)
    if not kept:
        raise ValueError("no roll window starts before windows.test_end; check the dates")
    last_end = pd.Timestamp(kept[-1]["dataset"]["kwargs"]["segments"]["test"][1])
    if last_end < end:
        kept.append(_tail_task(kept[-1], last_end, end, generator))
    return kept


def _clip_handler_end(task: dict, end: pd.Timestamp) -> None:
    """Undo ``handler_mod``'s extension past the study's last test day (a handler never loads beyond it)."""
    handler = task["dataset"]["kwargs"].get("handler")
    if isinstance(handler, dict) and handler.get("kwargs", {}).get("end_time") is not None:
        handler["kwargs"]["end_time"] = min(pd.Timestamp(handler["kwargs"]["end_time"]), end)


def _tail_task(previous: dict, last_end: pd.Timestamp, end: pd.Timestamp, generator: RollingGen) -> dict:
    """The last, shorter window: train/valid shifted by one step, test = the days left up to ``end``."""
    task = copy.deepcopy(previous)
    segments = task["dataset"]["kwargs"]["segments"]
    for key, segment in list(segments.items()):
        if key == generator.test_key:
            continue
        rtype = generator.ta.SHIFT_EX if (key == generator.train_key and generator.rtype == RollingGen.ROLL_EX) \
            else generator.ta.SHIFT_SD
        segments[key] = generator.ta.shift(segment, step=generator.step, rtype=rtype)
    days = D.calendar(start_time=last_end + pd.Timedelta(days=1), end_time=end, freq="day")
    segments["test"] = (pd.Timestamp(days[0]), end)
    handler_mod(task, generator)
    _clip_handler_end(task, end)
    return task


def finished_windows(experiment: str) -> dict[str, tuple[object, str]]:
    """``{window: (recorder, task hash)}`` of windows whose training finished (latest recorder per window).

    Recorders made by this module carry the window and hash as tags; others (e.g. trained by ``TrainerRM``
    workers on other machines) are identified from the ``task`` object Qlib saves with every recorder.
    """
    try:
        exp = R.get_exp(experiment_name=experiment, create=False)
    except (ValueError, KeyError):
        return {}
    done: dict[str, tuple[object, str]] = {}
    for recorder in exp.list_recorders().values():
        tags = recorder.list_tags()
        if recorder.status != "FINISHED" or tags.get(TrainerR.STATUS_KEY) != TrainerR.STATUS_END:
            continue
        window, task_hash = tags.get(WINDOW_TAG), tags.get(HASH_TAG)
        if window is None or task_hash is None:
            try:
                task = recorder.load_object("task", unpickler=RestrictedUnpickler)  # data only, never code
            except Exception:  # noqa: BLE001 -- a recorder without its task cannot be resumed
                continue
            window, task_hash = window_key(task), hash_args(task)
        if window not in done or recorder.info["start_time"] > done[window][0].info["start_time"]:
            done[window] = (recorder, task_hash)
    return done


def end_interrupted_window(err: BaseException, window: str) -> None:
    """End the recorder an interrupted window left active (FAILED, or KILLED for Ctrl-C/SystemExit).

    It never gets the trainer's end tag, so a rerun retrains it.
    """
    from kronos_quant.qlib_ext.workflow import end_interrupted_run

    end_interrupted_run(err)
    logger.warning("window %s stopped (%s); a rerun trains it again", window, type(err).__name__)


def run_rolled_signal(config: StudyConfig, spec: SignalSpec) -> tuple[pd.DataFrame, list[str]]:
    """Train every window not yet finished, in date order; merge the windows' predictions.

    Returns:
        (pred, trained): pred indexed (datetime, instrument) (column ``score`` plus any diagnostics),
        trained = the windows trained by this call (the others were resumed from their recorders).
    """
    experiment = config.experiment(spec.name)
    done = finished_windows(experiment)
    trainer = TrainerR(experiment_name=experiment)
    previous, trained, used = None, [], []
    for task in window_tasks(config, spec):
        window = window_key(task)
        if spec.prepare_window is not None:
            task = spec.prepare_window(task, window=window, previous_recorder=previous, config=config)
        task_hash = hash_args(task)
        recorder, done_hash = done.get(window, (None, None))
        if recorder is None or done_hash != task_hash:
            logger.info("%s: training window %s", spec.name, window)
            try:
                recorder = trainer([task])[0]
            except BaseException as err:
                end_interrupted_window(err, window)
                raise
            recorder.set_tags(**{WINDOW_TAG: window, HASH_TAG: task_hash})
            trained.append(window)
        else:
            logger.info("%s: window %s already finished (recorder %s), skipped", spec.name, window,
                        recorder.info["id"])
        used.append(recorder.info["id"])
        previous = recorder
    collector = RecorderCollector(experiment=experiment, process_list=[RollingEnsemble()],
                                  rec_filter_func=lambda rec: rec.info["id"] in used,
                                  artifacts_key=["pred"], artifacts_path={"pred": "pred.pkl"})
    pred = collector()["pred"]
    if isinstance(pred, pd.Series):
        pred = pred.to_frame("score")
    return pred, trained
