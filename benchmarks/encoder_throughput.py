"""Encoder forward and pretraining train-step throughput: keras_bert_impl vs keras-hub and
Hugging Face transformers on PyTorch.

All models are built with the same sizes and measured in the same run, interleaved, at the
same batch and sequence length, in float32 (or, with `--dtype bfloat16`, the forward alone in
bfloat16: ours as `inference_model(..., dtype="bfloat16")` computes, keras-hub's backbone
under Keras' `bfloat16` policy, HF's `BertModel` cast to `torch.bfloat16`; the max abs
difference of our `sequence_output` from float32's, same weights, is printed as the drift);
ours and keras-hub on the same Keras backend
(TensorFlow by default). The printed ratios are ours / the peer's sequences per second (> 1
means we are faster). Absolute numbers on shared machines are noise; the ratios are the result.

* forward: the encoder (`BertEncoder` vs `keras_hub.models.BertBackbone`) under
  `predict_on_batch`; HF's `BertModel` under `torch.inference_mode()`.
* train step: `BertPretrainer` (MLM + NSP) vs `keras_hub.models.BertMaskedLM` (MLM only, a
  little less work than ours), each one `train_on_batch` with AdamW (ours, `create_adamw`;
  Keras' own for keras-hub, same settings: `keras_adamw`), dropout on; HF's
  `BertForPreTraining` with `torch.optim.AdamW` (`hugging_face_calls`).

    python benchmarks/encoder_throughput.py [--presets bert_tiny bert_base] [--batch 8]
        [--seq 128] [--steps 7] [--jit defaults|on|off] [--dtype float32|bfloat16]

`results(...)` measures, prints the table and returns `bench_common.result` records with
model FLOPs per sequence (`bench_common.model_flops`), for `python -m benchmarks`.
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from bench_common import (  # noqa: E402
    add_preset_arguments,
    interleaved_best_seconds,
    model_flops,
    result,
)

from keras_bert_impl import BertConfig, BertEncoder, BertPretrainer  # noqa: E402
from keras_bert_impl.models.inference import inference_policy  # noqa: E402
from keras_bert_impl.optimizers import create_adamw  # noqa: E402


def make_batch(config, batch, seq, predictions):
    rng = np.random.default_rng(0)
    x = {
        "token_ids": rng.integers(1000, config.vocab_size, (batch, seq)).astype("int32"),
        "segment_ids": np.repeat(
            [[0] * (seq // 2) + [1] * (seq - seq // 2)], batch, 0
        ).astype("int32"),
        "padding_mask": np.ones((batch, seq), "int32"),
    }
    positions = np.sort(np.stack([rng.choice(np.arange(1, seq), predictions, replace=False)
                                  for _ in range(batch)]), 1).astype("int32")
    y = {
        "mask_ids": rng.integers(1000, config.vocab_size, (batch, predictions)).astype("int32"),
        "mask_weights": np.ones((batch, predictions), "float32"),
        "next_sentence_labels": rng.integers(0, 2, (batch,)).astype("int32"),
    }
    return x, positions, y


def keras_adamw(learning_rate):
    """Keras' stock `AdamW` with the settings `create_adamw(learning_rate)` has (betas,
    epsilon, decay and its exclusions, read from it): what a keras-hub user trains BERT with.
    The same formula as ours; ours runs it fused on TensorFlow, which is part of what we
    measure."""
    ours = create_adamw(learning_rate)
    optimizer = keras.optimizers.AdamW(learning_rate, weight_decay=ours.weight_decay,
                                       beta_1=ours.beta_1, beta_2=ours.beta_2,
                                       epsilon=ours.epsilon)
    optimizer.exclude_from_weight_decay(var_names=list(ours.exclude_from_decay))
    return optimizer


def keras_hub_models(config, dtype="float32", **compile_kwargs):
    """keras-hub's `BertBackbone` (under the Keras dtype policy `dtype`) and `BertMaskedLM` of
    `config`'s sizes, compiled (Keras' `AdamW` at 1e-4 as `keras_adamw` makes it, the MLM loss
    and accuracy weighted by `mask_weights`) with `compile_kwargs` (e.g. `jit_compile`);
    `(None, None)` when keras-hub is not installed."""
    try:
        import keras_hub
    except ImportError:
        return None, None

    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=config.vocab_size,
        num_layers=config.num_layers,
        num_heads=config.num_heads,
        hidden_dim=config.hidden_size,
        intermediate_dim=config.intermediate_size,
        dropout=config.dropout,
        max_sequence_length=config.max_position_embeddings,
        num_segments=config.type_vocab_size,
        dtype=dtype,
    )
    masked_lm = keras_hub.models.BertMaskedLM(backbone=backbone, preprocessor=None)
    masked_lm.compile(
        optimizer=keras_adamw(1e-4),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        weighted_metrics=[keras.metrics.SparseCategoricalAccuracy()],
        **compile_kwargs,
    )
    backbone.compile(**compile_kwargs)
    return backbone, masked_lm


def hugging_face_config(config):
    """`transformers.BertConfig` of our `BertConfig`'s sizes and dropout (SDPA attention)."""
    import transformers

    return transformers.BertConfig(
        vocab_size=config.vocab_size, hidden_size=config.hidden_size,
        num_hidden_layers=config.num_layers, num_attention_heads=config.num_heads,
        intermediate_size=config.intermediate_size, hidden_act="gelu",
        hidden_dropout_prob=config.dropout, attention_probs_dropout_prob=config.attention_dropout,
        max_position_embeddings=config.max_position_embeddings,
        type_vocab_size=config.type_vocab_size, attn_implementation="sdpa")


