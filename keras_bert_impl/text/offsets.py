"""Character offsets of WordPiece tokens in the original text (host side, Python/NumPy).

`BertTokenizer` runs in the graph and returns ids, not offsets. Question answering needs,
for every piece of a context, the characters of the ORIGINAL string it came from: training
labels come from an answer's character span, and a predicted span is cut out of the original
context, so that its casing, accents and punctuation are the original ones.

How the alignment works, and why it cannot drift from the tokenizer:

1. The tokenizer's normalisation works character by character (cleaning, NFD and accent
   stripping, lowercasing each character on its own; see `tokenizer.py`). So every distinct
   character of the texts is normalised once, by the tokenizer itself
   (`BertTokenizer._normalize`, results cached), which gives for each original character the
   normalised characters it becomes: none (a control character, or an accent when uncased),
   whitespace, or one or more others.
2. Without the whitespace, those characters laid end to end must be the tokenizer's words
   (`BertTokenizer.split_words`) laid end to end; this is checked for every text (a mismatch
   is a `RuntimeError` naming the text, never a silent misalignment).
3. The pieces of each word (`BertTokenizer(..., return_word_ids=True)`: the tokenizer's own
   ids) are walked along the word's characters: a piece covers as many characters as its
   token has (without the `##` prefix of a continuation); an `[UNK]` covers its whole word.
   A piece's offsets are `(first original character, one past its last)`.

A combining mark that the uncased normaliser removes (the accent of a decomposed "é")
belongs to the piece that ends just before it, so a cut span keeps its accents.
"""

import unicodedata

import numpy as np

# What the tokenizer's final split (`tf.strings.split` with no separator) splits at: the
# ASCII whitespace left after normalisation (\v and \f are removed as control characters).
_SPLIT_AT = frozenset(" \t\n\r\v\f")


