"""Summarises a GPU trace that `gpu_train_step.py --profile-names ...` wrote (`jax.profiler`):
GPU time per train step by kind of kernel (matmuls, scatters, the other fusions), the busy
time against the trace's span (idle gaps say the host is too slow), and the kernels that take
the most time. Reads the `.xplane.pb` with TensorFlow's protobuf module, so it runs here, not
on the GPU machine (which has no TensorFlow).

    python benchmarks/gpu_profile.py profiles/ours --steps 6 --top 30

Kernel names are XLA's (`loop_multiply_fusion_11`, `gemm_fusion_dot_57`) and cuBLAS' (`nvjet_*`);
`--sequence N` prints the first N kernels in launch order, which places a fusion in the model
(the forward pass runs layer by layer, so one layer's kernels repeat with a period).
"""

import argparse
import collections
import glob
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def kind(name):
    if "scatter" in name:
        return "scatter"
    if name.startswith(("nvjet", "cutlass", "sm90")) or "gemm" in name:
        return "matmul"
    if name.startswith(("Memcpy", "Memset", "memcpy")):
        return "copy"
    return "other fusions"


def compute_events(path):
    """(kernel name, start ps, duration ps) on the GPU's compute streams, in launch order."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    files = glob.glob(os.path.join(path, "**", "*.xplane.pb"), recursive=True)
    if not files:
        raise SystemExit(f"no .xplane.pb under {path}: pass the folder --profile-dir made")
    space = xplane_pb2.XSpace()
    with open(files[0], "rb") as handle:
        space.ParseFromString(handle.read())
    events = []
    for plane in space.planes:
        if not plane.name.startswith("/device:GPU"):
            continue
        for line in plane.lines:
            if "Compute" not in line.name:
                continue
            for event in line.events:
                metadata = plane.event_metadata[event.metadata_id]
                events.append((metadata.display_name or metadata.name, event.offset_ps,
                               event.duration_ps))
    return sorted(events, key=lambda e: e[1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", help="the folder of one contender's trace")
    parser.add_argument("--steps", type=int, default=6, help="train steps in the trace")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--sequence", type=int, default=0)
    args = parser.parse_args()
    events = compute_events(args.path)
    per_step = lambda ps: ps / 1e9 / args.steps  # noqa: E731  (picoseconds -> ms per step)
    kinds, totals, counts = collections.Counter(), collections.Counter(), collections.Counter()
    for name, _, duration in events:
        kinds[kind(name)] += duration
        totals[name] += duration
        counts[name] += 1
    span = events[-1][1] + events[-1][2] - events[0][1]
    print(f"{len(events)} kernels; busy {per_step(sum(kinds.values())):.2f} ms/step of a "
          f"{per_step(span):.2f} ms/step span")
    for name, duration in kinds.most_common():
        print(f"  {name:<14} {per_step(duration):7.2f} ms/step")
    print(f"top {args.top} kernels (ms/step, launches/step):")
    for name, duration in totals.most_common(args.top):
        print(f"  {per_step(duration):7.3f} {counts[name] / args.steps:6.1f}  {name[:90]}")
    for name, _, duration in events[:args.sequence]:
        print(f"  {duration / 1e6:9.1f} us  {name[:90]}")


if __name__ == "__main__":
    main()
