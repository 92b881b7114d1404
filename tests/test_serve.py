"""`qingfeng serve`: refuses an old schema, answers /healthz, stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from tests.test_cli import QINGFENG, run


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_refuses_an_unmigrated_database(tmp_path: Path):
    r = run("serve", cwd=tmp_path)
    assert r.returncode == 1
    assert "请先运行：qingfeng db upgrade" in r.stderr


def test_serve_health_and_graceful_stop(tmp_path: Path):
    assert run("db", "upgrade", cwd=tmp_path).returncode == 0
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("QINGFENG_")}
    env["QINGFENG_SERVER__PORT"] = str(port)
    proc = subprocess.Popen(
        [QINGFENG, "serve"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        body = None
        for _ in range(100):  # polling for start-up, not a timed assertion
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                    body = r.read().decode()
                    break
            except OSError:
                time.sleep(0.1)
        assert body is not None and '"database": "ok"' in body
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()
