"""Question answering inside a SavedModel: `(question, context)` strings -> answer spans, all
in TensorFlow ops, so that a `BertSpanLabeler` serves from raw text.

It does in the graph what the host path does with NumPy (`BertSpanPreprocessor.features`,
`text.offsets.WordpieceAligner`, `text.span_decoding.decode_spans`), with the same rules, so
that serving gives `labeler.answer(...)`'s answers (tested on real SQuAD data):

1. **Offsets** (`piece_offsets`): each wordpiece of a context gets the characters
   `(start, end)` of the ORIGINAL context it came from, by the host's alignment ported to
   tensors: every distinct character is normalised on its own by the tokenizer
   (`split_words`), the normalised characters are laid end to end against the tokenizer's
   words, a piece covers as many characters as its token has (less `##`), an `[UNK]` its
   whole word, and a combining mark that uncasing removes belongs to the piece before it.
   Lowercasing and accent stripping may change the length of the text (`"İ"` -> `"i"`,
   `"é"` -> `"e"` plus a dropped mark); offsets always index the original. Offsets count
   Unicode code points (Python's `str` indexing), so `context[start:end]` is the piece's
   text. Where the host aligner would raise (a context whose characters normalised one by
   one do not give the tokenizer's words; never seen on real text), the context's pieces
   get `-1` and its answer is empty.
2. **Windows** (`span_windows`): the question is cut to `max_query_length` pieces; a
   context longer than one window's room gets several windows `doc_stride` pieces apart,
   each packed by the preprocessor's own `BertPacker` (`[CLS] question [SEP] window [SEP]`),
   and every piece has one max-context window, as in `run_squad.py` (`min(left, right) +
   0.01 * window length`, the earlier window on ties). All windows of the batch go through
   the model together, so a very long context costs one model row per window.
3. **Decoding** (`best_spans`): in each window, the `n_best_size` best start positions
   (context pieces in their max-context window) and the `n_best_size` best end positions
   (context pieces) are paired; a pair is a candidate when `start <= end < start +
   max_answer_length`, scored `start_logit + end_logit` (summed in float64, as the host
   does). The best candidate over all windows of an example wins (the earlier window, then
   the earlier start, on ties): exactly the first answer of `decode_spans(...,
   n_best_size, max_answer_length)` (SQuAD v1.1: there is no null answer).

What an example without a candidate answers: `answer_text` `""`, `start_char` and
`end_char` `-1`, `score` `-inf` (as `decode_spans`' `SpanAnswer`). That is the case for an
empty question or context, one of only whitespace, control characters or invalid UTF-8, a
context whose offsets could not be aligned (see 1.), and a batch of zero examples gives
zero-length outputs. Invalid UTF-8 bytes never fail: the context is decoded with each
invalid sequence replaced by U+FFFD (TensorFlow's `errors="replace"`), offsets count those
replacement characters, and `answer_text` is cut from that decoded text (so it is valid
UTF-8); for valid UTF-8 it is exactly `context[start_char:end_char]`.
"""

import math

# Combining marks (Unicode category M), as `text.offsets` asks `unicodedata.category`.
_ALL_MARKS = r"\p{M}"
_NO_SCORE = -math.inf  # the score of "no candidate" (decode_spans' too)


