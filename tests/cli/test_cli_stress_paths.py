"""`kronos-quant stress` ends by naming each report it wrote, not a `<t0>` placeholder."""
from __future__ import annotations

import argparse
import dataclasses


@dataclasses.dataclass(frozen=True)
class _Config:
    out_dir: str
    n_universes: int = 2
    t0: tuple = ("2021-06-30", "2021-12-31")


def test_stress_prints_the_report_path_of_every_t0(monkeypatch, tmp_path, capsys):
    from kronos_quant.cli import stress
    from kronos_quant.universes import pipeline

    config = _Config(out_dir=str(tmp_path / "stress"))
    monkeypatch.setattr(pipeline.StressConfig, "from_yaml", classmethod(lambda cls, path: config))
    monkeypatch.setattr(pipeline, "run_stress", lambda cfg: {"2021-06-30": [], "2021-12-31": []})
    args = argparse.Namespace(config="unused.yaml", n_universes=None, out_dir=None, t0=None)
    assert stress.run(args) == 0
    printed = capsys.readouterr().out
    assert "<t0>" not in printed
    for t0 in config.t0:
        assert f"report: {tmp_path / 'stress' / t0 / 'stress_report.html'}" in printed
