"""CPU work off the event loop (app/offload.py): under eventlet and gevent the
function runs in another OS thread, while other green threads keep running;
without either it is a plain call. Each green library runs in a process of its
own, since monkey-patching cannot be undone."""

import os
import subprocess
import sys
import textwrap

import pytest

from app import offload

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROGRAM = """
{patch}
import threading, time
from app import offload

ticks = []

def ticker():
    for _ in range(10):
        ticks.append(time.monotonic())
        time.sleep(0.02)

def busy():
    end = time.monotonic() + 0.4
    while time.monotonic() < end:  # holds its OS thread, as Pillow's decoding does
        pass
    return threading.get_native_id()

assert offload._green_library() == {library!r}, offload._green_library()
{spawn}
worker = offload.run(busy)
assert worker != threading.get_native_id(), "ran on the event loop's own thread"
assert len(ticks) >= 5, f"the event loop stalled: {{len(ticks)}} ticks"
print("ok")
"""
LIBRARIES = {
    "eventlet": (
        "import eventlet; eventlet.monkey_patch()",
        "eventlet.spawn(ticker); eventlet.sleep(0)",
    ),
    "gevent": (
        "from gevent import monkey; monkey.patch_all()\nimport gevent",
        "gevent.spawn(ticker); gevent.sleep(0)",
    ),
}


@pytest.mark.parametrize("library", sorted(LIBRARIES))
def test_work_runs_in_a_real_thread_while_the_loop_keeps_running(library):
    patch, spawn = LIBRARIES[library]
    program = textwrap.dedent(PROGRAM).format(patch=patch, spawn=spawn, library=library)
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", program],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_without_a_green_library_it_is_a_plain_call():
    assert offload._green_library() is None
    assert offload.run(lambda a, b: a + b, 2, 3) == 5
