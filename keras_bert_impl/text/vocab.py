"""Learning a WordPiece `vocab.txt` from text, with TF-Text's `bert_vocab_from_dataset`.

Words are produced by our own `BertTokenizer` normalisation (`split_words`: the reference's
cleaning, accent stripping, punctuation and CJK splitting), so the learned pieces are the
ones the tokenizer will look up. The reserved tokens (`[PAD]`, `[UNK]`, `[CLS]`, `[SEP]`,
`[MASK]` by default) come first, in that order, so `[PAD]` is id 0.

Words are counted here (the learner's own `count_words` loop, with TF-Text's `BasicTokenizer`
split on top of ours exactly as `bert_vocab_from_dataset` does), so that `progress` can report
texts, bytes and words as they are read, and text without any word is a clear `ValueError`,
not a `StopIteration` from inside the learner.
"""

import collections
import math
import os
import tempfile

from keras_bert_impl.text.tokenizer import SPECIAL_TOKENS, BertTokenizer

DEFAULT_RESERVED_TOKENS = list(SPECIAL_TOKENS)


def learn_vocab(texts_or_dataset, vocab_size, lowercase=True,
                reserved_tokens=DEFAULT_RESERVED_TOKENS, out_path=None, batch_size=1024,
                max_unique_words=None, progress=None):
    """Learns a WordPiece vocabulary; returns the tokens (and writes `out_path` if given).

    Args:
        texts_or_dataset: a list of strings or a `tf.data.Dataset` of `tf.string` scalars or
            batches.
        vocab_size: the target size (the result can be slightly smaller or larger, as with
            TF-Text's learner; the reserved tokens count towards it).
        lowercase: learn an uncased vocabulary (lowercase and strip accents).
        reserved_tokens: tokens placed first; must include the five BERT specials.
        out_path: where to write `vocab.txt` (atomically: temp file, then rename).
        progress: called as `progress(texts, bytes, words, distinct_words, done)` (running
            totals; `bytes` of UTF-8 text) after each batch of `batch_size` texts while words
            are counted, and once more with `done=True` when counting ends (learning the
            pieces follows), e.g. to print progress on a large corpus (`keras-bert vocab`
            does).

    Raises `ValueError` when the text holds no word (empty or blank input).

    Example:

    ```python
    seen = []
    tokens = learn_vocab(["the cat sat on the mat", "the dog sat"], vocab_size=60,
                         progress=lambda *totals: seen.append(totals))
    tokens[:5]  # ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']
    seen[-1]  # (2, 33, 9, 6, True)
    ```
    """
    import tensorflow as tf
    from tensorflow_text.python.ops.bert_tokenizer import BasicTokenizer
    from tensorflow_text.tools.wordpiece_vocab import wordpiece_tokenizer_learner_lib as learner

    missing = [t for t in SPECIAL_TOKENS if t not in reserved_tokens]
    if missing:
        raise ValueError(f"reserved_tokens lacks {missing}; BertTokenizer needs all of "
                         f"{list(SPECIAL_TOKENS)}.")
    if not isinstance(vocab_size, int) or vocab_size <= len(reserved_tokens):
        raise ValueError(f"vocab_size must be an int larger than the {len(reserved_tokens)} "
                         f"reserved tokens; got {vocab_size!r}.")
    if isinstance(texts_or_dataset, tf.data.Dataset):
        dataset = texts_or_dataset
        if dataset.element_spec.shape.rank == 0:
            dataset = dataset.batch(batch_size)
    else:
        texts = [str(t) for t in texts_or_dataset]
        if not any(t.strip() for t in texts):
            raise ValueError("learn_vocab got no text (the input is empty or blank).")
        dataset = tf.data.Dataset.from_tensor_slices(texts).batch(batch_size)
    # Our normalisation and word splitting; the learner then only counts words.
    splitter = BertTokenizer(list(reserved_tokens), lowercase=lowercase)
    # What `bert_vocab_from_dataset` does with `lower_case=False` on top of our split.
    basic = BasicTokenizer(lower_case=False)

    def words_and_sizes(text):
        text = tf.reshape(text, [-1])
        words = basic.tokenize(splitter.split_words(text).flat_values).flat_values
        return words, tf.size(text), tf.reduce_sum(tf.strings.length(text))

    counts = collections.Counter()
    texts = size = total_words = 0
    for words, batch_texts, batch_bytes in dataset.map(
            words_and_sizes, num_parallel_calls=tf.data.AUTOTUNE).as_numpy_iterator():
        counts.update(words)
        texts, size = texts + int(batch_texts), size + int(batch_bytes)
        total_words += len(words)
        if progress is not None:
            progress(texts, size, total_words, len(counts), False)
    if progress is not None:
        progress(texts, size, total_words, len(counts), True)
    if not counts:
        raise ValueError(f"learn_vocab found no words in the text ({texts:,} texts, {size:,} "
                         "bytes: the input is empty or blank).")
    counts = collections.Counter({word.decode("utf-8"): n for word, n in counts.items()})
    tokens = _learn_pieces(learner, counts, vocab_size, list(reserved_tokens),
                           max_unique_words)
    if len(tokens) <= len(reserved_tokens):
        raise ValueError("learn_vocab found no words in the text.")
    if out_path is not None:
        write_vocab(tokens, out_path)
    return tokens


def _learn_pieces(learner, counts, vocab_size, reserved_tokens, max_unique_words=None):
    """TF-Text's `learn` with its default parameters, searching the count threshold on a log
    scale.

    The learner tries count thresholds until the vocabulary is within 5% below
    `vocab_size`; each try runs its four passes over every distinct word. Its own search
    halves the range [10, largest word count] (16 tries on BBC News, minutes in pure
    Python); halving the range of the logarithm reaches a threshold of the same kind, with
    the same acceptance test, in about half the tries.
    """
    params = learner.Params(
        upper_thresh=int(1e7), lower_thresh=10, num_iterations=4,
        max_input_tokens=max_unique_words or int(5e6), max_token_length=50,
        max_unique_chars=1000, vocab_size=vocab_size, slack_ratio=0.05,
        include_joiner_token=True, joiner="##", reserved_tokens=reserved_tokens)
    word_counts = list(counts.items())
    upper, lower = learner.get_search_threshs(word_counts, params.upper_thresh,
                                              params.lower_thresh)
    words = learner.get_input_words(word_counts, reserved_tokens, params.max_token_length)
    allowed = learner.get_allowed_chars(words, params.max_unique_chars)
    words = learner.filter_input_words(words, allowed, params.max_input_tokens)
    slack = params.slack_ratio * vocab_size
    while True:
        thresh = min(upper, max(lower, round(math.sqrt(lower * upper))))
        tokens = learner.learn_with_thresh(words, thresh, params)
        size = len(tokens)
        if (size <= vocab_size and vocab_size - size <= slack) or lower >= upper \
                or thresh <= 1:
            return tokens
        if size > vocab_size:
            lower = thresh + 1
        else:
            upper = thresh - 1


def write_vocab(tokens, path):
    """Writes tokens one per line to `path` atomically (temp file in the same folder, rename)."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".vocab-", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("".join(t + "\n" for t in tokens))
        mask = os.umask(0o022)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)  # mkstemp makes it 0600; give it open()'s usual mode
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