def piece_offsets(tokenizer, contexts, ids=None, word_ids=None):
    """The wordpiece ids of each context and the `(start, end)` characters of each piece in
    the ORIGINAL context (see the module docstring), in TensorFlow ops.

    Args:
        tokenizer: a `BertTokenizer`.
        contexts: a 1-D `tf.string` batch.
        ids, word_ids: `tokenizer(contexts, return_word_ids=True)` when already computed
            (e.g. in one call with the questions); default: computed here.

    Returns:
        `(ids, offsets)`: the tokenizer's ids, int32 ragged `[batch, (pieces)]` (exactly
        `tokenizer(contexts)`), and int64 ragged `[batch, (pieces), 2]` offsets in Unicode
        code points, end exclusive; `-1` for every piece of a context that could not be
        aligned.

    Example:

    ```python
    import tensorflow as tf
    from keras_bert_impl.text import BertTokenizer
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "beyonce", "sang", "!", "da",
             "##nce"]
    ids, offsets = piece_offsets(BertTokenizer(vocab), tf.constant(["Beyoncé  sang,  DANCE!"]))
    ids.to_list()  # [[5, 6, 1, 8, 9, 7]]
    offsets.to_list()  # [[[0, 7], [9, 13], [13, 14], [16, 18], [18, 21], [21, 22]]]
    ```
    """
    import tensorflow as tf

    contexts = tf.convert_to_tensor(contexts, tf.string)
    if ids is None:
        ids, word_ids = tokenizer(contexts, return_word_ids=True)
    chars = tf.strings.unicode_split(contexts, "UTF-8", errors="replace",
                                     replacement_char=0xFFFD)
    # 1. Each distinct character normalised on its own: its non-space normalised text, and
    # whether it is a combining mark that normalisation removes. (One tokenizer pass for
    # the contexts' words and the characters: a smaller graph.)
    distinct, char_kind = tf.unique(chars.flat_values)
    words = tokenizer.split_words(tf.concat([contexts, distinct], 0))
    words, normalized = words[:tf.size(contexts)], words[tf.size(contexts):]
    normalized = tf.strings.reduce_join(normalized, axis=-1)
    removed_mark = tf.logical_and(tf.equal(normalized, ""),
                                  tf.strings.regex_full_match(distinct, _ALL_MARKS))
    char_text = tf.gather(normalized, char_kind)
    char_length = tf.gather(tf.strings.length(normalized, unit="UTF8_CHAR"),
                            char_kind)
    kept = tf.logical_not(tf.gather(removed_mark, char_kind))
    # 2. Checked against the tokenizer's words, row by row.
    aligned = tf.equal(tf.strings.reduce_join(chars.with_flat_values(char_text), axis=-1),
                       tf.strings.reduce_join(words, axis=-1))

    char_length = tf.cast(char_length, tf.int64)
    char_count = tf.size(char_length, out_type=tf.int64)
    # The original character (global index) of each normalised character, a sentinel last
    # so that indices of unaligned rows stay in range.
    origin = tf.concat([tf.repeat(tf.range(char_count), char_length), [0]], 0)
    normalized_splits = tf.gather(tf.concat([[0], tf.cumsum(char_length)], 0),
                                  chars.row_splits)
    word_length = tf.cast(tf.strings.length(words.flat_values, unit="UTF8_CHAR"), tf.int64)
    word_end = tf.cumsum(word_length)
    word_start = (word_end - word_length
                  - tf.gather(tf.concat([[0], word_end], 0),
                              tf.gather(words.row_starts(), words.value_rowids())))

    # 3. The characters each piece covers, walked along its word.
    piece_row = ids.value_rowids()
    piece_ids = ids.flat_values
    word = tf.gather(words.row_starts(), piece_row) + tf.cast(word_ids.flat_values, tf.int64)
    first = tf.concat([tf.ones([tf.minimum(tf.size(word), 1)], tf.bool),
                       tf.not_equal(word[1:], word[:-1])], 0)
    token_length = tf.constant([len(token) for token in tokenizer.vocabulary], tf.int64)
    suffix = len(tokenizer.suffix_indicator or "")
    length = tf.gather(token_length, piece_ids) - tf.where(first, tf.constant(0, tf.int64),
                                                           suffix)
    length = tf.where(tf.equal(piece_ids, tokenizer.unk_token_id), tf.gather(word_length, word),
                      length)
    before = tf.cumsum(length, exclusive=True)
    word_first_piece = tf.gather(tf.where(first)[:, 0], tf.cumsum(tf.cast(first, tf.int64)) - 1)
    start = tf.gather(word_start, word) + before - tf.gather(before, word_first_piece)
    end = start + length
    # Pieces that do not spell their word get the whole word.
    spelled = tf.equal(tf.math.unsorted_segment_sum(length, word, tf.size(word_length)),
                       word_length)
    whole = tf.logical_not(tf.gather(spelled, word))
    start = tf.where(whole, tf.gather(word_start, word), start)
    end = tf.where(whole, start + tf.gather(word_length, word), end)

    # Normalised positions -> original characters; the end goes past removed marks.
    row_base = tf.gather(normalized_splits, piece_row)
    last_normalized = tf.size(origin, out_type=tf.int64) - 1
    first_char = tf.gather(origin, tf.clip_by_value(row_base + start, 0, last_normalized))
    last_char = tf.gather(origin, tf.clip_by_value(row_base + end - 1, 0, last_normalized))
    kept_positions = tf.concat([tf.where(kept)[:, 0], [char_count]], 0)
    kept_before = tf.concat([tf.cumsum(tf.cast(kept, tf.int64)), [0]], 0)
    next_kept = tf.gather(kept_positions, tf.gather(kept_before, last_char))
    char_start = tf.gather(chars.row_starts(), piece_row)
    char_end = tf.gather(chars.row_limits(), piece_row)
    offsets = tf.stack([first_char - char_start, tf.minimum(next_kept, char_end) - char_start],
                       axis=1)
    offsets = tf.where(tf.gather(aligned, piece_row)[:, tf.newaxis], offsets,
                       tf.constant(-1, tf.int64))
    return ids, ids.with_flat_values(offsets)


