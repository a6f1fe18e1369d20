"""Runs `tests.training.worker` in subprocesses (fresh TensorFlow per process)."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]


def worker_command(out, result, *extra):
    return [sys.executable, "-m", "tests.training.worker", "--out", str(out),
            "--result", str(result), *map(str, extra)]


def worker_env(**extra):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(REPO_ROOT))
    env.update(extra)
    return env


def run_worker(out, result, *extra, timeout=240):
    completed = subprocess.run(
        worker_command(out, result, *extra), cwd=REPO_ROOT, env=worker_env(),
        capture_output=True, text=True, timeout=timeout,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return load_result(result)


def load_result(result):
    with open(result) as f:
        data = json.load(f)
    data["losses"] = {int(k): v for k, v in data["losses"].items()}
    npz = np.load(str(result) + ".npz")
    data["weights"] = [npz[k] for k in npz.files]
    return data


def free_ports(count):
    """`count` distinct ports that were free a moment ago (all held open at once while they
    are chosen, so that two of them cannot be the same)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("localhost", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()
