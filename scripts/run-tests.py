"""The whole suite (`make test`) as two pytest processes side by side.

tests/containers/ spends most of its minutes waiting on Docker (images, stacks
coming up, rolling updates), so it runs beside the others instead of before or
after them. The second process then goes on with the browser, unit, tooling
and protocol tests (SECOND, in that order), which takes it to about the time
the first takes over the rest (tests/integration, and any folder SECOND does
not name): `make test` takes the longer of the two.
The second's report goes to tests/artifacts/second.log while it runs and is
printed after the first's. Arguments are passed to both pytest runs. The exit
status is 0 only if both runs pass. Last of all come both runs' short
summaries (their failures and errors, one line each, and their counts), so
that the end of the output, which is all a CI log may keep, names every
failure.

Ctrl-C reaches both pytest processes (they are in the terminal's foreground
process group), and each stops the way pytest does: its fixtures tear down
their clusters and stacks. This script then waits for both.
"""

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The second process's folders, in the order it runs them.
SECOND = ["tests/containers", "tests/e2e", "tests/unit", "tests/tooling", "tests/protocol"]
LOG = os.path.join(ROOT, "tests", "artifacts", "second.log")


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
    first_name = "the first (tests/ but " + ", ".join(SECOND) + ")"
    second_name = "the second (" + ", then ".join(SECOND) + ")"
    with open(LOG, "w") as log:
        # No cache plugin in this one: two runs would write .pytest_cache at once.
        second = pytest(
            "-p", "no:cacheprovider", *SECOND, *argv, stdout=log, stderr=subprocess.STDOUT
        )
        # Through a pipe (to keep its summary): colours only if ours is a terminal.
        color = ["--color=yes"] if sys.stdout.isatty() else []
        first = pytest(
            *(f"--ignore={folder}" for folder in SECOND),
            *color,
            *argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        first_output = relay(first.stdout)
        (first_code,) = wait_for(first)
        print(
            f"\n== {second_name}, run beside the first; its log: {os.path.relpath(LOG, ROOT)} ==",
            flush=True,
        )
        (second_code,) = wait_for(second)
    with open(LOG) as log:
        second_report = log.read()
    sys.stdout.write(second_report)
    print("\n== make test: both runs' summaries ==")
    print(f"-- {first_name} (pytest exited {first_code}):")
    print(short_summary(first_output))
    print(f"-- {second_name} (pytest exited {second_code}):")
    print(short_summary(second_report))
    print(
        f"\nmake test: the first pytest exited {first_code}, the second {second_code}",
        flush=True,
    )
    return 0 if first_code == 0 and second_code == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