def hugging_face_calls(config, x, positions, y, dtype="float32"):
    """`(forward, train)`: callables running Hugging Face `transformers` on PyTorch at
    `config`'s sizes on the batch `x` (SDPA attention, each library's default threads):
    `BertModel` (its weights in `dtype`, float32 or bfloat16) under `torch.inference_mode()`
    in eval mode, and one float32
    `BertForPreTraining` MLM + NSP step with `torch.optim.AdamW` (dropout on; its MLM labels
    are -100 except at `positions`, so its head scores every position: HF's own recipe).
    `(None, None)` when torch or transformers is missing."""
    try:
        import torch
        import transformers
    except ImportError:
        return None, None
    hf_config = hugging_face_config(config)
    torch.manual_seed(0)
    encoder = transformers.BertModel(hf_config).eval().to(getattr(torch, dtype))
    pretraining = transformers.BertForPreTraining(hf_config).train()
    optimizer = torch.optim.AdamW(pretraining.parameters(), lr=1e-4, weight_decay=0.01,
                                  eps=1e-6)
    inputs = {"input_ids": torch.from_numpy(x["token_ids"]).long(),
              "token_type_ids": torch.from_numpy(x["segment_ids"]).long(),
              "attention_mask": torch.from_numpy(x["padding_mask"]).long()}
    labels = torch.full(inputs["input_ids"].shape, -100, dtype=torch.long)
    rows = torch.arange(labels.shape[0])[:, None]
    labels[rows, torch.from_numpy(positions).long()] = torch.from_numpy(y["mask_ids"]).long()
    next_sentence = torch.from_numpy(y["next_sentence_labels"]).long()

    def forward():
        with torch.inference_mode():
            return encoder(**inputs).last_hidden_state

    def train():
        optimizer.zero_grad(set_to_none=True)
        loss = pretraining(**inputs, labels=labels, next_sentence_label=next_sentence).loss
        loss.backward()
        optimizer.step()

    return forward, train


def measure(preset, batch, seq, steps, jit, dtype="float32"):
    """Best seconds per call of "ours forward", "ours train" and, for each peer that imports
    (keras-hub; Hugging Face `transformers` on PyTorch as "hf"), "<peer> forward" and
    "<peer> train". With `dtype="bfloat16"`: the forward calls alone, in bfloat16, and
    "drift", the max abs difference of our `sequence_output` from float32's (same weights)."""
    config = BertConfig.from_preset(preset)
    predictions = max(1, round(0.15 * seq))
    x, positions, y = make_batch(config, batch, seq, predictions)
    x_mlm = dict(x, mask_positions=positions)
    jit_kwargs = {} if jit == "defaults" else {"jit_compile": jit}
    policy = inference_policy(dtype)

    results = {}
    encoder = BertEncoder(config)
    if dtype != "float32":
        fast = BertEncoder(config, dtype=policy)
        fast.set_weights(encoder.get_weights())
        outputs = [keras.ops.convert_to_numpy(keras.ops.cast(model(x)["sequence_output"],
                                                             "float32"))
                   for model in (encoder, fast)]
        results["drift"] = float(np.max(np.abs(outputs[0] - outputs[1])))
        encoder = fast
    encoder.compile(**jit_kwargs)
    forward = {"ours forward": lambda: encoder.predict_on_batch(x)}
    train = {}
    if dtype == "float32":
        pretrainer = BertPretrainer(encoder)
        pretrainer.compile(optimizer=create_adamw(1e-4), **jit_kwargs)
        train["ours train"] = lambda: pretrainer.train_on_batch(x_mlm, y)

    backbone, masked_lm = keras_hub_models(config, dtype=policy, **jit_kwargs)
    if backbone is not None:
        forward["keras-hub forward"] = lambda: backbone.predict_on_batch(x)
        if train:
            train["keras-hub train"] = lambda: masked_lm.train_on_batch(
                x_mlm, y["mask_ids"], sample_weight=y["mask_weights"]
            )
    hf_forward, hf_train = hugging_face_calls(config, x, positions, y, dtype)
    if hf_forward is not None:
        forward["hf forward"] = hf_forward
        if train:
            train["hf train"] = hf_train
    results.update(interleaved_best_seconds(forward, steps))
    if train:
        results.update(interleaved_best_seconds(train, steps))
    keras.backend.clear_session()
    return results


