"""The whole suite (`make test`) as two pytest processes side by side.

tests/containers/ spends most of its minutes waiting on Docker (images, stacks
coming up, rolling updates), so it runs beside the other folders instead of
after them: `make test` takes the longer of the two instead of their sum. Its
report goes to tests/artifacts/containers.log while it runs and is printed after
the other report. Arguments are passed to both pytest runs. The exit status is
0 only if both runs pass.

Ctrl-C reaches both pytest processes (they are in the terminal's foreground
process group), and each stops the way pytest does: its fixtures tear down
their clusters and stacks. This script then waits for both.
"""
import os
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


def main(argv):
    os.makedirs(os.path.dirname(LOG), exist_ok=True)
    with open(LOG, "w") as log:
        # No cache plugin in this one: two runs would write .pytest_cache at once.
        containers = pytest("-p", "no:cacheprovider", CONTAINERS, *argv,
                            stdout=log, stderr=subprocess.STDOUT)
        others = pytest(f"--ignore={CONTAINERS}", *argv)
        others_code, = wait_for(others)
        print(f"\n== {CONTAINERS} (run beside the others; its log: "
              f"{os.path.relpath(LOG, ROOT)}) ==", flush=True)
        containers_code, = wait_for(containers)
    with open(LOG) as log:
        sys.stdout.write(log.read())
    print(f"\nmake test: the other folders' pytest exited {others_code}, "
          f"{CONTAINERS}' exited {containers_code}", flush=True)
    return 0 if others_code == 0 and containers_code == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
