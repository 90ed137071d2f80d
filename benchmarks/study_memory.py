"""Peak RSS of the walk-forward study as the universe grows (synthetic markets, CPU).

    python benchmarks/study_memory.py --instruments 40 400 --out /tmp/study_memory

For each universe size N it generates a synthetic market (N stocks, csi300 universe of 0.6 N, 2020-01 .. 2022-06),
runs the study (tiny Kronos rolled quarterly over 2022H1, warm-started, + reversal_5d + random; LightGBM left
out: Alpha158's handler is Qlib's and holds universe x history by design) in a fresh process under
``/usr/bin/time`` and prints the peak RSS and wall time. Memory should grow with the scored chunk and the train
windows, not with universe x history.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "study"))
from study_test_helpers import study_dict  # noqa: E402


def market(root: Path, n: int) -> Path:
    from kronos_quant.data.synth import SynthConfig, write_synthetic_market

    path = root / f"synth_{n}"
    if not (path / "calendars" / "day.txt").exists():
        write_synthetic_market(path, SynthConfig(seed=7, n_instruments=n, universe_size=int(0.6 * n),
                                                 start="2020-01-02", end="2022-06-30", n_industries=8))
    return path


def run(root: Path, n: int, chunk_days: int, max_train_windows: int | None) -> dict:
    provider = market(root, n)
    tag = f"{n}_{chunk_days}_{max_train_windows}"
    raw = study_dict(provider, root / f"out_{tag}", signals=("kronos", "reversal_5d", "random"))
    raw["kronos"] = {**raw["kronos"], "predict_chunk_days": chunk_days, "max_train_windows": max_train_windows}
    config = root / f"study_{tag}.yaml"
    config.write_text(yaml.safe_dump(raw))
    started = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-f", "MAXRSS_KB %M", sys.executable, "-m", "kronos_quant.cli.study",
                           "--config", str(config)], capture_output=True, text=True, env={**os.environ})
    wall = time.perf_counter() - started
    match = re.search(r"MAXRSS_KB (\d+)", done.stderr)
    if done.returncode != 0 or match is None:
        raise RuntimeError(done.stderr[-3000:])
    return {"instruments": n, "universe": int(0.6 * n), "chunk_days": chunk_days,
            "max_train_windows": max_train_windows,
            "peak_rss_mb": int(match.group(1)) / 1024, "wall_s": round(wall, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instruments", type=int, nargs="+", default=[40, 400])
    parser.add_argument("--chunk-days", type=int, default=30)
    parser.add_argument("--max-train-windows", type=int, default=None, help="sample Kronos training windows")
    parser.add_argument("--out", default="/tmp/study_memory")
    args = parser.parse_args()
    root = Path(args.out)
    root.mkdir(parents=True, exist_ok=True)
    for n in args.instruments:
        print(json.dumps(run(root, n, args.chunk_days, args.max_train_windows)), flush=True)


if __name__ == "__main__":
    main()
