"""Pretraining corpora as `tf.data`: local text files (the reference format) or a TFDS dataset.

The reference format (google-research/bert `create_pretraining_data.py`): one sentence per
line, a blank line between documents. `document_dataset(...)` yields one element per
document: a 1-D `tf.string` tensor of its sentences. The pipeline is:

files (glob, sorted) -> per-worker shard (by file when there are at least as many files as
input pipelines, else by document) -> file shuffle -> parallel `interleave` of the files ->
split into documents -> document shuffle buffer -> `prefetch(AUTOTUNE)`.

TFDS (`tfds_name`, e.g. `wikipedia/20230601.en`, or a `bookcorpus`-style dataset) is read
with `tfds.load(..., read_config=ReadConfig(input_context=...))` so that each worker reads its
own files; each example's `text` feature is a document whose non-empty lines are sentences.
Downloading needs the network; offline, a dataset not already in `data_dir` fails with a
message that says so.

`corpus_dataset_fn(...)` turns documents into the `(x, y)` batches `BertPretrainer` consumes
with `keras_bert_impl.text` (tokenizer, NSP pairing, packing, masking), in the signature
`pretrain(dataset_fn=...)` expects.

Before anything is built, the start of each file (its first 1 MiB, at most 1,000 non-blank
lines: `keras_bert_impl.text.corpus_checks`) is checked, and a `ValueError` names the file,
the evidence and the fix when the corpus holds no text or a single document, when more than
`max_bad_line_fraction` (default 0.1: 10%) of a file's sampled lines are not text (not valid
UTF-8, mostly control/binary characters, or, in `corpus_dataset_fn`, mostly `[UNK]` with the
vocabulary), or when the vocabulary's casing contradicts `lowercase`. `max_bad_line_fraction=1.0`
(`keras-bert pretrain --max-bad-lines 1.0`) turns the bad-line check off. TFDS datasets are
not sampled.
"""

import glob
import os

from keras_bert_impl.data.tfds_source import prepared_builder

DEFAULT_MAX_BAD_LINE_FRACTION = 0.1  # the same as text.corpus_checks' (tested)


def list_corpus_files(patterns, max_bad_line_fraction=DEFAULT_MAX_BAD_LINE_FRACTION):
    """Expands globs to a sorted list of readable, non-empty text files (clear errors).

    Raises `FileNotFoundError` for a glob that matches nothing, `PermissionError` for
    unreadable files, and `ValueError` when the files hold no text or a single document, or
    when more than `max_bad_line_fraction` of a file's sampled lines are not text (see the
    module docstring; `1.0` turns that check off).

    Example:

    ```python
    import os, tempfile
    folder = tempfile.mkdtemp()
    with open(os.path.join(folder, "a.txt"), "w") as f:
        f.write("The cat sat.\\nIt slept.\\n\\nA dog ran.\\nIt barked at the cat.\\n")
    files = list_corpus_files(os.path.join(folder, "*.txt"))  # [".../a.txt"]
    ```
    """
    return [s.path for s in _sample_corpus(patterns, max_bad_line_fraction) if s.has_text]


def _sample_corpus(patterns, max_bad_line_fraction, tokenizer=None):
    """The `FileSample` of each matched file, after every check (see `list_corpus_files`)."""
    from keras_bert_impl.text.corpus_checks import check_bad_lines, check_documents, sample_file

    if not 0.0 <= max_bad_line_fraction <= 1.0:
        raise ValueError("max_bad_line_fraction must be in [0, 1]; got "
                         f"{max_bad_line_fraction!r}.")
    if isinstance(patterns, (str, os.PathLike)):
        patterns = [patterns]
    files = []
    for pattern in patterns:
        matched = sorted(p for p in glob.glob(os.fspath(pattern)) if os.path.isfile(p))
        if not matched:
            raise FileNotFoundError(
                f"The corpus pattern {os.fspath(pattern)!r} matches no files; pass a glob of "
                "text files (one sentence per line, blank line between documents)."
            )
        files.extend(matched)
    unreadable = [f for f in files if not os.access(f, os.R_OK)]
    if unreadable:
        raise PermissionError(f"Corpus files cannot be read: {unreadable[:5]}; fix their "
                              "permissions or leave them out of the glob.")
    samples = [sample_file(f) for f in files]
    check_bad_lines(samples, max_bad_line_fraction, tokenizer=tokenizer)  # garbage first
    check_documents(samples)
    return samples


def _split_documents(text):
    import tensorflow as tf

    text = tf.strings.regex_replace(text, r"\r\n?", "\n")
    text = tf.strings.regex_replace(text, r"\n[ \t]*(\n[ \t]*)+", "\x00")
    documents = tf.strings.split(tf.strings.strip(text), "\x00")
    return tf.data.Dataset.from_tensor_slices(documents)


def _sentences(document):
    import tensorflow as tf

    lines = tf.strings.strip(tf.strings.split(document, "\n"))
    return tf.boolean_mask(lines, tf.strings.length(lines) > 0)


