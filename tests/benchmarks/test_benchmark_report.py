"""`python -m benchmarks`' pieces without running a benchmark: the report (JSON and Markdown
from given records, ratios, missing peers, errors, MFU), the machine slug and description
from given /proc/cpuinfo text, and the registry (every name maps to a function of its module,
found by reading the module's source, so no benchmark module is imported)."""

import ast
import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import bench_common  # noqa: E402
import machine  # noqa: E402
import report  # noqa: E402
import suite  # noqa: E402

CPUINFO = """processor	: 0
vendor_id	: GenuineIntel
model name	: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz
flags		: fpu sse2 avx2 avx512f avx512_bf16 amx_tile amx_bf16

processor	: 1
model name	: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz
flags		: fpu sse2 avx2 avx512f avx512_bf16 amx_tile amx_bf16
"""


def _run(benchmarks, ceiling=None):
    described = machine.describe(cpuinfo=CPUINFO, gpu=None, core_count=2,
                                 packages=("numpy", "surely-not-installed-pkg"))
    return {"machine": described, "ceiling": ceiling or {"matmul": 1024, "float32": 100.0},
            "quick": True, "started": "2025-01-01T00:00:00", "seconds": 12.0,
            "benchmarks": benchmarks}


def test_machine_description_from_cpuinfo():
    described = machine.describe(cpuinfo=CPUINFO, gpu=None, core_count=2,
                                 packages=("numpy", "surely-not-installed-pkg"))
    assert described["cpu"] == "Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz"
    assert described["slug"] == "intel-xeon-platinum-8481c-amx-2c"
    assert described["flags"] == {"avx2": True, "avx512f": True, "avx512_bf16": True,
                                  "amx_bf16": True, "amx_tile": True}
    assert described["versions"]["surely-not-installed-pkg"] is None
    assert described["versions"]["numpy"]
    amd = machine.describe(cpuinfo="model name : AMD EPYC 7B13 64-Core Processor\n"
                           "flags : avx2\n", gpu=None, core_count=16, packages=())
    assert amd["slug"] == "amd-epyc-7b13-avx2-16c"
    assert amd["flags"]["avx2"] and not amd["flags"]["avx512f"]
    gpu = machine.describe(cpuinfo=CPUINFO, gpu="NVIDIA H100 80GB HBM3", core_count=16,
                           packages=())
    assert gpu["slug"] == "nvidia-h100-80gb-hbm3-16c" and gpu["gpu"] == "NVIDIA H100 80GB HBM3"
    assert machine.describe(cpuinfo="", gpu=None, core_count=1, packages=())["slug"] == \
        "unknown-1c"


def test_one_cpu_name_with_other_instructions_gets_its_own_results_and_onednn_is_shown():
    # Virtual machines named "AMD EPYC" came with AVX-512 or with AVX2 only: other kernels,
    # other ratios, so other result files; TensorFlow's oneDNN state is in the table's header.
    wide, narrow = (machine.describe(cpuinfo=f"model name : AMD EPYC\nflags : {flags}\n",
                                     gpu=None, core_count=2, packages=(), onednn=onednn)
                    for flags, onednn in (("avx2 avx512f avx512_bf16", True), ("avx2", False)))
    assert (wide["slug"], narrow["slug"]) == ("amd-epyc-avx512-2c", "amd-epyc-avx2-2c")
    assert machine.vector_tier({"avx2": False}) is None
    assert machine.slug("AMD EPYC", 2) == "amd-epyc-2c"
    run = {"machine": narrow, "ceiling": {}, "benchmarks": {}}
    assert ("- CPU: AMD EPYC, 2 cores; flags: avx2 yes, avx512f no, avx512_bf16 no, amx_bf16 "
            "no, amx_tile no; TensorFlow's oneDNN kernels off (TF_ENABLE_ONEDNN_OPTS=1 turns "
            "them on)\n") in report.markdown(run)
    assert "TensorFlow's oneDNN kernels on\n" in report.markdown({**run, "machine": wide})
    assert machine.onednn_enabled() in (True, False)  # asked of the TensorFlow installed


