"""One command for the service benchmarks: `python -m bench.run` prints C1/C2, P1, P2, P4 and
P5, each next to its baseline measured in the same run, and its target where it has one
(bench/README.md). `python -m bench.run P4` runs one. (P3, the county summary, has its own
script: bench/p3_summary.py.)"""

from __future__ import annotations

import platform
import sys

from bench import callbacks, county, p4_outbox, p5_idle


def main() -> None:
    print(f"machine: {platform.machine()} · Python {platform.python_version()} · {sys.platform}")
    which = set(sys.argv[1:]) or {"C", "P1", "P2", "P4", "P5"}
    if "C" in which:
        county.main()
    if "P1" in which:
        callbacks.report(callbacks.bench("dingtalk"), "P1")
    if "P2" in which:
        callbacks.report(callbacks.bench("wecom"), "P2")
    if "P4" in which:
        p4_outbox.main()
    if "P5" in which:
        p5_idle.main()


if __name__ == "__main__":
    main()
