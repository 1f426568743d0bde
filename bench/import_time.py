"""Benchmark: what a function imports, versus `import functions_framework` alone.

Fresh interpreter per sample, alternating the two so both see the same machine load;
prints the medians and the ratio. Both from precompiled bytecode (see cold_start.py).
Target (issue 3): at most 1.5x. Also printed: the floor, functions_framework plus
`from pydantic import BaseModel` (the design card's library for configuration and
models), which any jobwarden function imports before it can validate anything.
"""

from __future__ import annotations

import compileall
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROUNDS = 9
BASELINE = "import functions_framework"
FLOOR = "import functions_framework; from pydantic import BaseModel"
OURS = (
    "import functions_framework; "
    "import jobwarden.edge, jobwarden.workflows.events, jobwarden.intake, "
    "jobwarden.config, jobwarden.enrich, jobwarden.failure, jobwarden.report, "
    "jobwarden.sinks.storage, jobwarden.sinks.webhooks, jobwarden.render.html"
)


def sample(code: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - t0


def main() -> int:
    compileall.compile_dir(ROOT / "shared", quiet=1)
    sample(OURS)  # warm the OS file cache
    base, ours, floor = [], [], []
    for _ in range(ROUNDS):
        base.append(sample(BASELINE))
        ours.append(sample(OURS))
        floor.append(sample(FLOOR))
    b, o, f = statistics.median(base), statistics.median(ours), statistics.median(floor)
    print(f"fresh-process import, median of {ROUNDS}")
    print(f"functions_framework alone:        {b * 1000:.0f} ms")
    print(f"functions_framework + jobwarden:  {o * 1000:.0f} ms")
    print(f"functions_framework + pydantic:   {f * 1000:.0f} ms (floor)")
    print(f"ratio: {o / b:.2f} (target <= 1.5: {'met' if o / b <= 1.5 else 'MISSED'})")
    print(f"floor ratio: {f / b:.2f} (pydantic alone)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
