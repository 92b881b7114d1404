"""P5: idle memory with 5,000 members and start-to-healthy time, vs a bare aiohttp server."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from bench.common import (
    QINGFENG,
    clean_env,
    free_port,
    prepare_county,
    ratio,
    rss_mb,
    spawn,
    stop,
    wait_healthy,
)

RSS_TARGET_MB = 120
START_TARGET_S = 2.0


def measure(args: list[str], env: dict[str, str], cwd: Path, port: int) -> tuple[float, float]:
    proc = spawn(args, env, cwd)
    try:
        started = wait_healthy(f"http://127.0.0.1:{port}/healthz")
        time.sleep(2)  # let start-up work settle before reading idle memory
        return started, rss_mb(proc.pid)
    finally:
        stop(proc)


def main() -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="qf-p5-") as tmp:
        work = Path(tmp)
        env = prepare_county(work)
        port = free_port()
        env["QINGFENG_SERVER__PORT"] = str(port)
        start_s, rss = measure([QINGFENG, "serve"], env, work, port)
        bport = free_port()
        base_cmd = [sys.executable, "-m", "bench.baseline_server", str(bport)]
        base_start, base_rss = measure(base_cmd, clean_env(), work, bport)
    ok = rss <= RSS_TARGET_MB and start_s <= START_TARGET_S
    print(
        f"P5 idle RSS      qingfeng {rss:6.1f} MB  baseline {base_rss:6.1f} MB  "
        f"ratio {ratio(rss, base_rss)}  target ≤ {RSS_TARGET_MB} MB"
    )
    print(
        f"P5 start→healthy qingfeng {start_s:6.2f} s   baseline {base_start:6.2f} s   "
        f"ratio {ratio(start_s, base_start)}  target ≤ {START_TARGET_S} s  "
        f"{'PASS' if ok else 'FAIL'}"
    )
    return {"rss_mb": rss, "start_s": start_s, "base_rss_mb": base_rss, "base_start_s": base_start}


if __name__ == "__main__":
    main()