PEERS = {"keras-hub": "keras-hub", "hf": "HF PyTorch"}


def results(presets=("bert_tiny", "bert_base"), batch=8, seq=128, steps=7, jit="defaults",
            dtype="float32"):
    """Measures and prints each preset's forward and train step (the forward alone for
    `dtype="bfloat16"`, with its drift from float32); returns `result` records (sequences/s,
    peers keras-hub and HF PyTorch, model FLOPs per sequence). `jit`: "defaults", True, False
    (ours and keras-hub; PyTorch runs eagerly)."""
    jit_name = {True: "on", False: "off"}.get(jit, jit)
    print(f"backend={keras.backend.backend()} keras={keras.__version__} batch={batch} "
          f"seq={seq} jit_compile={jit_name} dtype={dtype} rounds={steps}, best of "
          "interleaved calls")
    print(f"{'preset':<12} {'step':<8} {'ours seq/s':>11}"
          + "".join(f" {name + ' seq/s':>17} {'ratio':>7}" for name in PEERS.values()))
    records = []
    predictions = max(1, round(0.15 * seq))
    for preset in presets:
        r = measure(preset, batch, seq, steps, jit, dtype)
        config = BertConfig.from_preset(preset)
        drift = (f"max abs drift of sequence_output from float32 {r['drift']:.3g}"
                 if "drift" in r else "")
        for step in ("forward", "train") if dtype == "float32" else ("forward",):
            ours = batch / r[f"ours {step}"]
            peers = {name: batch / r[f"{key} {step}"] if f"{key} {step}" in r else None
                     for key, name in PEERS.items()}
            line = f"{preset:<12} {step:<8} {ours:>11.1f}"
            for theirs in peers.values():
                line += (f" {'missing':>17} {'':>7}" if theirs is None
                         else f" {theirs:>17.1f} {ours / theirs:>6.2f}x")
            print("; ".join(filter(None, [line, drift])), flush=True)
            missing = [name for name, theirs in peers.items() if theirs is None]
            notes = f"not installed: {', '.join(missing)}" if missing else ""
            records.append(result(
                f"encoder {step}" if step == "forward" else "train step (MLM+NSP)",
                f"{preset} batch={batch} seq={seq} jit={jit_name}"
                + ("" if dtype == "float32" else f" dtype={dtype}"), ours, "seq/s", peers,
                flops_per_item=model_flops(config, 1, seq, predictions if step == "train"
                                           else 0, train=step == "train"),
                dtype=dtype, notes="; ".join(filter(None, [notes, drift]))))
    return records


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_preset_arguments(parser)
    parser.add_argument(
        "--jit", choices=["defaults", "on", "off"], default="defaults",
        help="defaults: each library's own compile() default (Keras' 'auto' for both: XLA "
        "off on a CPU-only machine); on/off: both the same",
    )
    parser.add_argument(
        "--dtype", choices=["float32", "bfloat16"], default="float32",
        help="bfloat16: the forward alone, each library in bfloat16 (worth it on CPUs with "
        "AVX-512 BF16/AMX), with our drift from float32")
    args = parser.parse_args()
    jit = {"defaults": "defaults", "on": True, "off": False}[args.jit]
    results(args.presets, args.batch, args.seq, args.steps, jit, args.dtype)


if __name__ == "__main__":
    main()
