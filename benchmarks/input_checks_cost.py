"""What the input checks (`keras_bert_impl.models.input_checks`) cost the train step.

`BertPretrainer.fit` on NumPy host data (MLM + NSP, AdamW, XLA as `compile()` sets it) is
timed with the checks on and off (`checks_disabled()`), called in pairs (the order
alternating) so both see the same background load. Printed for `fit` (the checks run once per
call, on the whole arrays) and `train_on_batch` (they run on every batch): the ratio on/off of
the minimum wall times, the median of the paired ratios and the ratio of the minimum CPU
times; then the time of the check alone against a `fit` call and a train step, the figure
that background load on a shared machine does not blur. The target is a ratio under 1.02.

    python benchmarks/input_checks_cost.py [--presets bert_tiny bert_small] [--batch 32]
        [--seq 128] [--steps 4] [--rounds 6]

`results(...)` measures, prints and returns `bench_common.result` records (ms with the checks
on; the peer is the same call with them off, so the ratio off / on is 1 / the cost), for
`python -m benchmarks`.
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_bert_impl import BertConfig, BertPretrainer  # noqa: E402
from keras_bert_impl.models.input_checks import check_data, checks_disabled  # noqa: E402


def make_data(config, examples, seq, predictions):
    rng = np.random.default_rng(0)
    x = {
        "token_ids": rng.integers(1000, config.vocab_size, (examples, seq)).astype("int32"),
        "segment_ids": np.repeat(
            [[0] * (seq // 2) + [1] * (seq - seq // 2)], examples, 0
        ).astype("int32"),
        "padding_mask": np.ones((examples, seq), "int32"),
        "mask_positions": np.sort(
            np.stack([rng.choice(np.arange(1, seq), predictions, replace=False)
                      for _ in range(examples)]), 1
        ).astype("int32"),
    }
    y = {
        "mask_ids": rng.integers(1000, config.vocab_size, (examples, predictions)).astype("int32"),
        "mask_weights": np.ones((examples, predictions), "float32"),
        "next_sentence_labels": rng.integers(0, 2, (examples,)).astype("int32"),
    }
    return x, y


def paired_timings(fns, rounds, warmup=1):
    """Wall and CPU seconds of each call of `on` and `off`, called in pairs (the order
    alternating), so both see the same background load; returns `{name: [(wall, cpu)]}`."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in fns}
    names = list(fns)
    for i in range(rounds):
        for name in names if i % 2 == 0 else names[::-1]:
            wall, cpu = time.perf_counter(), time.process_time()
            fns[name]()
            times[name].append((time.perf_counter() - wall, time.process_time() - cpu))
    return times


def summary(times):
    """(min wall on, min wall off, ratio of the minima, median of the paired ratios,
    ratio of the minimal CPU times)."""
    on, off = np.array(times["on"]), np.array(times["off"])
    return (on[:, 0].min(), off[:, 0].min(), on[:, 0].min() / off[:, 0].min(),
            float(np.median(on[:, 0] / off[:, 0])), on[:, 1].min() / off[:, 1].min())


def best_seconds(fn, calls):
    fn()
    best = float("inf")
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def unchecked(fn):
    def run():
        with checks_disabled():
            return fn()
    return run


def measure(preset, batch, seq, steps, rounds, predictions=20):
    keras.utils.set_random_seed(0)
    config = BertConfig.from_preset(preset)
    model = BertPretrainer.from_preset(preset)
    model.compile()
    x, y = make_data(config, batch * steps, seq, predictions)
    first = {k: v[:batch] for k, v in x.items()}, {k: v[:batch] for k, v in y.items()}

    def fit():
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=False)

    def train_on_batch():
        model.train_on_batch(*first)

    fits = summary(paired_timings({"on": fit, "off": unchecked(fit)}, rounds))
    batches = summary(paired_timings(
        {"on": train_on_batch, "off": unchecked(train_on_batch)}, rounds * steps
    ))
    limits = model.input_limits()
    check_whole = best_seconds(lambda: check_data(x, limits, y=y), 20)
    check_batch = best_seconds(lambda: check_data(first[0], limits, y=first[1]), 200)
    return fits, batches, check_whole, check_batch


def results(presets=("bert_tiny", "bert_small"), batch=32, seq=128, steps=4, rounds=6):
    """Measures and prints each preset; returns `result` records (ms, checks on vs off)."""
    from bench_common import result

    print(f"backend={keras.backend.backend()} batch={batch} seq={seq} "
          f"steps/fit={steps} rounds={rounds}")
    records = []
    for preset in presets:
        fits, batches, check_whole, check_batch = measure(preset, batch, seq, steps, rounds)
        for label, (on, off, ratio, paired, cpu) in (("fit", fits),
                                                      ("train_on_batch", batches)):
            print(f"{preset:10s} {label:14s} on {on * 1e3:8.1f} ms  off {off * 1e3:8.1f} ms  "
                  f"ratio (min wall) {ratio:.4f}  median paired {paired:.4f}  "
                  f"min CPU {cpu:.4f}", flush=True)
            check = check_whole / fits[1] if label == "fit" else check_batch / batches[1]
            records.append(result(
                f"{label} with input checks", f"{preset} batch={batch} seq={seq}"
                + (f" steps/fit={steps}" if label == "fit" else ""), on * 1e3, "ms",
                {"checks off": off * 1e3}, higher_is_better=False,
                notes=f"on/off median paired {paired:.4f}, min CPU {cpu:.4f}; the check alone "
                f"{check:.3%} of the call"))
        print(f"{preset:10s} the check alone: {check_whole * 1e3:.3f} ms per fit call "
              f"({check_whole / fits[1]:.4%} of it), {check_batch * 1e6:.0f} us per batch "
              f"({check_batch / batches[1]:.4%} of a train step)", flush=True)
    return records


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["bert_tiny", "bert_small"])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--steps", type=int, default=4, help="train steps per fit call")
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    results(args.presets, args.batch, args.seq, args.steps, args.rounds)


if __name__ == "__main__":
    main()
