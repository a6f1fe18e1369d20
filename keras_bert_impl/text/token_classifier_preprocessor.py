"""Pre-split words and their tags -> packed BERT inputs with one label per word, for token
classification (named entities, POS tags) on raw text.

Each word is tokenized on its own (a CoNLL word like "U.S." becomes several pieces), the
pieces are packed as one segment `[CLS] pieces [SEP] [PAD]...`, and each word's tag goes on
its FIRST wordpiece. Continuation pieces, `[CLS]`, `[SEP]` and padding get label 0 and sample
weight 0, so a weighted sparse cross-entropy sees one term per word.

The anchors agree on the first-piece rule (google-research/bert's NER forks, Hugging Face
`run_ner.py` with `label_all_tokens=False`, Model Garden's `tagging_data_lib`). They differ
in how the other pieces are left out: Hugging Face labels them -100 (ignored by PyTorch's
loss), Model Garden -1 plus a `label_mask`. We use a valid label (0) and a zero weight,
because a Keras loss takes sample weights as they are, while a negative label breaks
`sparse_categorical_crossentropy` (and its accuracy metric) outright.

A sentence longer than one sequence is cut into windows of whole words: consecutive words
share a window while their pieces fit in `sequence_length - 2` positions (`split_into_windows`).
With labels (a batch of `(words, tags)`, as `fit` and `evaluate` read them) every window is an
example of its own, so every word is learned from and the batch has a row per window, as
Model Garden's `tagging_data_lib` cuts long sentences into several examples (Hugging Face and
keras-hub truncate and drop the words past the sequence). Without labels (`predict`) a
sentence is one row truncated by whole words: the longest run of leading words whose pieces
fit is kept. `word_starts(x)` says where each word went (-1 when it was truncated away or has
no piece at all, e.g. a word of control characters), and
`tag_decoding.decode_tags(logits, word_starts, label_names)` turns the model's per-token
predictions back into one tag per input word; `pack_in_windows(x)` gives the inputs and word
starts of all windows, with which `BertTokenClassifier.tag` and the exported SavedModel tag
every word of a long sentence.
"""

import keras

from keras_bert_impl.text._base import PackedTextLayer, as_string_tensor, ragged_rows
from keras_bert_impl.text.packing import BertPacker
from keras_bert_impl.text.tokenizer import BertTokenizer


