"""Preprocessors: the text layers chained for each task, as Keras layers and `tf.data` pipelines.

- `BertPreprocessor`: strings (one or two segments) -> `token_ids`, `segment_ids`,
  `padding_mask` (fine-tuning and serving; exports inside a SavedModel).
- `BertPretrainingPreprocessor`: tokenizer -> NSP pairing -> packer -> masker, producing the
  `(x, y)` batches `BertPretrainer` consumes:

  x = {"token_ids": int32 [B, L], "segment_ids": int32 [B, L],
       "padding_mask": bool [B, L] (True on real tokens), "mask_positions": int32 [B, P]}
  y = {"mask_ids": int32 [B, P], "mask_weights": float32 [B, P],
       "next_sentence_labels": int32 [B] (0 = IsNext, 1 = NotNext)}

- `make_pretraining_dataset(documents, tokenizer, ...)` builds that pipeline over a corpus

A corpus that cannot make sentence pairs (no text, or a single document: NotNext segments
come from another document) and a vocabulary whose casing contradicts the tokenizer's (a
cased vocab.txt read uncased loses every capitalised token) raise a `ValueError` naming the
file and the fix when the pipeline is built, not a bare `StopIteration` (or a silently
crippled model) later; see `corpus_checks`.

Randomness is stateless and seeded: per document (NSP) and per batch (masking) seeds come
from `tf.data.Dataset.random(seed, rerandomize_each_iteration=True)`, so a run is
reproducible for a seed, runs in parallel `map`s, and each epoch gets new pairs and masks.
"""

import glob
import os

import keras

from keras_bert_impl.text._base import PackedTextLayer
from keras_bert_impl.text.corpus_checks import check_documents, check_vocab_casing, sample_file
from keras_bert_impl.text.masking import MaskedLMMasker
from keras_bert_impl.text.nsp import document_instances
from keras_bert_impl.text.packing import BertPacker
from keras_bert_impl.text.tokenizer import BertTokenizer


def as_pretraining_tokenizer(tokenizer, lowercase=True):
    """`tokenizer` (a `BertTokenizer`, or a vocab.txt path or token list read with casing
    `lowercase`) as a `BertTokenizer`, after checking that its casing fits its vocabulary
    (`corpus_checks.check_vocab_casing`: a clearly cased vocabulary read with
    `lowercase=True`, or a clearly uncased one with `lowercase=False`, is a `ValueError`).

    Example:

    ```python
    tokenizer = as_pretraining_tokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the"])
    tokenizer.lowercase  # True
    ```
    """
    if tokenizer is None:
        raise ValueError("Pass a BertTokenizer or a vocab.txt path (vocab=...).")
    if not isinstance(tokenizer, BertTokenizer):
        tokenizer = BertTokenizer(tokenizer, lowercase=lowercase)
    source = tokenizer._vocab_path or f"(a list of {len(tokenizer.vocabulary):,} tokens)"
    check_vocab_casing(tokenizer.vocabulary, tokenizer.lowercase, source)
    return tokenizer


@keras.saving.register_keras_serializable(package="keras_bert_impl")
class BertPreprocessor(PackedTextLayer):
    """Strings -> packed BERT inputs, for classification, tagging and serving.

    Takes one `tf.string` batch (or scalar), or a tuple of them (sentence pairs, or N
    segments), and returns `{"token_ids", "segment_ids", "padding_mask"}` of length
    `sequence_length` (see `BertPacker`; `padding_mask` is bool).

    Args:
        tokenizer: a `BertTokenizer`.
        sequence_length: output length.
        truncate: `"round_robin"` (reference longest-first for pairs) or `"waterfall"`.

    Example:

    ```python
    import tensorflow as tf
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "fox", "ran"]
    preprocessor = BertPreprocessor(BertTokenizer(vocab), sequence_length=8)
    x = preprocessor((tf.constant(["The fox"]), tf.constant(["ran"])))
    x["token_ids"].numpy()  # [[2, 5, 6, 3, 7, 3, 0, 0]]
    ```
    """

    def __init__(self, tokenizer, sequence_length=512, truncate="round_robin", **kwargs):
        super().__init__(**kwargs)
        if isinstance(tokenizer, dict):
            tokenizer = keras.saving.deserialize_keras_object(tokenizer)
        if not isinstance(tokenizer, BertTokenizer):
            raise TypeError(f"tokenizer must be a BertTokenizer; got {type(tokenizer).__name__}.")
        self.tokenizer = tokenizer
        self.sequence_length = sequence_length
        self.packer = BertPacker.from_tokenizer(tokenizer, sequence_length, truncate=truncate)
        self.truncate = truncate

    def call(self, inputs):
        segments = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        return self.packer([self.tokenizer(segment) for segment in segments])

    def get_config(self):
        config = super().get_config()
        config.update({
            "tokenizer": keras.saving.serialize_keras_object(self.tokenizer),
            "sequence_length": self.sequence_length,
            "truncate": self.truncate,
        })
        return config


