"""Distribution strategies for pretraining, and the multi-worker `fit` fix.

`create_strategy(name)` returns the `tf.distribute` strategy for `--strategy`:

* `"default"`: the default (one device) strategy.
* `"mirrored"`: `MirroredStrategy` over all local GPUs (or the logical CPU devices set up with
  `tf.config.set_logical_device_configuration`).
* `"multi_worker"`: `MultiWorkerMirroredStrategy`; reads the cluster from `TF_CONFIG`
  (`{"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", "index": i}}`).
  Every worker runs the same command; worker 0 is the chief and writes the checkpoints.
* `"tpu"`: `TPUStrategy` for a Cloud TPU (`tpu_address` or the `TPU_NAME` environment
  variable; `"local"` on a TPU VM). Not tested here (no TPU).

A `tf.distribute.Strategy` already made (say a `MultiWorkerMirroredStrategy` with its own
`communication_options`) is returned as it is: TensorFlow supports one multi-worker strategy
per process, so a program that made one passes that one on (`pretrain(strategy=...)` too).

Build the model, optimizer and metrics inside `strategy.scope()`; the global batch is split
evenly across `strategy.num_replicas_in_sync` replicas (`per_replica_batch_size`).

On the JAX backend the equivalent is `keras.distribution.DataParallel`:
`keras.distribution.set_distribution(keras.distribution.DataParallel())` before building the
model; `fit` then splits each global batch across the local devices.

## Multi-worker `fit` (keras-team/keras#20585)

Keras 3.15's TensorFlow trainer fails under `MultiWorkerMirroredStrategy` in two places:

1. `_maybe_symbolic_build` reduces a `PerReplica` *data* batch with an eager cross-worker
   `strategy.reduce("MEAN", ...)`; we build from one local replica's batch instead (its shapes
   and dtypes are what the build needs).
2. `reduce_per_replica` reduces every log value with `strategy.reduce("MEAN", v, axis=0)`,
   which fails on the scalar losses/metrics `train_step` returns; we return each scalar as a
   1-element vector from `train_step`/`test_step`, so the same `axis=0` reduction yields the
   cross-replica mean as a scalar (the value `axis=None` would give).

`enable_multi_worker_fit(model, strategy)` installs both overrides on that model *instance*
(site-packages untouched, other models unaffected) and only under a multi-worker
`MultiWorkerMirroredStrategy`. The overrides touch private Keras names, so they live in
`keras_bert_impl.keras_private.patch_multi_worker_fit` with the package's other private uses.
`tests/training/test_distribute.py` checks that plain Keras still fails there, and how; when
that test fails, Keras has fixed the bug and this override can go.
"""

import json
import os

from keras_bert_impl.keras_private import in_multi_worker_mode, patch_multi_worker_fit

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")


def create_strategy(name="default", tpu_address=None):
    """The `tf.distribute` strategy for `name` (one of `STRATEGIES`), or `name` itself when
    it is a `tf.distribute.Strategy` already.

    Example:

    ```python
    import keras_bert_impl
    strategy = create_strategy("mirrored")  # all local GPUs, or the one CPU here
    with strategy.scope():
        model = keras_bert_impl.BertPretrainer.from_preset("bert_tiny", vocab_size=512)
        model.compile()
    ```
    """
    import tensorflow as tf

    if isinstance(name, tf.distribute.Strategy):
        return name
    if name not in STRATEGIES:
        raise ValueError(f"Unknown strategy {name!r}; choose one of {STRATEGIES}.")
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        if not os.environ.get("TF_CONFIG"):
            raise ValueError(
                "--strategy multi_worker reads the cluster from the TF_CONFIG environment "
                "variable, which is not set. Set it on every worker, e.g. "
                'TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                '"task": {"type": "worker", "index": 0}}\'.'
            )
        try:
            json.loads(os.environ["TF_CONFIG"])
        except json.JSONDecodeError as error:
            raise ValueError(f"TF_CONFIG is not valid JSON ({error}): {os.environ['TF_CONFIG']!r}")
        return tf.distribute.MultiWorkerMirroredStrategy()
    address = tpu_address or os.environ.get("TPU_NAME", "local")
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=address)
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def per_replica_batch_size(global_batch_size, strategy):
    """`global_batch_size / replicas`, or a clear error when it does not divide evenly.

    Example:

    ```python
    per_replica_batch_size(32, create_strategy("default"))  # 32
    ```
    """
    replicas = strategy.num_replicas_in_sync
    if global_batch_size <= 0 or global_batch_size % replicas:
        raise ValueError(
            f"The global batch size ({global_batch_size}) must be a positive multiple of the "
            f"number of replicas ({replicas}) so that every replica gets the same batch; "
            f"use e.g. --batch-size {max(replicas, global_batch_size // replicas * replicas)}."
        )
    return global_batch_size // replicas


def is_multi_worker(strategy):
    """True under a `MultiWorkerMirroredStrategy` spanning more than one worker.

    Example:

    ```python
    is_multi_worker(create_strategy("default"))  # False
    ```
    """
    import tensorflow as tf

    return isinstance(
        strategy, tf.distribute.MultiWorkerMirroredStrategy
    ) and in_multi_worker_mode(strategy)


def worker_info(strategy):
    """`(task_index, num_workers, is_chief)` of this process under `strategy`.

    Example:

    ```python
    worker_info(create_strategy("default"))  # (0, 1, True)
    ```
    """
    if not is_multi_worker(strategy):
        return 0, 1, True
    resolver = strategy.cluster_resolver
    task_type, task_id = resolver.task_type, resolver.task_id
    num_workers = len(resolver.cluster_spec().as_dict().get("worker", [])) + len(
        resolver.cluster_spec().as_dict().get("chief", [])
    )
    is_chief = task_type == "chief" or (task_type == "worker" and task_id == 0 and (
        "chief" not in resolver.cluster_spec().as_dict()
    ))
    return task_id, num_workers, is_chief


def enable_multi_worker_fit(model, strategy):
    """Makes `model.fit`/`evaluate` work under a multi-worker `MultiWorkerMirroredStrategy`.

    Installs the two instance-level overrides described in the module docstring; a no-op for
    every other strategy (their `fit` works unmodified). Returns `model`.

    Example:

    ```python
    import keras_bert_impl
    # On each worker, with TF_CONFIG set: strategy = create_strategy("multi_worker").
    # Under any other strategy the call is a no-op, as here:
    strategy = create_strategy("default")
    with strategy.scope():
        model = keras_bert_impl.BertPretrainer.from_preset("bert_tiny", vocab_size=512)
        model.compile()
    enable_multi_worker_fit(model, strategy)
    ```
    """
    if not is_multi_worker(strategy):
        return model
    return patch_multi_worker_fit(model)