@keras.saving.register_keras_serializable(package="keras_bert_impl")
class BertTokenClassifierPreprocessor(PackedTextLayer):
    """Words (and their tag ids) -> packed BERT inputs with labels on first wordpieces.

    `call(x, y=None, sample_weight=None)` returns
    `keras.utils.pack_x_y_sample_weight(features, labels, weights)`:

    - `features`: `{"token_ids", "segment_ids", "padding_mask"}` of length
      `sequence_length` (as `BertPacker`; `padding_mask` is bool);
    - `labels` (with `y`): int32 `[batch, sequence_length]`, each word's tag id on its first
      wordpiece, 0 elsewhere;
    - `weights` (with `y`): float32 `[batch, sequence_length]`, 1.0 on the first wordpiece of
      every word that fits, 0.0 elsewhere, times the per-example `sample_weight` if given.

    Without `y` only `features` is returned.

    `x` holds words, already split:

    - a `tf.RaggedTensor` of strings `[batch, (words)]` (e.g. `tf.ragged.constant(words)`,
      or nested Python lists), or a dense 2-D string tensor `[batch, words]`;
    - a 1-D `tf.string` batch of sentences whose words are joined by whitespace (split at
      whitespace), or a scalar string: one such sentence, unbatched;
    - one unbatched example as a 1-D string tensor of words, when `y` is its 1-D tag ids
      (without `y` a 1-D tensor is a batch of sentences: pass `words[tf.newaxis]` instead).

    Unbatched inputs give unbatched outputs. `y` holds one tag id per word (int, ragged
    `[batch, (words)]`, same row lengths as `x`); map string tags to ids with
    `tag_decoding.tag_ids`. A batch with `y` has one row per window of whole words that fit
    in `sequence_length - 2` positions (`split_into_windows`): a long sentence becomes
    several rows, so every word is learned from, and an example's `sample_weight` goes to
    each of its windows. Without `y`, and for one unbatched example (whose output must stay
    one example), a sentence is truncated by whole words: the first word whose pieces would
    end past `sequence_length - 2` positions is dropped with every word after it (see the
    module docstring); `word_starts(x)` gives the packed position of each word's first
    piece, -1 for a dropped word or one without pieces.

    Args:
        tokenizer: a `BertTokenizer`.
        sequence_length: output length (at least 3: `[CLS]`, one piece, `[SEP]`).

    Example:

    ```python
    import tensorflow as tf
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "john", "jump", "##ed", "u", ".",
             "s"]
    preprocessor = BertTokenClassifierPreprocessor(BertTokenizer(vocab), sequence_length=10)
    words = tf.ragged.constant([["John", "jumped", "U.S."]])
    x, y, w = preprocessor(words, tf.ragged.constant([[1, 0, 5]]))
    x["token_ids"].numpy()  # [[2, 5, 6, 7, 8, 9, 10, 9, 3, 0]]
    y.numpy()  # [[0, 1, 0, 0, 5, 0, 0, 0, 0, 0]]
    w.numpy()  # [[0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]]
    preprocessor.word_starts(words).to_list()  # [[1, 2, 4]]
    ```
    """

    def __init__(self, tokenizer, sequence_length=128, **kwargs):
        super().__init__(**kwargs)
        if isinstance(tokenizer, dict):
            tokenizer = keras.saving.deserialize_keras_object(tokenizer)
        if not isinstance(tokenizer, BertTokenizer):
            raise TypeError(f"tokenizer must be a BertTokenizer; got {type(tokenizer).__name__}.")
        self.tokenizer = tokenizer
        self.sequence_length = sequence_length
        self.packer = BertPacker.from_tokenizer(tokenizer, sequence_length)

    def _check_sequence_length(self, value):
        super()._check_sequence_length(value, minimum=3, needs=" ([CLS], one piece, [SEP])")

    # -- inputs ---------------------------------------------------------------------------------

    def _tags(self, y):
        """`y` as an int32 tensor: ragged `[batch, (words)]` or dense 1-D (one example)."""
        import tensorflow as tf

        if isinstance(y, (list, tuple)):
            y = ragged_rows(y)
        elif not isinstance(y, (tf.Tensor, tf.RaggedTensor)):
            y = tf.convert_to_tensor(y)
        if not y.dtype.is_integer:
            raise TypeError(f"{type(self).__name__} takes tag ids (integers) as y; got dtype "
                            f"{y.dtype.name}. Map string tags to ids with "
                            "keras_bert_impl.text.tag_decoding.tag_ids(tags, label_names).")
        if y.shape.rank not in (1, 2) or (isinstance(y, tf.RaggedTensor) and y.shape.rank != 2):
            raise ValueError("y must hold one tag id per word: [batch, (words)] (ragged) or "
                             f"[words] for one example; got shape {y.shape}.")
        if y.shape.rank == 2 and not isinstance(y, tf.RaggedTensor):
            y = tf.RaggedTensor.from_tensor(y)
        return tf.cast(y, tf.int32)

    def _words(self, x, unbatched_tags=False):
        """`x` as ragged words `[batch, (words)]`, and whether it was one unbatched example."""
        import numpy as np
        import tensorflow as tf

        name = type(self).__name__
        if isinstance(x, (list, tuple)) and any(
                isinstance(row, (list, tuple, np.ndarray)) for row in x):  # word lists
            x = ragged_rows(x, tf.string)
        x = as_string_tensor(x, name)
        rank = x.shape.rank
        if isinstance(x, tf.RaggedTensor):
            if rank != 2:
                raise ValueError(f"{name} takes ragged words [batch, (words)]; got a ragged "
                                 f"tensor of shape {x.shape}.")
            return x, False
        if rank == 0:
            return tf.strings.split(x[tf.newaxis]), True
        if rank == 1:
            if unbatched_tags:  # the words of one example
                return tf.RaggedTensor.from_tensor(x[tf.newaxis]), True
            return tf.strings.split(x), False  # a batch of sentences
        if rank == 2:
            return tf.RaggedTensor.from_tensor(x), False
        raise ValueError(f"{name} takes words [batch, (words)], sentences [batch] or one "
                         f"sentence; got a string tensor of shape {x.shape}.")

    def _check_rows(self, words, tags):
        """Tags must have the words' row lengths; returns `tags` (with a graph check)."""
        import tensorflow as tf

        word_counts, tag_counts = words.row_lengths(), tags.row_lengths()
        static_words = tf.get_static_value(word_counts)
        static_tags = tf.get_static_value(tag_counts)
        if static_words is not None and static_tags is not None:
            if len(static_words) != len(static_tags):
                raise ValueError(f"x has {len(static_words)} examples and y "
                                 f"{len(static_tags)}; give one row of tag ids per example.")
            for i, (w, t) in enumerate(zip(static_words, static_tags)):
                if w != t:
                    raise ValueError(f"Example {i} has {w} words and {t} tag ids; give one "
                                     "tag id per word (words split the same way as the tags).")
            return tags
        check = tf.debugging.assert_equal(
            word_counts, tag_counts,
            message=f"{type(self).__name__}: the number of tag ids differs from the number of "
                    "words in some example; give one tag id per word")
        with tf.control_dependencies([check]):
            return tags.with_flat_values(tf.identity(tags.flat_values))

    # -- alignment ------------------------------------------------------------------------------

    def _align(self, words, pieces=None):
        """Pieces of the words that fit, `[batch, (pieces)]`, and each word's start (flat).
        `pieces`: the words' pieces `[all words, (pieces)]`, if already tokenized."""
        import tensorflow as tf

        if pieces is None:
            pieces = self.tokenizer(words.flat_values)
        counts = pieces.row_lengths()
        ends = tf.cumsum(counts)  # over all words of all rows
        row_offsets = tf.gather(tf.concat([tf.zeros([1], ends.dtype), ends], 0),
                                words.row_starts())
        end_in_row = ends - tf.gather(row_offsets, words.value_rowids())
        fits = end_in_row <= self.sequence_length - 2  # a prefix of each row's words
        starts = tf.where(fits & (counts > 0), end_in_row - counts + 1, -1)  # +1: [CLS]
        row_pieces = tf.RaggedTensor.from_row_splits(
            pieces.flat_values, tf.gather(pieces.row_splits, words.row_splits), validate=False)
        keep = row_pieces.with_flat_values(tf.gather(fits, pieces.value_rowids()))
        return tf.ragged.boolean_mask(row_pieces, keep), tf.cast(starts, tf.int32)

    def word_starts(self, x):
        """The packed position of each word's first piece, int32 `[batch, (words)]` (ragged;
        1-D for one unbatched sentence): -1 for a word that has no piece or was truncated away.
        Pass it to `tag_decoding.decode_tags` with the model's logits."""
        words, unbatched = self._words(x)
        _, starts = self._align(words)
        starts = words.with_flat_values(starts)
        return starts[0] if unbatched else starts

    def split_into_windows(self, x):
        """Each sentence cut into consecutive windows of whole words that fit in one sequence
        (their pieces in `sequence_length - 2` positions), for reading a sentence longer than
        the sequence: returns `(windows, words)`, `windows` the words of every window,
        `[windows, (words)]` (ragged strings; an empty sentence is one empty window), and
        `words` the sentences' words `[batch, (words)]`. The windows' words in order are the
        sentences' words in order, so per-word results of the windows (flattened) go back to
        the sentences with `words.with_flat_values(...)`.

        The windows are filled greedily: a word goes into the current window unless its pieces
        would end past the window; then it starts the next one. Without labels `call` keeps
        the first window (with labels each window is a row of its own). A word with more
        pieces than a window holds is a window of its own in which it does not fit
        (`word_starts` -1, as for a word without pieces).

        Example:

        ```python
        import tensorflow as tf
        vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "john", "jump", "##ed", "in"]
        preprocessor = BertTokenClassifierPreprocessor(BertTokenizer(vocab),
                                                       sequence_length=6)
        windows, words = preprocessor.split_into_windows(
            tf.constant(["john jumped jumped in", "", "john"]))
        windows.to_list()  # [[b'john', b'jumped'], [b'jumped', b'in'], [], [b'john']]
        words.row_lengths().numpy()  # [4, 0, 1]
        ```
        """
        words, _ = self._words(x)
        window_of_word, windows_per_row = self._windows(
            words, self.tokenizer(words.flat_values).row_lengths())
        return _regroup(words.flat_values, window_of_word, windows_per_row), words

    def pack_in_windows(self, x):
        """The packed inputs of every window of `split_into_windows(x)`, tokenizing each word
        once: returns `(features, word_starts, words)`, `features` as `call` gives them for the
        windows (`[windows, sequence_length]`), `word_starts` the packed position of each
        word's first piece in its window (`[windows, (words)]`, -1 for a word without pieces
        or longer than a window) and `words` the sentences' words `[batch, (words)]`. Tagging
        a long sentence reads all windows and takes each word's prediction at its start.

        Example:

        ```python
        import tensorflow as tf
        vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "john", "jump", "##ed", "in"]
        preprocessor = BertTokenClassifierPreprocessor(BertTokenizer(vocab),
                                                       sequence_length=6)
        features, word_starts, words = preprocessor.pack_in_windows(
            tf.constant(["john jumped jumped in"]))
        features["token_ids"].numpy()  # [[2, 5, 6, 7, 3, 0], [2, 6, 7, 8, 3, 0]]
        word_starts.to_list()  # [[1, 2], [1, 3]]
        ```
        """
        words, _ = self._words(x)
        pieces = self.tokenizer(words.flat_values)
        window_of_word, windows_per_row = self._windows(words, pieces.row_lengths())
        windows = _regroup(words.flat_values, window_of_word, windows_per_row)
        window_pieces, starts = self._align(windows, pieces)
        return self.packer(window_pieces), windows.with_flat_values(starts), words

    def _windows(self, words, counts):
        """The window of each word over the batch (flat, int64: windows numbered across all
        rows in order) and the number of windows of each row (an empty row has one), given
        each word's number of pieces `counts` (flat)."""
        import tensorflow as tf

        window_in_row = _greedy_windows(words.with_flat_values(counts), self.sequence_length - 2)
        per_row = tf.where(words.row_lengths() > 0,
                           tf.reduce_max(window_in_row, axis=1) + 1, 1)
        first = tf.cumsum(per_row, exclusive=True)
        return tf.gather(first, words.value_rowids()) + window_in_row.flat_values, per_row

    def call(self, x, y=None, sample_weight=None):
        import tensorflow as tf

        tags = None if y is None else self._tags(y)
        words, unbatched = self._words(x, unbatched_tags=tags is not None
                                       and not isinstance(tags, tf.RaggedTensor))
        if tags is not None and not isinstance(tags, tf.RaggedTensor):
            if not unbatched:
                raise ValueError("y is one example's tag ids (1-D) but x is a batch; pass y "
                                 "as [batch, (words)], e.g. tf.ragged.constant(tag_ids).")
            tags = tf.RaggedTensor.from_tensor(tags[tf.newaxis])
        elif tags is not None and unbatched:
            raise ValueError("x is one sentence but y is a batch of tag rows; pass y as the "
                             "sentence's 1-D tag ids, or x as a batch.")
        if tags is None:
            features = self.packer(self._align(words)[0])
            return {key: value[0] for key, value in features.items()} if unbatched else features
        tags = self._check_rows(words, tags)
        if sample_weight is not None:
            sample_weight = tf.cast(sample_weight, tf.float32)
            rank, wanted = sample_weight.shape.rank, ("a scalar" if unbatched
                                                      else "one weight per example, [batch]")
            if rank is not None and rank != (0 if unbatched else 1):
                raise ValueError(f"sample_weight must be {wanted}; got shape "
                                 f"{sample_weight.shape}.")
            sample_weight = tf.reshape(sample_weight, [-1])
        pieces = self.tokenizer(words.flat_values)
        if not unbatched:  # every word is learned from: a long sentence gives several windows
            window_of_word, windows_per_row = self._windows(words, pieces.row_lengths())
            words, tags = (_regroup(rows.flat_values, window_of_word, windows_per_row)
                           for rows in (words, tags))
            if sample_weight is not None:
                sample_weight = tf.repeat(sample_weight, windows_per_row)
        row_pieces, starts = self._align(words, pieces)
        features = self.packer(row_pieces)
        found = starts >= 0
        indices = tf.stack([tf.boolean_mask(words.value_rowids(), found),
                            tf.cast(tf.boolean_mask(starts, found), tf.int64)], axis=1)
        shape = tf.stack([words.nrows(), tf.constant(self.sequence_length, tf.int64)])
        labels = tf.scatter_nd(indices, tf.boolean_mask(tags.flat_values, found), shape)
        weights = tf.scatter_nd(indices, tf.ones(tf.shape(indices)[:1], tf.float32), shape)
        if sample_weight is not None:
            weights = weights * sample_weight[:, tf.newaxis]
        if unbatched:
            features = {key: value[0] for key, value in features.items()}
            labels, weights = labels[0], weights[0]
        return keras.utils.pack_x_y_sample_weight(features, labels, weights)

    def get_config(self):
        config = super().get_config()
        config.update({
            "tokenizer": keras.saving.serialize_keras_object(self.tokenizer),
            "sequence_length": self.sequence_length,
        })
        return config


