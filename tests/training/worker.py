"""A pretraining process for the distribution and resume tests (run as a subprocess).

`python -m tests.training.worker --out DIR --result FILE.json [--strategy ...]` runs
`pretrain()` on bert_tiny (vocab 512, seq 32) with deterministic synthetic batches and writes
the per-step losses and a digest of the final weights to FILE.json. Logical CPU devices must be
configured before TensorFlow initialises, which is why this runs in its own process.
"""

import argparse
import faulthandler
import functools
import json
import os
import signal
import sys
import time


def parse_args(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--result", required=True)
    parser.add_argument("--strategy", default="default")
    parser.add_argument("--logical-cpus", type=int, default=0)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--checkpoint-every", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--sleep", type=float, default=0.0, help="seconds per step")
    parser.add_argument("--check-unpatched", action="store_true",
                        help="first try plain Keras multi-worker fit and record how it fails")
    return parser.parse_args(argv)


def check_unpatched_multi_worker_fit(strategy):
    """Plain `fit` under MultiWorkerMirroredStrategy: returns the error text, or None."""
    import keras

    from keras_bert_impl import BertPretrainer
    from keras_bert_impl.data.synthetic import synthetic_pretraining_dataset

    with strategy.scope():
        model = BertPretrainer.from_preset(
            "bert_tiny", vocab_size=512, dropout=0.0, attention_dropout=0.0
        )
        model.compile(optimizer=keras.optimizers.SGD(0.0))
    dataset = strategy.distribute_datasets_from_function(
        lambda ctx: synthetic_pretraining_dataset(
            4, seq_len=32, vocab_size=512, max_predictions=5, input_context=ctx
        )
    )
    try:
        model.fit(dataset, steps_per_epoch=1, epochs=1, verbose=0)
    except Exception as error:  # noqa: BLE001 - we report whatever Keras raises
        return f"{type(error).__name__}: {str(error)[:300]}"
    return None


def main(argv=None):
    args = parse_args(argv)
    # The two-worker test sends SIGUSR1 to a worker it must stop: print where it is stuck.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    if args.logical_cpus:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * args.logical_cpus
        )
    import keras
    import numpy as np

    from keras_bert_impl.data.synthetic import synthetic_pretraining_dataset
    from keras_bert_impl.training.distribute import create_strategy
    from keras_bert_impl.training.pretrain import pretrain

    # One strategy for the whole process (TensorFlow supports one multi-worker strategy per
    # process): the unpatched check and the run share it.
    strategy = create_strategy(args.strategy)
    unpatched_error = "not checked"
    if args.check_unpatched:
        unpatched_error = check_unpatched_multi_worker_fit(strategy)

    losses = {}

    class Record(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            step = self.epoch * args.checkpoint_every + batch + 1
            losses[step] = float(logs["loss"])
            print(f"STEP {step}", flush=True)
            if args.sleep:
                time.sleep(args.sleep)

    result = pretrain(
        args.out,
        preset="bert_tiny",
        config_overrides={
            "vocab_size": 512, "dropout": args.dropout, "attention_dropout": args.dropout,
        },
        dataset_fn=functools.partial(
            synthetic_pretraining_dataset, vocab_size=512, max_predictions=5, seed=7
        ),
        seq_len=32,
        batch_size=args.batch_size,
        steps=args.steps,
        learning_rate=1e-3,
        warmup_steps=2,
        strategy=strategy,
        checkpoint_every=args.checkpoint_every,
        seed=3,
        callbacks=[Record()],
        verbose=0,
    )
    model = result["model"]
    weights = [np.asarray(keras.ops.convert_to_numpy(v)) for v in model.trainable_variables]
    optimizer_iterations = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
    with open(args.result, "w") as f:
        json.dump(
            {
                "losses": losses,
                "start_step": result["start_step"],
                "optimizer_iterations": optimizer_iterations,
                "weight_sums": [float(w.sum()) for w in weights],
                "weight_abs_sums": [float(np.abs(w).sum()) for w in weights],
                "replicas": result["summary"]["replicas"],
                "unpatched_error": unpatched_error,
            },
            f,
        )
    np.savez(args.result + ".npz", *weights)
    return 0


if __name__ == "__main__":
    sys.exit(main())
