"""Next-sentence-prediction instances from documents, in-graph (for `tf.data`).

Semantics follow google-research/bert `create_pretraining_data.py`
(`create_instances_from_document`), one document at a time:

- the budget is `max_num_tokens = sequence_length - 3` (`[CLS]`, 2 × `[SEP]`); the target
  length of a chunk is the budget, or with probability `short_seq_prob` a random length in
  `[2, budget]`;
- consecutive sentences are gathered into a chunk until the target is reached (or the
  document ends); segment A is the chunk's first `a_end` sentences (`a_end` uniform in
  `[1, n - 1]`);
- with probability 0.5, B is the rest of the chunk (IsNext, label 0); otherwise B is taken
  from a random position of *another* document up to the remaining target length (NotNext,
  label 1), and the chunk's unused sentences go back to be used by the next chunk;
- the pair is truncated to the budget longest-first, each removed token coming from the front
  or the back of its segment with probability 1/2.

One deliberate difference: the reference forces NotNext when a chunk holds one sentence,
which skews the labels towards NotNext when lines are long (paragraph-per-line corpora such
as BBC News). Here, a one-sentence chunk that draws IsNext is split at a random token inside
the sentence instead, so B is still A's true continuation and the labels stay 50/50.

The other document comes from a second, differently shuffled stream of the same corpus; a
document is never paired with itself (documents are compared by a fingerprint of their text;
when the two coincide, that document yields IsNext pairs only).
"""


def _randint(seed, low, high):
    """A uniform int in [low, high] (inclusive), from a stateless seed."""
    import tensorflow as tf

    return tf.random.stateless_uniform([], seed, minval=low, maxval=high + 1, dtype=tf.int32)


def _uniform(seed):
    import tensorflow as tf

    return tf.random.stateless_uniform([], seed)