def _greedy_windows(counts, capacity):
    """The window of each word within its row, int64 `[batch, (words)]` like `counts` (each
    word's number of pieces): consecutive words share a window while their pieces fit in
    `capacity`; a word that would end past it starts the next window."""
    import tensorflow as tf

    def step(state, column):
        used, window = state
        starts_next = (used > 0) & (used + column > capacity)
        return (tf.where(starts_next, column, used + column),
                window + tf.cast(starts_next, window.dtype))

    start = tf.zeros_like(counts.row_lengths())
    # [words + 1, batch], 0 past a row's end; the extra word keeps the scan from being empty
    # (a graph cannot stack an empty list of unknown shape).
    dense = tf.transpose(tf.concat([counts.to_tensor(), start[:, tf.newaxis]], axis=1))
    _, windows = tf.scan(step, dense, initializer=(start, start))
    return tf.RaggedTensor.from_tensor(tf.transpose(windows)[:, :-1],
                                       lengths=counts.row_lengths())


def _regroup(values, window_of_value, windows_per_row):
    """Flat per-word `values` as rows of windows, `[windows, (words)]`."""
    import tensorflow as tf

    return tf.RaggedTensor.from_value_rowids(values, window_of_value,
                                             nrows=tf.reduce_sum(windows_per_row),
                                             validate=False)