@keras.saving.register_keras_serializable(package="keras_bert_impl")
class BertPretrainingPreprocessor(PackedTextLayer):
    """Tokenizer -> NSP pairing -> packer -> masker, producing `BertPretrainer`'s `(x, y)`.

    As a layer, `call` takes sentence pairs that are already chosen: a dict with `"text_a"`
    and `"text_b"` (`tf.string` batches) or `"tokens_a"` and `"tokens_b"` (ragged ids), and
    optional `"next_sentence_labels"` (default 0), and returns `(x, y)` (module docstring).
    `instances(document, other_document, seed)` builds the pairs from documents, and
    `dataset(documents, batch_size)` is the whole pipeline over a corpus.

    Args:
        tokenizer: a `BertTokenizer`.
        sequence_length: packed length `L`.
        max_predictions_per_seq: masked positions per sequence `P`.
        mask_selection_rate, mask_token_rate, random_token_rate, whole_word: see
            `MaskedLMMasker`.
        short_seq_prob: probability of a shorter NSP target length (see `nsp`).
        seed: seed of masking when `call` is not given one.

    Example:

    ```python
    import tensorflow as tf
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "fox", "ran", "far"]
    preprocessor = BertPretrainingPreprocessor(BertTokenizer(vocab), sequence_length=12,
                                               max_predictions_per_seq=2, seed=0)
    x, y = preprocessor({"text_a": tf.constant(["the fox"]), "text_b": tf.constant(["ran far"]),
                         "next_sentence_labels": tf.constant([0])})
    x["token_ids"].shape, y["mask_ids"].shape  # (1, 12), (1, 2)
    ```
    """

    def __init__(self, tokenizer, sequence_length=128, max_predictions_per_seq=20,
                 mask_selection_rate=0.15, mask_token_rate=0.8, random_token_rate=0.1,
                 whole_word=False, short_seq_prob=0.1, seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(tokenizer, dict):
            tokenizer = keras.saving.deserialize_keras_object(tokenizer)
        if not isinstance(tokenizer, BertTokenizer):
            raise TypeError(f"tokenizer must be a BertTokenizer; got {type(tokenizer).__name__}.")
        if not 0.0 <= short_seq_prob <= 1.0:
            raise ValueError(f"short_seq_prob must be in [0, 1]; got {short_seq_prob}.")
        self.tokenizer = tokenizer
        self.sequence_length = sequence_length
        self.max_predictions_per_seq = max_predictions_per_seq
        self.mask_selection_rate = mask_selection_rate
        self.mask_token_rate = mask_token_rate
        self.random_token_rate = random_token_rate
        self.whole_word = whole_word
        self.short_seq_prob = short_seq_prob
        self.seed = seed
        self.packer = BertPacker.from_tokenizer(tokenizer, sequence_length)
        self.masker = MaskedLMMasker(
            tokenizer.vocabulary, mask_selection_rate=mask_selection_rate,
            max_predictions_per_seq=max_predictions_per_seq, mask_token_rate=mask_token_rate,
            random_token_rate=random_token_rate, whole_word=whole_word,
            suffix_indicator=tokenizer.suffix_indicator, seed=seed)

    def _check_sequence_length(self, value):
        super()._check_sequence_length(value, minimum=5, needs=" for sentence pairs")

    def tokenize_document(self, sentences):
        """1-D `tf.string` sentences -> ragged ids `[sentences, (tokens)]`, empty ones dropped."""
        import tensorflow as tf

        ids = self.tokenizer(tf.reshape(sentences, [-1]))
        return tf.ragged.boolean_mask(ids, ids.row_lengths() > 0)

    def instances(self, document, other_document, seed, other_is_valid=True):
        """NSP pairs `(tokens_a, tokens_b, labels)` from two tokenized documents (see `nsp`)."""
        return document_instances(document, other_document, seed, self.sequence_length,
                                  short_seq_prob=self.short_seq_prob,
                                  other_is_valid=other_is_valid)

    def call(self, inputs, seed=None):
        import tensorflow as tf

        if not isinstance(inputs, dict):
            raise TypeError("BertPretrainingPreprocessor takes a dict with text_a/text_b or "
                            "tokens_a/tokens_b (and optional next_sentence_labels).")
        if "text_a" in inputs:
            a, b = self.tokenizer(inputs["text_a"]), self.tokenizer(inputs["text_b"])
        elif "tokens_a" in inputs:
            a, b = inputs["tokens_a"], inputs["tokens_b"]
        else:
            raise KeyError("BertPretrainingPreprocessor needs 'text_a' and 'text_b' or "
                           f"'tokens_a' and 'tokens_b'; got keys {sorted(inputs)}.")
        packed = self.packer((a, b))
        masked = self.masker(packed["token_ids"], seed=seed)
        labels = inputs.get("next_sentence_labels")
        if labels is None:
            labels = tf.zeros(tf.shape(packed["token_ids"])[:-1], tf.int32)
        x = {
            "token_ids": masked["token_ids"],
            "segment_ids": packed["segment_ids"],
            "padding_mask": packed["padding_mask"],
            "mask_positions": masked["mask_positions"],
        }
        y = {
            "mask_ids": masked["mask_ids"],
            "mask_weights": masked["mask_weights"],
            "next_sentence_labels": tf.cast(labels, tf.int32),
        }
        return x, y

    def dataset(self, documents, batch_size, seed=0, shuffle_buffer=1000,
                instance_buffer=10_000, drop_remainder=True):
        """The pretraining pipeline over `documents` (see `make_pretraining_dataset`)."""
        import tensorflow as tf

        documents = _documents_dataset(documents)
        autotune = tf.data.AUTOTUNE

        def tokenize(sentences):
            ids = self.tokenize_document(sentences)
            text = tf.strings.reduce_join(tf.reshape(sentences, [-1]), separator="\n")
            return ids, tf.strings.to_hash_bucket_fast(text, 2**62)

        docs = documents.map(tokenize, num_parallel_calls=autotune)
        docs = docs.filter(lambda ids, _: ids.nrows() > 0)
        others = docs.shuffle(shuffle_buffer, seed=seed + 1, reshuffle_each_iteration=True)
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)

        def pairs(doc, other, pair_seed):
            (ids, fingerprint), (other_ids, other_fingerprint) = doc, other
            a, b, labels = self.instances(ids, other_ids, pair_seed,
                                          other_is_valid=fingerprint != other_fingerprint)
            return {"tokens_a": a, "tokens_b": b, "next_sentence_labels": labels}

        instances = tf.data.Dataset.zip((docs, others, seeds)).map(
            pairs, num_parallel_calls=autotune).unbatch()
        if instance_buffer:
            instances = instances.shuffle(instance_buffer, seed=seed + 2,
                                          reshuffle_each_iteration=True)
        batches = instances.ragged_batch(batch_size, drop_remainder=drop_remainder)
        mask_seeds = tf.data.Dataset.random(seed=seed + 3,
                                            rerandomize_each_iteration=True).batch(2)
        batches = tf.data.Dataset.zip((batches, mask_seeds)).map(
            lambda batch, mask_seed: self(batch, seed=mask_seed), num_parallel_calls=autotune)
        return batches.prefetch(autotune)

    def get_config(self):
        config = super().get_config()
        config.update({
            "tokenizer": keras.saving.serialize_keras_object(self.tokenizer),
            "sequence_length": self.sequence_length,
            "max_predictions_per_seq": self.max_predictions_per_seq,
            "mask_selection_rate": self.mask_selection_rate,
            "mask_token_rate": self.mask_token_rate,
            "random_token_rate": self.random_token_rate,
            "whole_word": self.whole_word,
            "short_seq_prob": self.short_seq_prob,
            "seed": self.seed,
        })
        return config