def document_instances(document, other, seed, sequence_length, short_seq_prob=0.1,
                       other_is_valid=True):
    """Sentence-pair instances from one tokenized document.

    Args:
        document: ragged int `[sentences, (tokens)]`, the document's tokenized sentences (no
            empty sentence).
        other: ragged int `[sentences, (tokens)]`, another document (for NotNext B).
        seed: int shape-`[2]` stateless seed.
        sequence_length: the packed length; A and B fit in `sequence_length - 3` tokens.
        short_seq_prob: probability of a shorter target length.
        other_is_valid: bool scalar; when False (the other document is this one), only
            IsNext pairs are made.

    Returns:
        `(tokens_a, tokens_b, labels)`: two ragged `[instances, (tokens)]` and int32
        `[instances]` (0 = IsNext, 1 = NotNext).

    Example:

    ```python
    import tensorflow as tf
    doc = tf.ragged.constant([[5, 6, 7], [8, 9], [10, 11, 12, 13]])
    other = tf.ragged.constant([[20, 21], [22, 23, 24]])
    a, b, labels = document_instances(doc, other, tf.constant([1, 2]), sequence_length=16)
    ```
    """
    import tensorflow as tf

    budget = sequence_length - 3
    if budget < 2:
        raise ValueError(f"sequence_length={sequence_length} is too short for sentence pairs: "
                         "it must leave at least 2 tokens after [CLS] A [SEP] B [SEP].")
    seed = tf.cast(seed, tf.int64)
    lens = tf.cast(document.row_lengths(), tf.int32)
    starts = tf.cast(document.row_starts(), tf.int32)
    num_sentences = tf.shape(lens)[0]
    other_lens = tf.cast(other.row_lengths(), tf.int32)
    other_ends = tf.cumsum(other_lens)
    other_starts = other_ends - other_lens
    num_other = tf.shape(other_lens)[0]
    doc_tokens = tf.size(document.flat_values, out_type=tf.int32)
    other_is_valid = tf.logical_and(tf.convert_to_tensor(other_is_valid), num_other > 0)

    def new_target(k):
        short = _uniform(tf.random.experimental.stateless_fold_in(seed, 4 * k)) < short_seq_prob
        length = _randint(tf.random.experimental.stateless_fold_in(seed, 4 * k + 1), 2, budget)
        return tf.where(short, length, budget)

    def emit(i, chunk_start, k, target):
        """The instance for the chunk [chunk_start, i]; returns it and the next i."""
        r = lambda j: tf.random.experimental.stateless_fold_in(seed, 4 * k + 2 + 100003 * j)  # noqa: E731
        n = i + 1 - chunk_start
        chunk_tokens_start = starts[chunk_start]
        a_end = chunk_start + tf.where(n >= 2, _randint(r(1), 1, tf.maximum(n - 1, 1)), 1)
        a_len = starts[a_end - 1] + lens[a_end - 1] - chunk_tokens_start
        want_random = _uniform(r(2)) < 0.5
        first_len = lens[chunk_start]
        # One-sentence chunk with IsNext: split the sentence (see the module docstring).
        split_one = (n == 1) & ~(want_random & other_is_valid) & (first_len >= 2)
        is_random = other_is_valid & (want_random | ((n == 1) & (first_len < 2)))
        split_at = _randint(r(3), 1, tf.maximum(first_len - 1, 1))
        # NotNext: B from a random start in the other document, up to the target length.
        target_b = tf.maximum(target - a_len, 1)
        r_start = _randint(r(4), 0, tf.maximum(num_other - 1, 0))
        wanted = other_starts[tf.minimum(r_start, num_other - 1)] + target_b
        r_end = tf.minimum(tf.searchsorted(other_ends, wanted[tf.newaxis],
                                           side="left")[0] + 1, num_other)
        other_b = (other_starts[tf.minimum(r_start, num_other - 1)],
                   other_ends[tf.maximum(r_end - 1, 0)])
        chunk_end_tokens = starts[i] + lens[i]
        a = tf.where(split_one, tf.stack([chunk_tokens_start, chunk_tokens_start + split_at]),
                     tf.stack([chunk_tokens_start, chunk_tokens_start + a_len]))
        b_in_chunk = tf.where(split_one,
                              tf.stack([chunk_tokens_start + split_at, chunk_end_tokens]),
                              tf.stack([chunk_tokens_start + a_len, chunk_end_tokens]))
        b = tf.where(is_random, tf.stack([other_b[0] + doc_tokens, other_b[1] + doc_tokens]),
                     b_in_chunk)
        valid = (b[1] > b[0]) & (a[1] > a[0])
        # NotNext puts the chunk's unused sentences back.
        next_i = tf.where(is_random, a_end, i + 1)
        return a, b, tf.cast(is_random, tf.int32), valid, next_i

    def body(i, chunk_start, current, target, k, a_array, b_array, label_array, valid_array,
             count):
        current = current + lens[i]
        done = (i == num_sentences - 1) | (current >= target)

        def on_emit():
            a, b, label, valid, next_i = emit(i, chunk_start, k, target)
            return (next_i, next_i, 0, new_target(k + 1), k + 1,
                    a_array.write(count, a), b_array.write(count, b),
                    label_array.write(count, label), valid_array.write(count, valid), count + 1)

        def on_continue():
            return (i + 1, chunk_start, current, target, k, a_array, b_array, label_array,
                    valid_array, count)

        return tf.cond(done, on_emit, on_continue)

    arrays = (tf.TensorArray(tf.int32, size=0, dynamic_size=True, element_shape=[2]),
              tf.TensorArray(tf.int32, size=0, dynamic_size=True, element_shape=[2]),
              tf.TensorArray(tf.int32, size=0, dynamic_size=True, element_shape=[]),
              tf.TensorArray(tf.bool, size=0, dynamic_size=True, element_shape=[]))
    loop = tf.while_loop(
        lambda i, *_: i < num_sentences,
        body,
        (tf.constant(0), tf.constant(0), tf.constant(0), new_target(0), tf.constant(0))
        + arrays + (tf.constant(0),),
    )
    a_ranges, b_ranges = loop[5].stack(), loop[6].stack()
    labels, valid = loop[7].stack(), loop[8].stack()
    a_ranges = tf.boolean_mask(tf.reshape(a_ranges, [-1, 2]), valid)
    b_ranges = tf.boolean_mask(tf.reshape(b_ranges, [-1, 2]), valid)
    labels = tf.boolean_mask(labels, valid)
    # Longest-first truncation to the budget, each token from the front or back at random.
    la, lb = a_ranges[:, 1] - a_ranges[:, 0], b_ranges[:, 1] - b_ranges[:, 0]
    excess = tf.maximum(la + lb - budget, 0)
    gap = tf.abs(la - lb)
    from_longer = tf.minimum(excess, gap)
    rest = excess - from_longer
    cut_a = tf.where(la > lb, from_longer, 0) + rest // 2
    cut_b = tf.where(la > lb, 0, from_longer) + (rest - rest // 2)
    seeds = tf.random.split(tf.random.experimental.stateless_fold_in(seed, -1), 2)
    front_a = tf.cast(tf.random.stateless_binomial(tf.shape(cut_a), seeds[0],
                                                   tf.cast(cut_a, tf.float32), 0.5), tf.int32)
    front_b = tf.cast(tf.random.stateless_binomial(tf.shape(cut_b), seeds[1],
                                                   tf.cast(cut_b, tf.float32), 0.5), tf.int32)
    source = tf.concat([tf.cast(document.flat_values, tf.int32),
                        tf.cast(other.flat_values, tf.int32)], axis=0)
    a_index = tf.ragged.range(a_ranges[:, 0] + front_a, a_ranges[:, 1] - (cut_a - front_a))
    b_index = tf.ragged.range(b_ranges[:, 0] + front_b, b_ranges[:, 1] - (cut_b - front_b))
    return tf.gather(source, a_index), tf.gather(source, b_index), labels
