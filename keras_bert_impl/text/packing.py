"""Packing token segments into fixed-length BERT inputs: `[CLS] A [SEP] B [SEP] [PAD]...`.

Follows keras-hub's `MultiSegmentPacker` (any number of segments) and TensorFlow Model
Garden's `BertPackInputs`. Truncation, when the segments do not fit in `sequence_length`
minus the `num_segments + 1` special tokens, is always explicit:

- `"round_robin"` (default): the budget is handed out one token at a time to each segment
  in turn, so short segments stay whole and long ones share the rest equally (the first
  segments get the odd tokens). For two segments this is exactly the reference's
  longest-first `_truncate_seq_pair` (google-research/bert `run_classifier.py`), which drops
  the last token of the longer segment (of B on ties) until the pair fits.
- `"waterfall"`: segments are kept in order, the first in full as far as it fits, and the
  later ones get what is left (truncated from their end).
"""

import keras

from keras_bert_impl.text._base import TextLayer

TRUNCATE_MODES = ("round_robin", "waterfall")


@keras.saving.register_keras_serializable(package="keras_bert_impl")
class BertPacker(TextLayer):
    """Packs 1, 2 or N token-id segments into `token_ids`, `segment_ids` and `padding_mask`.

    Takes a ragged `[batch, (tokens)]` tensor (or a list/tuple of them, one per segment),
    or unbatched 1-D tensors, and returns a dict of dense tensors of length
    `sequence_length`: `token_ids` (int32), `segment_ids` (int32: 0 for `[CLS]`, the first
    segment and its `[SEP]`, 1 for the second, ...) and `padding_mask` (**bool**, `True` on
    real tokens, as in keras-hub).

    Args:
        sequence_length: the fixed output length.
        start_value: id of `[CLS]`.
        end_value: id of `[SEP]`, appended after every segment.
        pad_value: id of `[PAD]`.
        truncate: `"round_robin"` or `"waterfall"` (see the module docstring).

    Example:

    ```python
    import tensorflow as tf
    packer = BertPacker(sequence_length=8, start_value=2, end_value=3, pad_value=0)
    a = tf.ragged.constant([[10, 11, 12], [13]])
    b = tf.ragged.constant([[20, 21, 22, 23], [24]])
    out = packer((a, b))
    out["token_ids"].numpy()    # [[2, 10, 11, 12, 3, 20, 21, 3], [2, 13, 3, 24, 3, 0, 0, 0]]
    out["segment_ids"].numpy()  # [[0, 0, 0, 0, 0, 1, 1, 1], [0, 0, 0, 1, 1, 0, 0, 0]]
    ```
    """

    def __init__(self, sequence_length, start_value, end_value, pad_value=0,
                 truncate="round_robin", **kwargs):
        super().__init__(**kwargs)
        if not isinstance(sequence_length, int) or sequence_length < 2:
            raise ValueError(f"sequence_length must be an int >= 2; got {sequence_length!r}.")
        if truncate not in TRUNCATE_MODES:
            raise ValueError(f"truncate must be one of {TRUNCATE_MODES}; got {truncate!r}.")
        for name, value in (("start_value", start_value), ("end_value", end_value),
                            ("pad_value", pad_value)):
            if not isinstance(value, int):
                raise TypeError(f"{name} must be an int token id; got {value!r}. "
                                "BertPacker.from_tokenizer(tokenizer, ...) looks them up.")
        self.sequence_length = sequence_length
        self.start_value = start_value
        self.end_value = end_value
        self.pad_value = pad_value
        self.truncate = truncate

    @classmethod
    def from_tokenizer(cls, tokenizer, sequence_length, truncate="round_robin", **kwargs):
        """A packer using `tokenizer`'s `[CLS]`, `[SEP]` and `[PAD]` ids."""
        return cls(sequence_length, start_value=tokenizer.cls_token_id,
                   end_value=tokenizer.sep_token_id, pad_value=tokenizer.pad_token_id,
                   truncate=truncate, **kwargs)

    def _as_segments(self, inputs):
        import tensorflow as tf

        segments = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        if not segments:
            raise ValueError("BertPacker needs at least one segment.")
        if self.sequence_length < len(segments) + 1:
            raise ValueError(f"sequence_length={self.sequence_length} leaves no room for "
                             f"{len(segments)} segment(s): [CLS] and {len(segments)} [SEP] "
                             f"need {len(segments) + 1} positions.")
        out, unbatched = [], None
        for i, segment in enumerate(segments):
            if not isinstance(segment, tf.RaggedTensor):
                segment = tf.convert_to_tensor(segment)
            if not segment.dtype.is_integer:
                raise TypeError(f"BertPacker segment {i} must hold integer token ids; got "
                                f"dtype {segment.dtype.name}.")
            rank = segment.shape.rank
            if rank not in (1, 2):
                raise ValueError(f"BertPacker segment {i} must be 1-D (one example) or 2-D "
                                 f"(a batch); got shape {segment.shape}.")
            if unbatched is None:
                unbatched = rank == 1
            elif unbatched != (rank == 1):
                raise ValueError("BertPacker segments must all be batched or all unbatched.")
            if rank == 1:
                segment = segment[tf.newaxis]
            if not isinstance(segment, tf.RaggedTensor):
                segment = tf.RaggedTensor.from_tensor(segment)
            out.append(tf.cast(segment, tf.int32))
        return out, unbatched

    def call(self, inputs):
        import tensorflow as tf
        import tensorflow_text as tf_text

        segments, unbatched = self._as_segments(inputs)
        if len(segments) > 1:
            # Mismatched batch sizes would crash TF-Text's trimmer kernel; check first.
            sizes = [s.nrows() for s in segments]
            static = [tf.get_static_value(n) for n in sizes]
            static = [None if v is None else int(v) for v in static]
            if None not in static and len(set(static)) > 1:
                raise ValueError(f"BertPacker segments have different batch sizes {static}; "
                                 "every segment needs one row per example.")
            checks = [tf.debugging.assert_equal(sizes[0], n, message="BertPacker segments have "
                                                "different batch sizes") for n in sizes[1:]]
            with tf.control_dependencies(checks):
                segments = [s.with_flat_values(tf.identity(s.flat_values)) for s in segments]
        budget = self.sequence_length - len(segments) - 1
        if self.truncate == "round_robin":
            trimmer = tf_text.RoundRobinTrimmer(max_seq_length=budget)
        else:
            trimmer = tf_text.WaterfallTrimmer(max_seq_length=budget)
        segments = trimmer.trim(segments)
        token_ids, segment_ids = tf_text.combine_segments(
            segments, start_of_sequence_id=self.start_value, end_of_segment_id=self.end_value)
        token_ids, mask = tf_text.pad_model_inputs(token_ids, self.sequence_length,
                                                   pad_value=self.pad_value)
        segment_ids, _ = tf_text.pad_model_inputs(segment_ids, self.sequence_length,
                                                  pad_value=0)
        out = {
            "token_ids": tf.cast(token_ids, tf.int32),
            "segment_ids": tf.cast(segment_ids, tf.int32),
            "padding_mask": tf.cast(mask, tf.bool),
        }
        if unbatched:
            out = {k: v[0] for k, v in out.items()}
        return out

    def get_config(self):
        config = super().get_config()
        config.update({
            "sequence_length": self.sequence_length,
            "start_value": self.start_value,
            "end_value": self.end_value,
            "pad_value": self.pad_value,
            "truncate": self.truncate,
        })
        return config
