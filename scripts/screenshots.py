#!/usr/bin/env python3
"""Remakes the pictures in docs/ from the browser tests that take them.

    .venv/bin/python scripts/screenshots.py          # the README's picture only
    .venv/bin/python scripts/screenshots.py --all    # every picture in docs/

The README's picture (docs/screenshot-chat.png: alice, bob and carol in
#general, an image attached and its thread open beside the room) comes from
tests/e2e/test_screenshot_chat.py, which starts a local cluster of its own;
--all runs every browser test that takes a picture. Either way the tests run
with UPDATE_DOC_SCREENSHOTS=1, which copies their shots over the files in docs/
(a plain test run leaves them alone). Needs what the browser tests need:
PostgreSQL, Redis, nginx and /usr/bin/chromium (make system-deps).
"""

import argparse
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README_PICTURE = ["tests/e2e/test_screenshot_chat.py"]
EVERY_PICTURE = [
    *README_PICTURE,
    "tests/e2e/test_chat_page.py::test_screenshots_of_the_main_screens",
    "tests/e2e/test_chat_features.py::test_delivery_paused_shows_a_banner_and_the_page_catches_up",
    "tests/e2e/test_chat_features.py::test_screenshots_of_reactions_mentions_and_search",
    "tests/e2e/test_threads_page.py::test_reply_from_the_thread_panel_and_live_counts",
    "tests/e2e/test_files_page.py::test_a_pasted_image_uploads_with_progress_and_opens_in_the_viewer",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all", action="store_true", help="every picture in docs/")
    args = parser.parse_args(argv)
    targets = EVERY_PICTURE if args.all else README_PICTURE
    env = dict(os.environ, UPDATE_DOC_SCREENSHOTS="1")
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *targets]
    return subprocess.call(command, cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main())
