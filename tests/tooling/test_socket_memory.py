"""bench/socket_memory.py runs for real: a gunicorn eventlet worker with idle sockets."""

import re
import subprocess
import sys

ROOT = __file__.rsplit("/tests/", 1)[0]


def test_socket_memory_reports_rss_and_traced_lines_per_idle_socket():
    argv = [sys.executable, "-m", "bench.socket_memory", "-n", "50", "--trace", "--top", "5"]
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    rss = re.search(
        r"^DirectSocket: worker RSS \+(-?[\d.]+) KiB per idle socket "
        r"\(50 sockets, tracemalloc on\); worker CPU [\d.]+ ms per connect, one at a time$",
        result.stdout,
        re.M,
    )
    assert rss, result.stdout
    traced = re.search(r"^traced: \+([\d.]+) KiB per socket", result.stdout, re.M)
    assert traced and 1 < float(traced.group(1)) < 200, result.stdout
    assert len(re.findall(r"^ +-?\d+ B +[-\d.]+ blocks +\S+:\d+$", result.stdout, re.M)) == 5
