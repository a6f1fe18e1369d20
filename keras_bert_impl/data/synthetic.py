"""Synthetic pretraining batches: correctly shaped, deterministic by example index.

Every example is a pure function of `(seed, global example index)` (stateless random ops), so
a run split over any number of workers/replicas sees exactly the global batches a one-device
run sees, and `skip(n)` reproduces the continuation of an interrupted run. Used by the
distribution/resume tests and benchmarks; real training uses `keras_bert_impl.data.corpus`.
"""


def synthetic_pretraining_dataset(
    batch_size,
    seq_len=128,
    vocab_size=30522,
    max_predictions=20,
    seed=0,
    input_context=None,
    mask_token_id=4,
):
    """An infinite `tf.data.Dataset` of `(x, y)` pretraining batches of random tokens.

    Args:
        batch_size: examples per batch produced by this input pipeline (the per-replica batch
            under `distribute_datasets_from_function`, else the global batch).
        seq_len: sequence length.
        vocab_size: ids are drawn from `[5, vocab_size)`.
        max_predictions: masked positions per sequence (all real: `mask_weights` are 1).
        seed: integer seed.
        input_context: a `tf.distribute.InputContext`; pipeline `p` of `n` takes slice `p` of
            every global batch of `n * batch_size` examples.
        mask_token_id: the id written at masked positions.

    Example:

    ```python
    dataset = synthetic_pretraining_dataset(8, seq_len=32, vocab_size=512, max_predictions=5)
    x, y = next(iter(dataset))
    x["token_ids"].shape  # (8, 32)
    ```
    """
    import tensorflow as tf

    if max_predictions >= seq_len - 1:
        raise ValueError(
            f"max_predictions ({max_predictions}) must be < seq_len - 1 ({seq_len - 1})."
        )
    pipelines = input_context.num_input_pipelines if input_context else 1
    pipeline = input_context.input_pipeline_id if input_context else 0
    global_batch = batch_size * pipelines

    def example(index):
        key = tf.stack([tf.constant(seed, tf.int64), index])
        token_ids = tf.random.stateless_uniform(
            [seq_len], seed=key, minval=5, maxval=vocab_size, dtype=tf.int32
        )
        length = tf.random.stateless_uniform(
            [], seed=key + 1, minval=seq_len // 2, maxval=seq_len + 1, dtype=tf.int32
        )
        scores = tf.random.stateless_uniform([seq_len - 1], seed=key + 2)
        # Choose positions inside [1, length): push the padded tail to the end of the order.
        scores = tf.where(tf.range(1, seq_len) < length, scores, scores + 2.0)
        positions = tf.sort(tf.argsort(scores)[:max_predictions] + 1)
        mask_ids = tf.gather(token_ids, positions)
        token_ids = tf.tensor_scatter_nd_update(
            token_ids, positions[:, None], tf.fill([max_predictions], mask_token_id)
        )
        padding_mask = tf.cast(tf.range(seq_len) < length, tf.int32)
        segment_ids = tf.cast(tf.range(seq_len) >= length // 2, tf.int32) * padding_mask
        label = tf.random.stateless_uniform([], seed=key + 3, minval=0, maxval=2, dtype=tf.int32)
        x = {
            "token_ids": token_ids * padding_mask,
            "segment_ids": segment_ids,
            "padding_mask": padding_mask,
            "mask_positions": positions,
        }
        y = {
            "mask_ids": mask_ids,
            "mask_weights": tf.ones([max_predictions], tf.float32),
            "next_sentence_labels": label,
        }
        return x, y

    def batch_indices(step):
        start = step * global_batch + pipeline * batch_size
        return tf.data.Dataset.range(start, start + batch_size)

    dataset = tf.data.Dataset.range(2**62).flat_map(batch_indices)
    dataset = dataset.map(example, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