def test_report_ratios_missing_peers_errors_and_mfu(tmp_path):
    rate = bench_common.result("train step", "bert_tiny batch=8", 50.0, "seq/s",
                               {"keras-hub": 25.0, "other": None},
                               flops_per_item=1e9, notes="other not installed")
    seconds = bench_common.result("load", "bert_base", 2.0, "s", {"keras-hub": 3.0},
                                  higher_is_better=False, flops_per_item=1e9)
    bf16 = bench_common.result("train step", "bf16", 10.0, "seq/s", {}, flops_per_item=4e9,
                               dtype="bfloat16")
    run = _run({
        "pretrain": {"seconds": 3.0, "error": None, "results": [rate, seconds, bf16]},
        "serving": {"seconds": 1.0, "error": "SystemExit: data | missing", "results": []},
    })
    json_path, md_path = report.write(run, str(tmp_path))
    assert Path(json_path).name == "intel-xeon-platinum-8481c-amx-2c.json"
    assert Path(md_path).name == "intel-xeon-platinum-8481c-amx-2c.md"

    written = json.loads(Path(json_path).read_text())
    records = written["benchmarks"]["pretrain"]["results"]
    assert records[0]["ratios"] == {"keras-hub": 2.0, "other": None}
    assert records[0]["mfu"] == pytest.approx(50 * 1e9 / 100e9)
    assert records[1]["ratios"] == {"keras-hub": 1.5}  # a time: peer / ours
    assert records[1]["mfu"] is None  # times have no FLOP rate
    # no bfloat16 ceiling measured: bfloat16 rows are against the float32 one
    assert records[2]["mfu_against"] == "float32" and records[2]["ratios"] == {}
    assert written["benchmarks"]["serving"]["error"] == "SystemExit: data | missing"
    assert written["machine"]["flags"]["amx_bf16"] is True

    text = Path(md_path).read_text()
    assert "| pretrain | train step | bert_tiny batch=8 (other not installed) |" in text
    assert "| 50.0 seq/s | keras-hub: 25.0 seq/s; other: missing | " \
        "keras-hub: 2.00x; other: — | 50.0% of float32 |" in text
    assert "| 2.00 s | keras-hub: 3.00 s | keras-hub: 1.50x | — |" in text
    assert "| serving | error | SystemExit: data \\| missing |" in text
    assert "Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz, 2 cores" in text
    assert "avx512_bf16 yes" in text and "surely-not-installed-pkg missing" in text
    assert "float32 100 GFLOP/s" in text
    with_bf16 = report.enriched(_run(
        {"pretrain": {"seconds": 1, "error": None, "results": [bf16]}},
        ceiling={"matmul": 1024, "float32": 100.0, "bfloat16": 400.0}))
    record = with_bf16["benchmarks"]["pretrain"]["results"][0]
    assert record["mfu_against"] == "bfloat16" and record["mfu"] == pytest.approx(0.1)


def test_result_records_are_json_ready_and_flops_formula():
    record = bench_common.result("x", "c", 3, "ms", {"p": 4}, higher_is_better=False)
    assert json.loads(json.dumps(record)) == record
    assert record["peers"] == {"p": 4.0} and record["flops_per_item"] is None

    class Config:  # bert_base
        hidden_size, num_layers, vocab_size, intermediate_size = 768, 12, 30522, 3072

    train = bench_common.model_flops(Config, 8, 128, 20, train=True)
    forward = bench_common.model_flops(Config, 8, 128, 0, train=False)
    matmul = 12 * (4 * 768**2 + 2 * 768 * 3072) + 768**2
    attention = 12 * 12 * 768 * 128 * 8 * 128
    assert train == 6 * matmul * 8 * 128 + 6 * (768**2 + 768 * 30522) * 8 * 20 + attention
    assert forward == 2 * matmul * 8 * 128 + attention // 3


def test_every_registered_benchmark_maps_to_a_function():
    assert {"encoder", "pretrain", "finetune", "tokenizer_uncased", "tokenizer_cased",
            "load_weights", "serving", "input_checks", "input_pipeline"} <= set(suite.BENCHMARKS)
    for name, entry in suite.BENCHMARKS.items():
        source = BENCHMARKS / f"{entry.module}.py"
        assert source.is_file(), name
        functions = {node.name: node for node in ast.parse(source.read_text()).body
                     if isinstance(node, ast.FunctionDef)}
        assert entry.function in functions, (name, entry.function)
        parameters = {arg.arg for arg in functions[entry.function].args.args}
        assert set(entry.quick) <= parameters, (name, set(entry.quick) - parameters)
        assert set(entry.full) <= parameters, (name, set(entry.full) - parameters)
        assert "main" in functions, name  # each script still runs on its own
    # a module with only lazy imports resolves to a real callable without a TensorFlow import
    assert callable(suite.resolve("load_weights"))


