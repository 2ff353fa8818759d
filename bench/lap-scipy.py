#!/usr/bin/env python3
"""SciPy's linear_sum_assignment on the matrices bench/lap.ts wrote, side by side with our figures.

    npx tsx bench/lap.ts --write /tmp/lapbench
    python3 bench/lap-scipy.py /tmp/lapbench

Needs numpy and scipy (e.g. Debian's python3-numpy python3-scipy). Reference only: no test or CI uses it.
Prints median wall times and checks that both optimal totals agree to 1e-9 relative.
"""
import json
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import scipy
from scipy.optimize import linear_sum_assignment


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    folder = Path(sys.argv[1])
    ours = json.loads((folder / "results.json").read_text())
    linear_sum_assignment(np.random.default_rng(0).random((64, 64)))  # load and warm
    print(f"scipy {scipy.__version__}, numpy {np.__version__}; ours from node {ours['node']}")
    print(f"{'kind':8} {'n':>5} {'ours s':>9} {'scipy s':>9} {'ratio':>6}  totals agree")
    worst = 0.0
    for r in ours["results"]:
        n = r["n"]
        c = np.fromfile(folder / r["file"], dtype="<f8").reshape(n, n)
        times = []
        for _ in range(len(r["times"])):
            t0 = time.perf_counter()
            rows, cols = linear_sum_assignment(c, maximize=r["maximize"])
            times.append(time.perf_counter() - t0)
        total = math.fsum(c[rows, cols].tolist())
        rel = abs(total - r["total"]) / max(1.0, abs(total))
        worst = max(worst, rel)
        med = statistics.median(times)
        print(f"{r['kind']:8} {n:5} {r['median']:9.4f} {med:9.4f} {r['median'] / med:6.2f}  "
              f"{'yes' if rel <= 1e-9 else 'NO'} ({rel:.1e})")
    return 0 if worst <= 1e-9 else 1


if __name__ == "__main__":
    sys.exit(main())
