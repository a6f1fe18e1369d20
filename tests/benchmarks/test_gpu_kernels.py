"""`benchmarks/gpu_kernels.py` end to end on the CPU at small sizes (the Pallas kernels in
their interpreter): a line for the copy and for each form of each piece, the Pallas LayerNorm
and attention checked against XLA's forms first, and the JSON it writes."""

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_kernels.py"


def test_gpu_kernels_runs_on_a_cpu(tmp_path):
    out = tmp_path / "kernels.json"
    run = subprocess.run([sys.executable, str(SCRIPT), "--tokens", "64", "--seq", "32",
                          "--reps", "1", "--out", str(out)], capture_output=True, text=True,
                         timeout=600,
                         env=dict(os.environ, KERAS_BACKEND="jax"))
    assert run.returncode == 0, run.stderr[-2000:]
    checks = {line.split(" vs ")[0]: json.loads(line.split(":", 1)[1])
              for line in run.stdout.splitlines() if " vs XLA (relative):" in line}
    assert set(checks) == {"pallas LayerNorm", "pallas attention"}
    norm, attention = checks["pallas LayerNorm"], checks["pallas attention"]
    assert norm["y"] < 1e-2 and norm["d0"] < 1e-2 and norm["d1"] < 1e-4 and norm["d2"] < 1e-4
    assert attention["y"] < 1e-2 and attention["d0"] < 2e-2
    records = json.loads(out.read_text())["records"]
    assert [(r["piece"], r["form"]) for r in records][:7] == [
        ("copy [tokens, inter]", "x * 2"), ("LayerNorm forward", "xla"),
        ("LayerNorm fwd+bwd", "xla"), ("LayerNorm forward", "pallas"),
        ("LayerNorm fwd+bwd", "pallas"), ("attention forward", "xla"),
        ("attention fwd+bwd", "xla")]
    assert {r["form"] for r in records if r["piece"].startswith("GELU")} == {
        "exact (shipped)", "tanh (probe)", "sigmoid (probe)"}
    assert all(r["us"] > 0 for r in records)