def _documents_dataset(documents):
    """`documents` as a dataset of 1-D `tf.string` sentence tensors.

    Accepts such a dataset, a list of documents (each a list of sentences), or text file
    paths/globs in the reference format (one sentence per line, blank line between
    documents).
    """
    import tensorflow as tf

    if isinstance(documents, tf.data.Dataset):
        spec = documents.element_spec
        if not (isinstance(spec, tf.TensorSpec) and spec.dtype == tf.string
                and spec.shape.rank == 1):
            raise TypeError("documents must be a dataset of 1-D tf.string tensors (the "
                            f"sentences of one document each); got element_spec {spec}.")
        count = int(documents.cardinality())
        if 0 <= count < 2:
            raise ValueError(
                f"documents is a dataset of {count} document(s); next-sentence pairs need at "
                "least 2, since a NotNext segment comes from another document."
            )
        return documents
    if isinstance(documents, (str, os.PathLike)):
        documents = [documents]
    documents = list(documents)
    if documents and all(isinstance(d, (str, os.PathLike)) for d in documents):
        files = []
        for pattern in documents:
            matched = sorted(p for p in glob.glob(os.fspath(pattern)) if os.path.isfile(p))
            if not matched:
                raise FileNotFoundError(f"{os.fspath(pattern)!r} matches no files; pass text "
                                        "files in the reference format or a list of documents.")
            files += matched
        check_documents([sample_file(f) for f in files])

        def split(text):
            text = tf.strings.regex_replace(text, r"\r\n?", "\n")
            text = tf.strings.regex_replace(text, r"\n[ \t]*(\n[ \t]*)+", "\x00")
            return tf.data.Dataset.from_tensor_slices(tf.strings.split(tf.strings.strip(text),
                                                                       "\x00"))

        def sentences(document):
            lines = tf.strings.strip(tf.strings.split(document, "\n"))
            return tf.boolean_mask(lines, tf.strings.length(lines) > 0)

        return (tf.data.Dataset.from_tensor_slices(files)
                .interleave(lambda f: split(tf.io.read_file(f)), cycle_length=1)
                .map(sentences))
    if not all(isinstance(d, (list, tuple)) for d in documents):
        raise TypeError("documents must be a tf.data.Dataset of sentence tensors, a non-empty "
                        "list of documents (lists of sentences), or text file paths.")
    with_text = sum(any(str(s).strip() for s in d) for d in documents)
    if with_text < 2:
        raise ValueError(
            f"documents holds {with_text} document(s) with text ({len(documents)} in the "
            "list); next-sentence pairs need at least 2, since a NotNext segment comes from "
            "another document."
        )
    ragged = tf.ragged.constant([[str(s) for s in d] for d in documents], dtype=tf.string)
    return tf.data.Dataset.from_tensor_slices(ragged).map(lambda d: d)