def span_windows(preprocessor, question_ids, context_ids):
    """Every window of each `(question, context)` pair, packed in the graph, with where each
    window position sits in its context (see the module docstring).

    Args:
        preprocessor: a `BertSpanPreprocessor` (its packer, `sequence_length`, `doc_stride`
            and `max_query_length`).
        question_ids, context_ids: the wordpiece ids of the questions (cut here to
            `max_query_length`) and of the contexts, ragged `[batch, (pieces)]`.

    Returns:
        A dict: `token_ids`, `segment_ids`, `padding_mask` (`[windows, sequence_length]`, as
        the packer gives them), `example` (int64 `[windows]`: the example of each window),
        `piece` (int64 `[windows, sequence_length]`: the index of each position's context
        piece in `context_ids.flat_values`, `-1` off the context), `max_context` (bool
        `[windows, sequence_length]`) and `question_pieces` (int64 `[batch]`).

    Example:

    ```python
    import tensorflow as tf
    from keras_bert_impl.text import BertSpanPreprocessor, BertTokenizer
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "who", "ran", "?", "the", "fox",
             "far", "."]
    preprocessor = BertSpanPreprocessor(BertTokenizer(vocab), sequence_length=10,
                                        doc_stride=2, max_query_length=4)
    ids = preprocessor.tokenizer(tf.constant(["Who ran?", "The fox ran far."]))
    windows = span_windows(preprocessor, ids[:1], ids[1:])
    windows["token_ids"].numpy().tolist()[1]  # [2, 5, 6, 7, 3, 6, 10, 11, 3, 0]
    windows["piece"].numpy().tolist()[1]  # [-1, -1, -1, -1, -1, 2, 3, 4, -1, -1]
    windows["max_context"].numpy().tolist()[1][5:8]  # [False, True, True]
    ```
    """
    import tensorflow as tf

    length = preprocessor.sequence_length
    question = question_ids[:, :preprocessor.max_query_length]
    question_pieces = question.row_lengths()
    pieces = context_ids.row_lengths()
    room = length - question_pieces - 3
    step = tf.minimum(room, preprocessor.doc_stride)
    # The reference's doc spans: starts 0, step, 2 step, ... until a window reaches the end.
    count = 1 + tf.maximum((pieces - room + step - 1) // step, 0)
    example = tf.repeat(tf.range(tf.size(pieces, out_type=tf.int64)), count)
    window_start = tf.ragged.range(count).flat_values * tf.gather(step, example)
    window_size = tf.maximum(tf.minimum(tf.gather(room, example),
                                        tf.gather(pieces, example) - window_start), 0)
    first_piece = tf.gather(context_ids.row_starts(), example) + window_start
    window_pieces = tf.ragged.range(first_piece, first_piece + window_size)  # [windows, (size)]
    packed = preprocessor.packer((tf.gather(question, example),
                                  tf.gather(context_ids.flat_values, window_pieces)))

    # Max context: each piece's score in each of its windows, then its best window.
    window_count = tf.size(example, out_type=tf.int64)
    total_pieces = tf.size(context_ids.flat_values, out_type=tf.int64)
    piece = window_pieces.flat_values
    window = window_pieces.value_rowids()
    position = piece - tf.gather(first_piece, window)
    size = tf.gather(window_size, window)
    score = 100 * tf.minimum(position, size - 1 - position) + size  # 100 x the reference's
    best_score = tf.math.unsorted_segment_max(score, piece, total_pieces)
    best_window = tf.math.unsorted_segment_min(
        tf.where(tf.equal(score, tf.gather(best_score, piece)), window, window_count),
        piece, total_pieces)

    # Dense [windows, length]: each position's context piece and max-context flag.
    column = tf.range(length, dtype=tf.int64)[tf.newaxis, :]
    context_start = (tf.gather(question_pieces, example) + 2)[:, tf.newaxis]
    in_context = tf.logical_and(column >= context_start,
                                column < context_start + window_size[:, tf.newaxis])
    piece_at = first_piece[:, tf.newaxis] + column - context_start
    piece_at = tf.where(in_context, piece_at, -1)
    best_at = tf.gather(tf.concat([best_window, [-1]], 0),
                        tf.where(in_context, piece_at, total_pieces))
    max_context = tf.logical_and(in_context, tf.equal(best_at, tf.range(window_count)[:, None]))
    return {**packed, "example": example, "piece": piece_at, "max_context": max_context,
            "question_pieces": question_pieces}


def best_spans(start_logits, end_logits, windows, offsets, max_answer_length=30,
               n_best_size=20):
    """The best span of each example over its windows, as character offsets (see the module
    docstring).

    Args:
        start_logits, end_logits: float `[windows, sequence_length]`, the model's outputs on
            `windows`.
        windows: `span_windows(...)`.
        offsets: the contexts' piece offsets, `piece_offsets(...)[1]` (int64 ragged
            `[batch, (pieces), 2]`).
        max_answer_length: longest answer, in pieces.
        n_best_size: start and end positions paired per window.

    Returns:
        `(start_char, end_char, score)`, each `[batch]`: int64 character offsets (`-1` when
        the example has no candidate) and the float32 score (`-inf` then).

    Example:

    ```python
    import numpy as np
    import tensorflow as tf
    from keras_bert_impl.text import BertSpanPreprocessor, BertTokenizer
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "who", "won", "?", "denver",
             "broncos", "did", "."]
    preprocessor = BertSpanPreprocessor(BertTokenizer(vocab), sequence_length=12,
                                        max_query_length=4)
    ids, offsets = piece_offsets(preprocessor.tokenizer, tf.constant(["Denver  Broncos did."]))
    windows = span_windows(preprocessor, preprocessor.tokenizer(tf.constant(["Who won?"])), ids)
    start, end = np.zeros((2, 1, 12), "float32")
    start[0, 5], end[0, 6] = 4.0, 3.0  # "denver" .. "broncos"
    start_char, end_char, score = best_spans(start, end, windows, offsets)
    (int(start_char[0]), int(end_char[0]), float(score[0]))  # (0, 15, 7.0)
    ```
    """
    import tensorflow as tf

    start_logits = tf.cast(start_logits, tf.float64)
    end_logits = tf.cast(end_logits, tf.float64)
    piece_at, example = windows["piece"], windows["example"]
    flat_offsets = tf.concat([offsets.flat_values, [[-1, -1]]], 0)
    at = tf.where(piece_at >= 0, piece_at, tf.shape(flat_offsets, out_type=tf.int64)[0] - 1)
    window_offsets = tf.gather(flat_offsets, at)  # [windows, length, 2]
    # Context positions of aligned contexts, for examples whose question has a piece.
    asked = tf.gather(windows["question_pieces"], example) > 0
    in_context = tf.logical_and(window_offsets[..., 0] >= 0, asked[:, tf.newaxis])
    starts = tf.where(tf.logical_and(in_context, windows["max_context"]), start_logits,
                      _NO_SCORE)
    ends = tf.where(in_context, end_logits, _NO_SCORE)
    k = n_best_size if starts.shape[-1] is None else min(n_best_size, int(starts.shape[-1]))
    k = tf.minimum(k, tf.shape(starts)[-1])  # the reference's min(n_best_size, length)
    # The k best starts and ends (lower positions first on ties), in position order.
    top_start = tf.sort(tf.math.top_k(starts, k).indices, axis=-1)
    top_end = tf.sort(tf.math.top_k(ends, k).indices, axis=-1)
    span = top_end[:, tf.newaxis, :] - top_start[:, :, tf.newaxis]
    score = (tf.gather(starts, top_start, batch_dims=1)[:, :, tf.newaxis]
             + tf.gather(ends, top_end, batch_dims=1)[:, tf.newaxis, :])
    score = tf.where(tf.logical_and(span >= 0, span < max_answer_length), score, _NO_SCORE)
    score = tf.reshape(score, [tf.shape(score)[0], -1])  # [windows, k * k]
    # -inf (no candidate) as float64's lowest: the initial value of the segment max below.
    window_score = tf.maximum(tf.reduce_max(score, axis=-1), tf.float64.min)
    pair = _first_index(tf.equal(score, window_score[:, tf.newaxis]))
    # The best window of each example (the first on ties).
    batch = tf.shape(offsets.row_splits, out_type=tf.int64)[0] - 1
    example_score = tf.math.unsorted_segment_max(window_score, example, batch)
    window_count = tf.size(example, out_type=tf.int64)
    chosen = tf.math.unsorted_segment_min(
        tf.where(tf.equal(window_score, tf.gather(example_score, example)),
                 tf.range(window_count), window_count), example, batch)
    chosen = tf.minimum(chosen, tf.maximum(window_count - 1, 0))
    pair = tf.gather(pair, chosen)
    k = tf.cast(k, tf.int64)
    first = _pick(top_start, chosen, pair // k)
    last = _pick(top_end, chosen, pair % k)
    found = example_score > tf.float64.min
    start_char = tf.where(found, _pick(window_offsets[..., 0], chosen, first), -1)
    end_char = tf.where(found, _pick(window_offsets[..., 1], chosen, last), -1)
    return start_char, end_char, tf.cast(tf.where(found, example_score, _NO_SCORE), tf.float32)


def cut_answers(contexts, start_char, end_char):
    """`contexts[i][start_char[i]:end_char[i]]` in Unicode code points (invalid UTF-8
    replaced by U+FFFD first); `""` where `start_char` is `-1`.

    Example:

    ```python
    import tensorflow as tf
    cut_answers(tf.constant(["Beyoncé sang", "x"]), tf.constant([0, -1], tf.int64),
                tf.constant([7, -1], tf.int64)).numpy().tolist()  # [b'Beyonc\\xc3\\xa9', b'']
    ```
    """
    import tensorflow as tf

    chars = tf.strings.unicode_split(contexts, "UTF-8", errors="replace",
                                     replacement_char=0xFFFD)
    position = tf.ragged.range(chars.row_lengths()).flat_values
    row = chars.value_rowids()
    keep = tf.logical_and(position >= tf.gather(start_char, row),
                          position < tf.gather(end_char, row))
    return tf.strings.reduce_join(tf.ragged.boolean_mask(chars, chars.with_flat_values(keep)),
                                  axis=-1)


def answer_spans(model, preprocessor, questions, contexts, max_answer_length=30,
                 n_best_size=20):
    """`serving_default` of a span model: answers cut from the contexts (see the module
    docstring for the rules and for what an unanswerable example gives).

    Args:
        model: a callable from `{"token_ids", "segment_ids", "padding_mask"}` (int32) to
            `{"start_logits", "end_logits"}` (a `BertSpanLabeler`).
        preprocessor: its `BertSpanPreprocessor`.
        questions, contexts: 1-D `tf.string` batches of one length.
        max_answer_length, n_best_size: as `decode_spans`.

    Returns:
        `{"answer_text": string [B], "start_char": int64 [B], "end_char": int64 [B],
        "score": float32 [B]}`.

    Example:

    ```python
    import tensorflow as tf
    from keras_bert_impl.models import BertSpanLabeler
    from keras_bert_impl.text import BertSpanPreprocessor, BertTokenizer
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "who", "ran", "?", "the", "fox"]
    preprocessor = BertSpanPreprocessor(BertTokenizer(vocab), sequence_length=12,
                                        max_query_length=4)
    labeler = BertSpanLabeler.from_preset("bert_tiny", vocab_size=len(vocab), num_layers=1,
                                          hidden_size=16, num_heads=2)
    answers = answer_spans(labeler, preprocessor, tf.constant(["Who ran?", ""]),
                           tf.constant(["The fox ran.", "The fox."]))
    sorted(answers)  # ['answer_text', 'end_char', 'score', 'start_char']
    answers["start_char"].numpy().tolist()[1]  # -1
    ```
    """
    import tensorflow as tf

    batch = tf.size(questions)
    check = tf.debugging.assert_equal(
        batch, tf.size(contexts),
        message="serving_default needs one context per question (question and context of "
                "one length); repeat a shared context")
    with tf.control_dependencies([check]):
        questions = tf.identity(questions)
    # One tokenizer pass for questions and contexts: a smaller graph.
    ids, word_ids = preprocessor.tokenizer(tf.concat([questions, contexts], 0),
                                           return_word_ids=True)
    context_ids, offsets = piece_offsets(preprocessor.tokenizer, contexts, ids[batch:],
                                         word_ids[batch:])
    windows = span_windows(preprocessor, ids[:batch], context_ids)
    logits = model({name: tf.cast(windows[name], tf.int32)
                    for name in ("token_ids", "segment_ids", "padding_mask")}, training=False)
    start_char, end_char, score = best_spans(
        logits["start_logits"], logits["end_logits"], windows, offsets,
        max_answer_length=max_answer_length, n_best_size=n_best_size)
    return {"answer_text": cut_answers(contexts, start_char, end_char),
            "start_char": start_char, "end_char": end_char, "score": score}


def _first_index(mask):
    """Index of the first `True` of each row of a 2-D bool tensor (0 for a row without)."""
    import tensorflow as tf

    width = tf.shape(mask, out_type=tf.int64)[-1]
    index = tf.where(mask, tf.range(width)[tf.newaxis, :], width)
    return tf.minimum(tf.reduce_min(index, axis=-1), tf.maximum(width - 1, 0))


def _pick(values, rows, columns):
    """`values[rows[i], columns[i]]` for each `i` (empty `values` give zeros)."""
    import tensorflow as tf

    values = tf.concat([tf.cast(values, tf.int64),
                        tf.zeros([1, tf.shape(values)[1]], tf.int64)], 0)
    return tf.gather_nd(values, tf.stack([tf.cast(rows, tf.int64),
                                          tf.cast(columns, tf.int64)], 1))
