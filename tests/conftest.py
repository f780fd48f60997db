"""Shared by every test folder: the repository root (app, bench) and scripts/
(cluster.py, localservices.py) importable, set up once here."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for _path in (ROOT, os.path.join(ROOT, "scripts")):
    if _path not in sys.path:
        sys.path.insert(0, _path)
