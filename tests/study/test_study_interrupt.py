"""A study interrupted inside a window, then rerun into the same folder, equals an uninterrupted study."""
from __future__ import annotations

import pandas as pd
import pytest
from study_test_helpers import study_dict

from kronos_quant.study.config import study_config_from_dict

pytestmark = pytest.mark.slow  # three tiny Kronos windows and four Qlib backtests (~1-2 min on 2 shared cores)

SIGNALS = ("kronos", "reversal_5d")


@pytest.fixture(scope="module")
def reference(tiny_market, tmp_path_factory):
    """The uninterrupted study."""
    from kronos_quant.study.run import run_study

    return run_study(study_dict_config(tiny_market, tmp_path_factory.mktemp("study") / "reference"))


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, RuntimeError])
def test_an_interrupted_study_resumes_to_the_uninterrupted_result(tiny_market, tmp_path, monkeypatch, interrupt,
                                                                  reference):
    from qlib.workflow import R

    from kronos_quant.study.kronos_model import KronosStudyModel
    from kronos_quant.study.rolling import finished_windows
    from kronos_quant.study.run import run_study

    first, second = reference.windows["kronos"]

    config = study_dict_config(tiny_market, tmp_path / "interrupted")
    original = KronosStudyModel.predict

    def predict_then_stop(self, dataset, segment="test"):
        if f"{pd.Timestamp(dataset.segments['test'][0]):%Y-%m-%d}" == second:
            raise interrupt("simulated interrupt while scoring the second window (its checkpoints are written)")
        return original(self, dataset, segment)

    monkeypatch.setattr(KronosStudyModel, "predict", predict_then_stop)
    with pytest.raises(interrupt):
        run_study(config)
    assert R.exp_manager.active_experiment is None  # the interrupted window's recorder was ended
    statuses = {rec.list_tags().get("study_window"): rec.status
                for rec in R.get_exp(experiment_name=config.experiment("kronos")).list_recorders().values()}
    assert statuses.get(first) == "FINISHED" and "FINISHED" not in [s for w, s in statuses.items() if w != first]
    finished = {recorder.info["id"] for recorder, _ in finished_windows(config.experiment("kronos")).values()}
    stopped = [rec for rec in R.get_exp(experiment_name=config.experiment("kronos")).list_recorders().values()
               if rec.info["id"] not in finished]
    assert {rec.status for rec in stopped} == {"KILLED" if interrupt is KeyboardInterrupt else "FAILED"}

    monkeypatch.setattr(KronosStudyModel, "predict", original)
    resumed = run_study(config)
    assert resumed.windows["kronos"] == [second]  # the finished window is reused, the interrupted one retrained
    pd.testing.assert_frame_equal(resumed.frame, reference.frame, check_exact=True)
    pd.testing.assert_frame_equal(resumed.summary, reference.summary, check_exact=True)


def study_dict_config(provider, out):
    return study_config_from_dict(study_dict(provider, out, signals=SIGNALS))