def make_pretraining_dataset(documents, tokenizer, *, sequence_length=128, batch_size=32,
                             max_predictions_per_seq=20, seed=0,
                             lowercase=True, whole_word=False, mask_selection_rate=0.15,
                             short_seq_prob=0.1, shuffle_buffer=1000, instance_buffer=10_000,
                             drop_remainder=True):
    """A `tf.data.Dataset` of `(x, y)` pretraining batches for `BertPretrainer`.

    Documents -> tokenized sentences -> NSP pairs (another document of a second, differently
    shuffled stream supplies NotNext segments) -> instance shuffle -> batches of
    `batch_size` (the last partial batch is dropped unless `drop_remainder=False`) -> pack
    to `sequence_length` -> dynamic masking. `x["padding_mask"]` is bool.

    Args:
        documents: a `tf.data.Dataset` of 1-D `tf.string` tensors (one document's
            sentences each; repeat it for several epochs), a list of documents (lists of
            sentences) or text files/globs in the reference format.
        tokenizer: a `BertTokenizer`, or a vocab.txt path (then `lowercase` applies). A
            vocabulary whose casing clearly contradicts the tokenizer's is a `ValueError`
            (see `as_pretraining_tokenizer`).
        The other arguments are keyword-only:
        sequence_length, batch_size, max_predictions_per_seq, seed: as named.
        whole_word, mask_selection_rate: see `MaskedLMMasker`; short_seq_prob: see `nsp`.

    Example:

    ```python
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "it", "rain",
             "fell", "night", "came", "."]
    docs = [["The cat sat.", "It sat."], ["Rain fell.", "Night came.", "The rain came."]]
    dataset = make_pretraining_dataset(docs, BertTokenizer(vocab), sequence_length=16,
                                       batch_size=2, max_predictions_per_seq=3)
    x, y = next(iter(dataset))
    x["token_ids"].shape, y["mask_ids"].shape  # (2, 16), (2, 3)
    ```
    """
    tokenizer = as_pretraining_tokenizer(tokenizer, lowercase)
    preprocessor = BertPretrainingPreprocessor(
        tokenizer, sequence_length=sequence_length,
        max_predictions_per_seq=max_predictions_per_seq,
        mask_selection_rate=mask_selection_rate, whole_word=whole_word,
        short_seq_prob=short_seq_prob, seed=seed)
    return preprocessor.dataset(documents, batch_size, seed=seed, shuffle_buffer=shuffle_buffer,
                                instance_buffer=instance_buffer, drop_remainder=drop_remainder)
