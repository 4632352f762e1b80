"""Run every benchmark in one command and rewrite ``docs/benchmarks.md``.

Order: pricing layer, revaluation, American exercise in scenarios, one account, scale, cold
start, from the file to the margin (10^6 positions, 2 x 10^5 and 10^6 accounts), then (with
``--batch``) the Dask batch benchmark, which starts a local cluster. Each script checks its
results against the reference before timing them and times the implementations interleaved.
``--quick`` shrinks the pricing inputs and stops the scale table at 10^6 positions.
Run: ``python benchmarks/run_all.py [--quick] [--batch]`` (about 10 minutes in full here).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--batch", action="store_true", help="also the Dask batch benchmark")
    args = parser.parse_args()
    steps = [["bench_pricing.py", *(["--quick"] if args.quick else [])],
             ["bench_revalue.py"], ["bench_american.py"], ["bench_account.py"],
             ["bench_scale.py", *(["--max-positions", "1000000"] if args.quick else [])],
             ["bench_coldstart.py"], ["bench_ingest.py"]]
    if args.batch:
        steps.append(["bench_batch.py"])
    for script, *options in steps:
        started = time.perf_counter()
        print(f"== {script} {' '.join(options)}", flush=True)
        done = subprocess.run([sys.executable, str(HERE / script), *options], cwd=HERE)
        if done.returncode != 0:
            print(f"{script} failed with exit status {done.returncode}", file=sys.stderr)
            return done.returncode
        print(f"   {time.perf_counter() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
