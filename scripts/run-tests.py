"""The whole suite (`make test`) as two pytest processes side by side.

tests/containers/ spends most of its minutes waiting on Docker (images, stacks
coming up, rolling updates), so it runs beside the other folders instead of
after them: `make test` takes the longer of the two instead of their sum. Its
report goes to tests/artifacts/containers.log while it runs and is printed after
the other report. Arguments are passed to both pytest runs. The exit status is
0 only if both runs pass. Last of all come both runs' short summaries (their
failures and errors, one line each, and their counts), so that the end of the
output, which is all a CI log may keep, names every failure.

Ctrl-C reaches both pytest processes (they are in the terminal's foreground
process group), and each stops the way pytest does: its fixtures tear down
their clusters and stacks. This script then waits for both.
"""

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONTAINERS = "tests/containers"
LOG = os.path.join(ROOT, "tests", "artifacts", "containers.log")


def pytest(*args, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "pytest", *args], cwd=ROOT, **kwargs)


def wait_for(*processes):
    """Waits for every process, through Ctrl-C (which they got too)."""
    codes = []
    for process in processes:
        while True:
            try:
                codes.append(process.wait())
                break
            except KeyboardInterrupt:
                continue
    return codes


def short_summary(report):
    """pytest's closing lines: its "short test summary info" section (a line per
    failure or error) and the counts line, or just the counts line."""
    lines = re.sub(r"\x1b\[[0-9;]*m", "", report).splitlines()
    start = next((n for n, line in enumerate(lines) if "short test summary info" in line), None)
    if start is None:
        start = next(
            (n for n in range(len(lines) - 1, -1, -1) if lines[n].startswith("=")),
            max(len(lines) - 1, 0),
        )
    return "\n".join(lines[start:])


def relay(pipe):
    """Copies a child's output to ours as it comes (pytest's progress dots
    included, which arrive without a newline) until it ends; returns all of it."""
    chunks = []
    out = sys.stdout.buffer
    while True:
        try:
            chunk = os.read(pipe.fileno(), 65536)
        except KeyboardInterrupt:
            continue  # the child got it too, and writes its last report
        if not chunk:
            return b"".join(chunks).decode("utf-8", "replace")
        chunks.append(chunk)
        out.write(chunk)
        out.flush()


def main(argv):
    os.makedirs(os.path.dirname(LOG), exist_ok=True)
    with open(LOG, "w") as log:
        # No cache plugin in this one: two runs would write .pytest_cache at once.
        containers = pytest(
            "-p", "no:cacheprovider", CONTAINERS, *argv, stdout=log, stderr=subprocess.STDOUT
        )
        # Through a pipe (to keep its summary): colours only if ours is a terminal.
        color = ["--color=yes"] if sys.stdout.isatty() else []
        others = pytest(
            f"--ignore={CONTAINERS}",
            *color,
            *argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        others_output = relay(others.stdout)
        (others_code,) = wait_for(others)
        print(
            f"\n== {CONTAINERS} (run beside the others; its log: {os.path.relpath(LOG, ROOT)}) ==",
            flush=True,
        )
        (containers_code,) = wait_for(containers)
    with open(LOG) as log:
        containers_report = log.read()
    sys.stdout.write(containers_report)
    print("\n== make test: both runs' summaries ==")
    print(f"-- the other folders (pytest exited {others_code}):")
    print(short_summary(others_output))
    print(f"-- {CONTAINERS} (pytest exited {containers_code}):")
    print(short_summary(containers_report))
    print(
        f"\nmake test: the other folders' pytest exited {others_code}, "
        f"{CONTAINERS}' exited {containers_code}",
        flush=True,
    )
    return 0 if others_code == 0 and containers_code == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
