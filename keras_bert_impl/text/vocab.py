"""Learning a WordPiece `vocab.txt` from text, with TF-Text's `bert_vocab_from_dataset`.

Words are produced by our own `BertTokenizer` normalisation (`split_words`: the reference's
cleaning, accent stripping, punctuation and CJK splitting), so the learned pieces are the
ones the tokenizer will look up. The reserved tokens (`[PAD]`, `[UNK]`, `[CLS]`, `[SEP]`,
`[MASK]` by default) come first, in that order, so `[PAD]` is id 0.
"""

import os
import tempfile

from keras_bert_impl.text.tokenizer import SPECIAL_TOKENS, BertTokenizer

DEFAULT_RESERVED_TOKENS = list(SPECIAL_TOKENS)


def learn_vocab(texts_or_dataset, vocab_size, lowercase=True,
                reserved_tokens=DEFAULT_RESERVED_TOKENS, out_path=None, batch_size=1024,
                max_unique_words=None):
    """Learns a WordPiece vocabulary; returns the tokens (and writes `out_path` if given).

    Args:
        texts_or_dataset: a list of strings or a `tf.data.Dataset` of `tf.string` scalars or
            batches.
        vocab_size: the target size (the result can be slightly smaller or larger, as with
            TF-Text's learner; the reserved tokens count towards it).
        lowercase: learn an uncased vocabulary (lowercase and strip accents).
        reserved_tokens: tokens placed first; must include the five BERT specials.
        out_path: where to write `vocab.txt` (atomically: temp file, then rename).

    Example:

    ```python
    tokens = learn_vocab(["the cat sat on the mat", "the dog sat"], vocab_size=60)
    tokens[:5]  # ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']
    ```
    """
    import tensorflow as tf
    from tensorflow_text.tools.wordpiece_vocab import bert_vocab_from_dataset as learner

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
    words = dataset.map(lambda text: splitter.split_words(text).flat_values,
                        num_parallel_calls=tf.data.AUTOTUNE)
    tokens = learner.bert_vocab_from_dataset(
        words, vocab_size=vocab_size, reserved_tokens=list(reserved_tokens),
        bert_tokenizer_params={"lower_case": False},
        learn_params={"max_unique_words": max_unique_words} if max_unique_words else None,
    )
    if len(tokens) <= len(reserved_tokens):
        raise ValueError("learn_vocab found no words in the text.")
    if out_path is not None:
        write_vocab(tokens, out_path)
    return tokens


def write_vocab(tokens, path):
    """Writes tokens one per line to `path` atomically (temp file in the same folder, rename)."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".vocab-", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("".join(t + "\n" for t in tokens))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
