"""Writes one benchmark run as `<out>/<machine slug>.json` and `<out>/<machine slug>.md`.

A run is a dict: `machine` (`machine.describe()`), `ceiling` (`machine.ceiling()`: the matmul
GFLOP/s measured in the same run), `quick`, `started`, `seconds`, and `benchmarks`: `{name:
{"seconds", "error" (its one-line error, or None), "results" (the `bench_common.result`
records)}}`. The JSON holds all of it plus each record's ratios and MFU; the Markdown is a
short machine header and a table with one row per measurement: benchmark, measurement,
configuration, ours, each peer, ours/peer (peer/ours for times, so > 1 always means we are
faster; a peer that could not run shows as missing) and the model-FLOPs utilisation against
the ceiling where the benchmark knows its FLOPs.
"""

import json
import os


def ratios(record):
    """`{peer: ours/peer (peer/ours when lower is better) or None}`: > 1 = we are faster."""
    found = {}
    for peer, value in record["peers"].items():
        ours = record["ours"]
        if ours is None or value is None or ours <= 0 or value <= 0:
            found[peer] = None
        elif record.get("higher_is_better", True):
            found[peer] = ours / value
        else:
            found[peer] = value / ours
    return found


def mfu(record, ceiling):
    """`(utilisation, ceiling dtype)` of our model FLOP/s against the measured matmul ceiling
    (the bfloat16 one for bfloat16 rows when it was measured, else float32), or None."""
    flops = record.get("flops_per_item")
    if not flops or record["ours"] is None or not record.get("higher_is_better", True):
        return None
    dtype = "bfloat16" if record.get("dtype") == "bfloat16" and "bfloat16" in ceiling \
        else "float32"
    if not ceiling.get(dtype):
        return None
    return record["ours"] * flops / (ceiling[dtype] * 1e9), dtype


def number(value):
    """A measured value to about three significant figures, without exponents."""
    if value is None:
        return "missing"
    size = abs(value)
    if size >= 100:
        return f"{value:,.0f}"
    if size >= 10:
        return f"{value:.1f}"
    if size >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def _cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def enriched(run):
    """The run with each record's `ratios` and `mfu` added (a new dict; JSON-ready)."""
    ceiling = run.get("ceiling") or {}
    benchmarks = {}
    for name, entry in run["benchmarks"].items():
        records = []
        for record in entry.get("results") or []:
            utilisation = mfu(record, ceiling)
            records.append(dict(record, ratios=ratios(record),
                                mfu=None if utilisation is None else utilisation[0],
                                mfu_against=None if utilisation is None else utilisation[1]))
        benchmarks[name] = dict(entry, results=records)
    return dict(run, benchmarks=benchmarks)


def markdown(run):
    """The run as Markdown: the machine, the ceiling, one table row per measurement."""
    run = enriched(run)
    machine, ceiling = run["machine"], run.get("ceiling") or {}
    flags = ", ".join(f"{flag} {'yes' if on else 'no'}" for flag, on in machine["flags"].items())
    onednn = {True: "; TensorFlow's oneDNN kernels on", False: "; TensorFlow's oneDNN kernels "
              "off (TF_ENABLE_ONEDNN_OPTS=1 turns them on)"}.get(machine.get("onednn"), "")
    installed = ", ".join(f"{name} {version or 'missing'}"
                          for name, version in machine["versions"].items())
    peak = ", ".join(f"{dtype} {number(ceiling[dtype])} GFLOP/s"
                     for dtype in ("float32", "bfloat16") if ceiling.get(dtype))
    matmuls = (f"the best TensorFlow matmul of {', '.join(ceiling['shapes'])}"
               if ceiling.get("shapes") else f"TensorFlow {ceiling.get('matmul', '?')}^3 matmul")
    lines = [
        f"# Benchmarks on {machine['slug']}",
        "",
        f"- CPU: {machine['cpu']}, {machine['cores']} cores; flags: {flags}{onednn}",
        f"- GPU: {machine['gpu'] or 'none seen by JAX or torch'}",
        f"- Python {machine['python']}; {installed}",
        f"- ceiling ({matmuls} on the CPU, same run): "
        f"{peak or ceiling.get('error', 'not measured')}",
        f"- run: {'--quick' if run.get('quick') else 'full sizes'}, started "
        f"{run.get('started', '?')}, {run.get('seconds', 0):.0f} s"
        + (f"; stopped before {', '.join(run['pending'])}" if run.get("pending") else ""),
        "",
        "Ratios are ours / peer for rates and peer / ours for times: > 1 means we are faster. "
        "MFU: our model FLOP/s / the measured matmul ceiling.",
        "",
        "| benchmark | measurement | configuration | ours | peers | ratio (>1: we are faster) "
        "| MFU |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, entry in run["benchmarks"].items():
        if entry.get("error"):
            lines.append(f"| {name} | error | {_cell(entry['error'])} | | | | |")
        for record in entry["results"]:
            unit = record["unit"]
            peers = "; ".join(f"{peer}: {number(value)}" + ("" if value is None else f" {unit}")
                              for peer, value in record["peers"].items()) or "—"
            ratio = "; ".join(f"{peer}: " + ("—" if value is None else f"{value:.2f}x")
                              for peer, value in record["ratios"].items()) or "—"
            utilisation = "—" if record["mfu"] is None else \
                f"{record['mfu']:.1%} of {record['mfu_against']}"
            config = record["config"] + (f" ({record['notes']})" if record.get("notes") else "")
            lines.append(f"| {name} | {_cell(record['name'])} | {_cell(config)} | "
                         f"{number(record['ours'])} {unit} | {_cell(peers)} | {_cell(ratio)} "
                         f"| {utilisation} |")
    return "\n".join(lines) + "\n"


def _write_atomic(path, text):
    temporary = f"{path}.tmp-{os.getpid()}"
    with open(temporary, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(temporary, path)


def write(run, out):
    """Writes `<out>/<slug>.json` and `<out>/<slug>.md` (atomically); returns both paths."""
    os.makedirs(out, exist_ok=True)
    base = os.path.join(out, run["machine"]["slug"])
    _write_atomic(f"{base}.json", json.dumps(enriched(run), indent=2) + "\n")
    _write_atomic(f"{base}.md", markdown(run))
    return f"{base}.json", f"{base}.md"
