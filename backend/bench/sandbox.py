"""Sandbox overhead: one sandboxed `predict` on a year of 5-minute bars against the same call
in-process, the pool's throughput, and a 100-combination sweep in one child per worker
against 100 separate jobs.

    cd backend && uv run python bench/sandbox.py [--repeat 9] [--workers 2]

Target: <= 60 ms overhead per call once the pool is warm; a sweep pays it once per worker.
"""

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.lab.engine.synthetic import synthetic_price_frame
from app.lab.sandbox import Limits, PredictJob, SandboxPool, SweepJob
from app.lab.templates import get_template

BARS = 105_120


def ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:8.1f} ms (best {min(samples) * 1000:.1f})"


def in_process_class(code: str, name: str) -> Any:
    namespace: dict[str, Any] = {}
    exec(compile(code, "<template>", "exec"), namespace)
    return namespace[name]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    template = get_template("ma_crossover")
    frame = synthetic_price_frame(["BTC"], bars=BARS, seed=3).xs("BTC", axis=1, level=0)
    assert isinstance(frame, pd.DataFrame)
    algorithm = in_process_class(template.source, template.class_name)

    local = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        algorithm().predict(frame)
        local.append(time.perf_counter() - started)

    pool = SandboxPool(workers=args.workers, limits=Limits(), uid_base=62000)
    started = time.perf_counter()
    await pool.astart()
    print(f"pool start (forkserver + preload + self-test):  {time.perf_counter() - started:6.2f} s")
    job = PredictJob(code=template.source, frame=frame)
    await pool.predict(job)  # warm
    sandboxed = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        await pool.predict(job)
        sandboxed.append(time.perf_counter() - started)
    overhead = statistics.median(sandboxed) - statistics.median(local)
    print(f"predict, 1 coin x {BARS:,} bars, in-process:     {ms(local)}")
    print(f"predict, 1 coin x {BARS:,} bars, sandboxed:      {ms(sandboxed)}")
    print(
        f"sandbox overhead per call (median):            {overhead * 1000:8.1f} ms   (target <= 60 ms)"
    )

    small = frame.iloc[:2000]
    jobs = 40
    started = time.perf_counter()
    await asyncio.gather(
        *(pool.predict(PredictJob(code=template.source, frame=small)) for _ in range(jobs))
    )
    seconds = time.perf_counter() - started
    print(
        f"pool throughput, {jobs} small jobs, {args.workers} workers:       {jobs / seconds:8.1f} jobs/s"
    )

    params = [{"fast": f, "slow": s} for f in range(4, 24, 2) for s in range(30, 130, 10)]
    started = time.perf_counter()
    await asyncio.gather(
        *(pool.predict(PredictJob(code=template.source, frame=frame, params=p)) for p in params)
    )
    separate = time.perf_counter() - started
    chunks = [params[i :: args.workers] for i in range(args.workers)]
    started = time.perf_counter()
    results = await asyncio.gather(
        *(pool.sweep(SweepJob(code=template.source, frame=frame, param_sets=c)) for c in chunks)
    )
    swept = time.perf_counter() - started
    assert sum(len(r.outcomes) for r in results) == len(params)
    print(
        f"100 parameter sets on a year: 100 jobs {separate:6.2f} s;  one sweep job per worker {swept:6.2f} s"
    )
    await pool.aclose()


if __name__ == "__main__":
    asyncio.run(main())
