"""`benchmarks/gpu_kernels.py` end to end on the CPU at small sizes (the Pallas LayerNorm in its
interpreter): a line for the copy and for each form of each piece, the Pallas LayerNorm checked
against XLA's first, and the JSON it writes."""

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_kernels.py"


def test_gpu_kernels_runs_on_a_cpu(tmp_path):
    out = tmp_path / "kernels.json"
    run = subprocess.run([sys.executable, str(SCRIPT), "--tokens", "64", "--reps", "1",
                          "--out", str(out)], capture_output=True, text=True, timeout=600,
                         env=dict(os.environ, KERAS_BACKEND="jax"))
    assert run.returncode == 0, run.stderr[-2000:]
    check = next(line for line in run.stdout.splitlines() if line.startswith("pallas Layer"))
    differences = json.loads(check.split(":", 1)[1])
    assert differences["y"] < 1e-2 and differences["dx"] < 1e-2 and differences["dgamma"] < 1e-4
    records = json.loads(out.read_text())["records"]
    assert [(r["piece"], r["form"]) for r in records][:3] == [
        ("copy [tokens, inter]", "x * 2"), ("LayerNorm forward", "xla"),
        ("LayerNorm fwd+bwd", "xla")]
    assert {r["form"] for r in records if r["piece"].startswith("GELU")} == {
        "exact (shipped)", "tanh (probe)", "sigmoid (probe)"}
    assert all(r["us"] > 0 for r in records)