class WordpieceAligner:
    """Tokenizes texts with a `BertTokenizer` and gives each piece's character offsets.

    Calling it on a list of strings returns, per string, `(ids, offsets)`: the tokenizer's
    WordPiece ids (int32 `[pieces]`) and int32 `[pieces, 2]` offsets `(start, end)` into
    that string, so that `text[start:end]` is the original text of the piece. The ids are
    exactly those of `tokenizer(texts)`. The normalisation of each distinct character is
    cached, so reuse one aligner across batches.

    Args:
        tokenizer: a `BertTokenizer`.

    Example:

    ```python
    from keras_bert_impl.text.tokenizer import BertTokenizer
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "beyonce", "sang", "!", "da",
             "##nce"]
    aligner = WordpieceAligner(BertTokenizer(vocab))
    [(ids, offsets)] = aligner(["Beyoncé  sang,  DANCE!"])
    ids.tolist()  # [5, 6, 1, 8, 9, 7]
    offsets.tolist()  # [[0, 7], [9, 13], [13, 14], [16, 18], [18, 21], [21, 22]]
    ```
    """

    def __init__(self, tokenizer):
        from keras_bert_impl.text.tokenizer import BertTokenizer

        if not isinstance(tokenizer, BertTokenizer):
            raise TypeError(f"tokenizer must be a BertTokenizer; got {type(tokenizer).__name__}.")
        self.tokenizer = tokenizer
        suffix = tokenizer.suffix_indicator or ""
        # Characters a piece covers: the token's length, less `##` when it continues a word.
        self._lengths = np.array([len(t) for t in tokenizer.vocabulary], np.int64)
        self._suffix_length = len(suffix)
        self._normalized = {}  # original character -> its normalised non-space characters
        self._removed_mark = {}  # original character -> a combining mark normalised away

    def __call__(self, texts):
        import tensorflow as tf

        texts = as_string_list(texts)
        if not texts:
            return []
        self._learn_characters(texts)
        batch = tf.constant([t.encode("utf-8", "surrogatepass") for t in texts])
        ids, word_ids = self.tokenizer(batch, return_word_ids=True)
        words = self.tokenizer.split_words(batch)
        id_values, id_splits = ids.flat_values.numpy(), ids.row_splits.numpy()
        word_values = word_ids.flat_values.numpy()
        word_text = [w.decode("utf-8") for w in words.flat_values.numpy().tolist()]
        word_splits = words.row_splits.numpy()
        out = []
        for row, text in enumerate(texts):
            lo, hi = id_splits[row], id_splits[row + 1]
            row_words = word_text[word_splits[row]:word_splits[row + 1]]
            offsets = self._align(row, text, row_words, id_values[lo:hi], word_values[lo:hi])
            out.append((id_values[lo:hi].astype(np.int32), offsets))
        return out

    def _learn_characters(self, texts):
        """Normalises (with the tokenizer) each character not seen before."""
        import tensorflow as tf

        new = sorted(set().union(*map(set, texts)) - self._normalized.keys())
        encodable = []
        for char in new:
            if 0xD800 <= ord(char) <= 0xDFFF:  # a lone surrogate: invalid, so removed
                self._normalized[char] = ""
                self._removed_mark[char] = False
            else:
                encodable.append(char)
        if not encodable:
            return
        normalized = self.tokenizer._normalize(tf.constant([c.encode("utf-8")
                                                            for c in encodable]))
        for char, value in zip(encodable, normalized.numpy().tolist(), strict=True):
            value = value.decode("utf-8")
            self._normalized[char] = "".join(c for c in value if c not in _SPLIT_AT)
            self._removed_mark[char] = (not value
                                        and unicodedata.category(char).startswith("M"))

    def _align(self, row, text, words, ids, word_ids):
        """`[pieces, 2]` offsets of one text's pieces (see the module docstring)."""
        offsets = np.empty((len(ids), 2), np.int32)
        if not len(ids):
            return offsets
        # The normalised non-space characters and the original index of each.
        parts = list(map(self._normalized.__getitem__, text))
        if "".join(parts) != "".join(words):
            raise RuntimeError(
                f"Could not align the word pieces of text #{row} ({text[:80]!r}...) with its "
                "characters: its characters normalised one by one do not give the tokenizer's "
                "words. This is a bug of keras_bert_impl.text.offsets; please report it with "
                "that text.")
        origin = np.repeat(np.arange(len(text)), np.fromiter(map(len, parts), np.int64,
                                                             len(parts)))
        # Where a span ending after character i really ends: past the removed marks after i.
        kept = np.flatnonzero(~np.fromiter(map(self._removed_mark.__getitem__, text), bool,
                                           len(text)))
        # Characters each piece covers: its token's, less `##` when it continues a word; an
        # `[UNK]` covers its word.
        word_ids = word_ids.astype(np.int64)
        first = np.diff(word_ids, prepend=-1) != 0
        word_length = np.fromiter(map(len, words), np.int64, len(words))
        word_start = np.cumsum(word_length) - word_length
        lengths = self._lengths[ids] - np.where(first, 0, self._suffix_length)
        unk = ids == self.tokenizer.unk_token_id
        lengths[unk] = word_length[word_ids[unk]]
        before = np.cumsum(lengths) - lengths  # characters of the text's earlier pieces
        start = word_start[word_ids] + before - before[np.flatnonzero(first)][word_ids]
        end = start + lengths
        # Pieces that do not spell their word (not seen with a WordPiece vocabulary) get
        # the whole word.
        spelled = np.bincount(word_ids, weights=lengths, minlength=len(words)) == word_length
        whole = ~spelled[word_ids]
        start[whole] = word_start[word_ids[whole]]
        end[whole] = start[whole] + word_length[word_ids[whole]]
        last = origin[end - 1]
        offsets[:, 0] = origin[start]
        next_kept = np.searchsorted(kept, last, side="right")
        offsets[:, 1] = np.where(next_kept < len(kept), kept[np.minimum(next_kept,
                                                                        len(kept) - 1)],
                                 len(text))
        return offsets


def tokenize_with_offsets(tokenizer, texts):
    """`[(ids, offsets)]` for each text: a `WordpieceAligner(tokenizer)` applied once.

    Example:

    ```python
    from keras_bert_impl.text.tokenizer import BertTokenizer
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "fox"]
    [(ids, offsets)] = tokenize_with_offsets(BertTokenizer(vocab), ["The\\tFOX"])
    ids.tolist(), offsets.tolist()  # ([5, 6], [[0, 3], [4, 7]])
    ```
    """
    return WordpieceAligner(tokenizer)(texts)


def as_string_list(values, name="texts"):
    """`values` (strings or UTF-8 bytes) as a list of `str`; one bare string, or an item that
    is not text, is a `TypeError` naming `name`."""
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{name} must be a list of strings, not one string; wrap it: [text].")
    out = []
    for i, value in enumerate(values):
        if isinstance(value, bytes):
            value = value.decode("utf-8")
        if not isinstance(value, str):
            raise TypeError(f"{name}[{i}] is a {type(value).__name__}, not a string.")
        out.append(value)
    return out