def document_dataset(
    files=None,
    tfds_name=None,
    input_context=None,
    shuffle_buffer=1000,
    seed=0,
    repeat=True,
    tfds_data_dir=None,
    tfds_split="train",
    text_key="text",
    max_bad_line_fraction=DEFAULT_MAX_BAD_LINE_FRACTION,
):
    """A `tf.data.Dataset` of documents (1-D `tf.string` sentences) from files or TFDS.

    Args:
        files: glob(s) of text files in the reference format.
        tfds_name: instead, a TFDS dataset name whose examples have a `text_key` feature.
        input_context: a `tf.distribute.InputContext`: this pipeline reads its shard only.
        shuffle_buffer: documents in the shuffle buffer (0 = no shuffling).
        seed: shuffle seed (deterministic order for a given seed).
        repeat: repeat forever (pretraining runs for a number of steps, not epochs).
        max_bad_line_fraction: the largest share of a file's sampled lines that may be
            bad (see `list_corpus_files`).

    Example:

    ```python
    import os, tempfile
    folder = tempfile.mkdtemp()
    with open(os.path.join(folder, "a.txt"), "w") as f:
        f.write("The cat sat.\\nIt slept.\\n\\nA dog ran.\\nIt barked at the cat.\\n")
    documents = document_dataset(os.path.join(folder, "*.txt"), repeat=False)
    for sentences in documents.take(1):
        print(sentences.numpy())  # e.g. [b'The cat sat.' b'It slept.']
    ```
    """
    import tensorflow as tf

    pipelines = input_context.num_input_pipelines if input_context else 1
    pipeline = input_context.input_pipeline_id if input_context else 0
    if (files is None) == (tfds_name is None):
        raise ValueError("Pass exactly one of files (text file globs) or tfds_name.")
    if tfds_name is not None:
        documents = _tfds_documents(tfds_name, input_context, seed, tfds_data_dir, tfds_split,
                                    text_key)
    else:
        paths = list_corpus_files(files, max_bad_line_fraction)
        dataset = tf.data.Dataset.from_tensor_slices(paths)
        shard_files = len(paths) >= pipelines
        if shard_files and pipelines > 1:
            dataset = dataset.shard(pipelines, pipeline)
        if shuffle_buffer:
            dataset = dataset.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
        documents = dataset.interleave(
            lambda path: _split_documents(tf.io.read_file(path)),
            cycle_length=min(len(paths), 8),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
        if not shard_files and pipelines > 1:
            documents = documents.shard(pipelines, pipeline)
        documents = documents.map(_sentences, num_parallel_calls=tf.data.AUTOTUNE)
    documents = documents.filter(lambda sentences: tf.size(sentences) > 0)
    if shuffle_buffer:
        documents = documents.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        documents = documents.repeat()
    return documents.prefetch(tf.data.AUTOTUNE)


def _tfds_documents(name, input_context, seed, data_dir, split, text_key):
    import tensorflow as tf
    import tensorflow_datasets as tfds

    read_config = tfds.ReadConfig(input_context=input_context, shuffle_seed=seed)
    builder = prepared_builder(name, data_dir, "pass local text files with --corpus")
    features = builder.info.features
    if text_key not in features:
        raise ValueError(f"TFDS dataset {name!r} has no {text_key!r} feature; its features "
                         f"are {sorted(features.keys())}.")
    dataset = builder.as_dataset(split=split, shuffle_files=True, read_config=read_config)
    return dataset.map(lambda example: _sentences(example[text_key]),
                       num_parallel_calls=tf.data.AUTOTUNE)


def corpus_dataset_fn(files=None, tfds_name=None, vocab=None, max_predictions=20, seed=0,
                      shuffle_buffer=1000, lowercase=True,
                      max_bad_line_fraction=DEFAULT_MAX_BAD_LINE_FRACTION, whole_word=False):
    """A `dataset_fn(batch_size=, seq_len=, input_context=)` for `pretrain` over a corpus.

    Documents come from `document_dataset`; tokenization, NSP pairing, packing and masking
    are `keras_bert_impl.text`'s `BertPretrainingPreprocessor`, with the vocab.txt at `vocab`
    read with casing `lowercase`; `whole_word=True` masks whole words (every piece of a
    selected word, as the reference's `--do_whole_word_mask`).

    Checked at once, before anything is built (`ValueError`s naming the file and the fix):
    the vocabulary's casing against `lowercase` (a cased vocab.txt read uncased loses every
    capitalised token), and the start of each file (no text, a single document, or more than
    `max_bad_line_fraction` of its sampled lines not valid UTF-8, mostly control characters
    or mostly `[UNK]` with this vocabulary; `1.0` turns that check off).

    Example:

    ```python
    import os, tempfile
    folder = tempfile.mkdtemp()
    with open(os.path.join(folder, "a.txt"), "w") as f:
        f.write("The cat sat.\\nIt slept.\\n\\nA dog ran.\\nIt barked at the cat.\\n")
    vocab = os.path.join(folder, "vocab.txt")
    with open(vocab, "w") as f:
        f.write("\\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", "a", "at",
                           "barked", "cat", "dog", "it", "ran", "sat", "slept", "the"]))
    dataset_fn = corpus_dataset_fn(os.path.join(folder, "a.txt"), vocab=vocab,
                                   max_predictions=4)
    x, y = next(iter(dataset_fn(batch_size=2, seq_len=16, input_context=None)))
    x["token_ids"].shape  # (2, 16)
    ```
    """
    from keras_bert_impl.text.preprocessors import as_pretraining_tokenizer

    # Fail before anything is built: the vocabulary and its casing, then the files.
    tokenizer = as_pretraining_tokenizer(vocab, lowercase)
    if files is not None:
        _sample_corpus(files, max_bad_line_fraction, tokenizer=tokenizer)

    def dataset_fn(batch_size, seq_len, input_context=None):
        from keras_bert_impl.text.preprocessors import make_pretraining_dataset

        documents = document_dataset(files, tfds_name, input_context=input_context,
                                     shuffle_buffer=shuffle_buffer, seed=seed,
                                     max_bad_line_fraction=max_bad_line_fraction)
        return make_pretraining_dataset(
            documents, vocab, lowercase=lowercase, batch_size=batch_size,
            sequence_length=seq_len, max_predictions_per_seq=max_predictions, seed=seed,
            whole_word=whole_word,
        )

    return dataset_fn