def test_a_failing_benchmark_is_recorded_and_the_run_goes_on(monkeypatch, tmp_path):
    def broken(**kwargs):
        raise SystemExit("/x/train.tsv is missing; it holds SST-2\nsecond line")

    monkeypatch.setattr(suite, "resolve", lambda name: broken)
    entry = suite.run_one("finetune", quick=True)
    assert entry["error"] == "SystemExit: /x/train.tsv is missing; it holds SST-2"
    assert entry["results"] == []


def test_unknown_names_are_refused():
    with pytest.raises(SystemExit):
        suite.main(["no-such-benchmark"])


def test_a_run_stopped_part_way_keeps_the_benchmarks_it_finished(monkeypatch, tmp_path):
    described = machine.describe(cpuinfo=CPUINFO, gpu=None, core_count=2, packages=("numpy",))
    monkeypatch.setattr(suite.machine_info, "describe", lambda: described)
    monkeypatch.setattr(suite.machine_info, "ceiling",
                        lambda machine, size: {"matmul": size, "float32": 100.0})
    record = bench_common.result("tokens", "uncased", 3.0, "M tokens/s", {"HF": 1.0})

    def measure(name):
        if name == "load_weights":
            raise KeyboardInterrupt  # the process stopped while this benchmark ran
        return lambda **kwargs: [record]

    monkeypatch.setattr(suite, "resolve", measure)
    with pytest.raises(KeyboardInterrupt):
        suite.run(["tokenizer_uncased", "load_weights", "serving"], quick=True,
                  out=str(tmp_path))
    written = json.loads((tmp_path / f"{described['slug']}.json").read_text())
    assert list(written["benchmarks"]) == ["tokenizer_uncased"]
    assert written["benchmarks"]["tokenizer_uncased"]["results"][0]["ratios"] == {"HF": 3.0}
    assert written["pending"] == ["load_weights", "serving"]
    text = (tmp_path / f"{described['slug']}.md").read_text()
    assert "stopped before load_weights, serving" in text

    suite.run(["tokenizer_uncased"], quick=True, out=str(tmp_path))
    written = json.loads((tmp_path / f"{described['slug']}.json").read_text())
    assert written["pending"] == []
    assert "stopped before" not in (tmp_path / f"{described['slug']}.md").read_text()


@pytest.mark.parametrize("slug", ["amd-epyc-avx512-2c", "amd-epyc-avx2-2c"])
def test_the_committed_cpu_runs_are_complete_and_their_tables_are_their_data(slug):
    results = BENCHMARKS / "results"
    run = json.loads((results / f"{slug}.json").read_text())
    assert run["pending"] == [] and not run["quick"] and run["machine"]["slug"] == slug
    assert all(entry["error"] is None and entry["results"]
               for entry in run["benchmarks"].values())
    assert (results / f"{slug}.md").read_text() == report.markdown(run)
    train = [r for r in run["benchmarks"]["encoder"]["results"]
             if r["name"].startswith("train step") and "bert_base" in r["config"]]
    assert train and train[0]["ratios"]["keras-hub"] == pytest.approx(
        train[0]["ours"] / train[0]["peers"]["keras-hub"])


def test_python_m_benchmarks_runs_each_benchmark_in_a_fresh_process(tmp_path):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, str(BENCHMARKS / "__main__.py"), "tokenizer_uncased",
                           "--quick", "--out", str(tmp_path), "--matmul", "64"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    run = json.loads(next(tmp_path.glob("*.json")).read_text())
    entry = run["benchmarks"]["tokenizer_uncased"]
    assert entry["error"] is None and entry["results"][0]["ratios"]["HF tokenizers"] > 0
    died = suite.run_in_child("tokenizer_uncased", quick=True,
                              command=[sys.executable, "-c", "raise SystemExit(3)"])
    assert died["results"] == [] and died["error"] == (
        "its process exited with status 3 before writing a result")


def test_the_ceiling_is_the_best_of_a_square_matmul_and_bert_base_s_own_shapes():
    found = machine.ceiling({"flags": {}}, n=64, calls=1)
    assert found["shapes"] == ["64x64x64", "1024x768x3072", "1024x3072x768"]
    assert "bfloat16" not in found and found["float32"] > 0
    text = report.markdown(_run({}, ceiling=found))
    assert ("- ceiling (the best TensorFlow matmul of 64x64x64, 1024x768x3072, 1024x3072x768 "
            "on the CPU, same run): float32 ") in text
    assert "- ceiling (TensorFlow 1024^3 matmul on the CPU, same run)" in report.markdown(
        _run({}))  # a run recorded before the shapes were
