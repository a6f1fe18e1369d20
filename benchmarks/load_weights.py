"""Time to load bert_base-sized weights: ours vs keras-hub, on the same files.

Two comparisons, each best-of-N with the contenders interleaved (so background load on a
shared machine hits both alike):

1. the *same* Hugging Face directory (`config.json` + `model.safetensors`, bert_base size,
   random weights written by `transformers`): `BertEncoder.from_preset(dir)` vs
   `keras_hub.models.BertBackbone.from_preset(dir)`;
2. each library's own preset format written from those weights: our `save_to_preset`
   (safetensors) vs keras-hub's `save_to_preset` (`model.weights.h5`).

Both load on the TensorFlow backend in float32; the time includes building the model.
Prints the seconds and the ratio keras-hub / ours (> 1: we are faster). Without keras-hub (or
without `sentencepiece`, which keras-hub 0.32's Hugging Face loader imports) its times are
recorded as missing; `transformers` and `torch` write the Hugging Face directory and
are needed.

    .venv/bin/python benchmarks/load_weights.py [--rounds 3] [--size bert_base]

`results(...)` measures, prints and returns `bench_common.result` records (seconds, lower is
better), for `python -m benchmarks`.
"""

import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def write_hf_dir(path, size):
    import torch
    import transformers

    from keras_bert_impl.config import PRESETS

    c = PRESETS[size]
    config = transformers.BertConfig(
        vocab_size=c.vocab_size, hidden_size=c.hidden_size, num_hidden_layers=c.num_layers,
        num_attention_heads=c.num_heads, intermediate_size=c.intermediate_size,
    )
    torch.manual_seed(0)
    transformers.BertModel(config).save_pretrained(path)
    return path


def timed(fn):
    import keras

    keras.backend.clear_session()
    start = time.perf_counter()
    model = fn()
    seconds = time.perf_counter() - start
    return seconds, model


def results(rounds=3, size="bert_base"):
    """Measures and prints the load times; returns `result` records (seconds; peer keras-hub,
    missing when it is not installed)."""
    from bench_common import result

    from keras_bert_impl import BertEncoder

    missing = ""
    try:
        import keras_hub
    except ImportError:
        keras_hub, missing = None, "keras-hub not installed (pip install -e '.[bench]')"

    with tempfile.TemporaryDirectory() as tmp:
        hf_dir = write_hf_dir(os.path.join(tmp, "hf"), size)
        ours_dir, hub_dir = os.path.join(tmp, "ours"), os.path.join(tmp, "keras_hub")
        BertEncoder.from_preset(hf_dir).save_to_preset(ours_dir)
        contenders = {
            "hf_dir/ours": lambda: BertEncoder.from_preset(hf_dir),
            "own_preset/ours": lambda: BertEncoder.from_preset(ours_dir),
        }
        if keras_hub is not None:
            try:  # keras-hub's Hugging Face loader imports all its converters (sentencepiece)
                keras_hub.models.BertBackbone.from_preset(hf_dir).save_to_preset(hub_dir)
            except ImportError as error:
                keras_hub, missing = None, f"keras-hub cannot read the HF directory: {error}"
        if missing:
            print(f"{missing}: its times are missing")
        if keras_hub is not None:
            contenders["hf_dir/keras_hub"] = \
                lambda: keras_hub.models.BertBackbone.from_preset(hf_dir)
            contenders["own_preset/keras_hub"] = \
                lambda: keras_hub.models.BertBackbone.from_preset(hub_dir)
        size_mb = os.path.getsize(os.path.join(hf_dir, "model.safetensors")) / 2**20

        best = {name: float("inf") for name in contenders}
        params = {}
        for _ in range(rounds):
            for name, fn in contenders.items():
                seconds, model = timed(fn)
                best[name] = min(best[name], seconds)
                params[name] = model.count_params()
                del model
    print(f"{size}: {size_mb:.0f} MiB of float32 weights, best of {rounds} rounds")
    for name, seconds in best.items():
        print(f"  {name:22s} {seconds:6.2f} s   ({params[name]:,} parameters)")
    records = []
    for kind, what in (("hf_dir", "the same HF directory"),
                       ("own_preset", "each library's own preset")):
        hub = best.get(f"{kind}/keras_hub")
        if hub is not None:
            print(f"  {kind}: keras-hub / ours = {hub / best[f'{kind}/ours']:.2f}x")
        records.append(result(
            f"build + load weights: {what}", f"{size} ({size_mb:.0f} MiB float32), best of "
            f"{rounds}", best[f"{kind}/ours"], "s", {"keras-hub": hub}, higher_is_better=False,
            notes=missing))
    return records


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size", default="bert_base")
    args = parser.parse_args()
    results(args.rounds, args.size)


if __name__ == "__main__":
    main()
