# SPDX-License-Identifier: MIT
"""Shared by the qpeft tests: paths, and running srr and the client as users run them."""
import json
import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CLIENT = os.path.join(ROOT, "examples", "qpeft", "finetune.py")
sys.path.insert(0, os.path.dirname(CLIENT))

FIXTURE = os.environ.get("QPEFT_FIXTURE", "")
DATA = os.environ.get("SRR_DATA_DIR", "")
TEXT = os.path.join(DATA, "tinystories", "tinystories_val_head.txt")
PYTHON = os.environ.get("SRR_PYTHON", sys.executable)


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def srr(*args):
    return run([os.environ["SRR_EXE"], *args])


def client(*args):
    return run([PYTHON, CLIENT, *args])


def last_json(stdout):
    return json.loads(stdout.strip().splitlines()[-1])
