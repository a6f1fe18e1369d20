"""How fast MLM learns: our `BertPretrainer` vs keras-hub's `BertMaskedLM` on the same batches.

The demo's pretraining (`make demo`) ends on a plateau where MLM predicts mostly from word
frequencies. This checks that the plateau is the recipe's and the budget's, not our model's:
both models get the same `bert_tiny` shape (2 layers, hidden 128, 2 heads, intermediate 512,
the demo's vocabulary), the same whole-word-masked batches of the demo's BBC News corpus (our
`corpus_dataset_fn`, one seed), the same AdamW recipe (`create_optimizer`: peak `--lr`, 10%
warmup, linear decay to 0, weight decay 0.01, global-norm clipping 1.0), XLA off, and train
`--steps` steps. Ours also trains NSP (keras-hub's `BertMaskedLM` has no NSP head), so it does
a little more work per step.

Printed per 100 steps: each model's mean training MLM accuracy over those steps (keras-hub's
weighted by the mask weights, as ours), and at the end the seconds of each and the ratio of
our MLM accuracy to keras-hub's (about 1: the same learning speed) and of keras-hub's seconds
to ours (> 1: we are faster). The seconds include each `fit`'s tracing, and the first model
(ours) also pays TensorFlow's warm-up: compare them over a few hundred steps, not 100. Needs
`runs/demo/` (run `make demo` first).

    python benchmarks/mlm_learning_curve.py [--steps 600] [--batch 32] [--seq 128] [--lr 1e-3]

Measured on 2 CPU cores (600 steps, batch 32, seq 128, lr 1e-3): MLM accuracy 3.9 / 5.6 /
7.0 / 7.8 / 8.2 / 8.5% (ours) and 3.5 / 5.7 / 7.0 / 7.7 / 8.2 / 8.5% (keras-hub) by 100
steps; 197 s vs 244 s.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DEMO = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "runs", "demo")


def _batches(steps, batch, seq):
    from keras_bert_impl.data.corpus import corpus_dataset_fn

    dataset_fn = corpus_dataset_fn(
        files=[os.path.join(DEMO, "bbc_pretraining.txt")],
        vocab=os.path.join(DEMO, "vocab.txt"), lowercase=True,
        max_predictions=max(1, round(0.15 * seq)), seed=0, max_bad_line_fraction=0.1,
        whole_word=True)
    return dataset_fn(batch_size=batch, seq_len=seq, input_context=None).take(steps)


def _optimizer(lr, steps):
    from keras_bert_impl.optimizers import create_optimizer

    return create_optimizer(learning_rate=lr, total_steps=steps, warmup_steps=steps // 10)


def _ours(vocab_size, lr, steps):
    from keras_bert_impl.models import BertPretrainer

    model = BertPretrainer.from_preset("bert_tiny", config_overrides={"vocab_size": vocab_size})
    model.compile(optimizer=_optimizer(lr, steps), jit_compile=False)
    return model, lambda dataset: dataset, "mlm_accuracy"


def _keras_hub(vocab_size, lr, steps):
    import keras
    import keras_hub

    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=vocab_size, num_layers=2, num_heads=2, hidden_dim=128,
        intermediate_dim=512, max_sequence_length=512)
    model = keras_hub.models.BertMaskedLM(backbone, preprocessor=None)
    model.compile(optimizer=_optimizer(lr, steps),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
                  jit_compile=False)
    features = ("token_ids", "segment_ids", "padding_mask", "mask_positions")

    def adapt(dataset):
        return dataset.map(lambda x, y: ({k: x[k] for k in features}, y["mask_ids"],
                                         y["mask_weights"]))

    return model, adapt, "accuracy"


def main():
    import keras

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600, help="a multiple of 100")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    args = parser.parse_args()
    if not os.path.exists(os.path.join(DEMO, "vocab.txt")):
        sys.exit(f"error: {DEMO} has no corpus and vocab yet; run `make demo` first.")
    with open(os.path.join(DEMO, "vocab.txt"), encoding="utf-8") as f:
        vocab_size = sum(1 for _ in f)
    results = {}
    for name, build in (("ours", _ours), ("keras-hub", _keras_hub)):
        keras.utils.set_random_seed(0)
        model, adapt, metric = build(vocab_size, args.lr, args.steps)
        dataset = adapt(_batches(args.steps, args.batch, args.seq)).repeat()
        started = time.time()
        history = model.fit(dataset, steps_per_epoch=100, epochs=args.steps // 100, verbose=0)
        results[name] = (time.time() - started, history.history[metric])
        curve = " / ".join(f"{value:.1%}" for value in results[name][1])
        print(f"{name:<10} MLM accuracy by 100 steps: {curve}; {results[name][0]:.0f} s",
              flush=True)
    (ours_s, ours), (hub_s, hub) = results["ours"], results["keras-hub"]
    print(f"ratio ours/keras-hub of the final MLM accuracy: {ours[-1] / hub[-1]:.2f}; "
          f"keras-hub seconds / ours: {hub_s / ours_s:.2f} (batch {args.batch}, seq "
          f"{args.seq}, {args.steps} steps, lr {args.lr})")


if __name__ == "__main__":
    main()
