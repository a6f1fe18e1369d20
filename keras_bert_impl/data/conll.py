"""CoNLL-style tagging files: one `TOKEN ... TAG` line per word, a blank line between
sentences.

The CoNLL-2003 shared task files have four columns, `TOKEN POS CHUNK NER`; two-column
`TOKEN TAG` files (WNUT, many NER corpora) read the same way, since the tag is always the
LAST column. `-DOCSTART-` lines (document breaks) are skipped. Tags are kept as they are in
the file: the real CoNLL-2003 uses IOB1 (an `I-` tag may open an entity, `B-` only separates
two adjacent entities of one type), which `metrics.entity_scores(..., scheme="IOB1")` reads.

`read_conll(path)` validates every line and names the file and LINE NUMBER of a bad one (a
line without a tag column, a tag that is not `O` or `B-`/`I-`/`E-`/`S-` plus a type, a tag
that is not in `label_names`), so a corrupt record is found before training, not as a
mysterious loss. `conll_split_paths(directory)` finds `train.txt`, `valid.txt` (or `dev.txt`)
and an optional `test.txt`. The tag set defaults to CoNLL-2003's; another corpus (WNUT,
OntoNotes, one's own in IOB2 or IOBES) is read with `label_names=[...]`, or with
`label_names=TAGS_FROM_DATA` for the tags its files hold (`tag_names`: "O" first).
"""

import dataclasses
import os
import re

from keras_bert_impl.text.tag_decoding import tag_ids as _tag_ids
from keras_bert_impl.user_files import open_text

__all__ = ["CONLL2003_LABELS", "TAGS_FROM_DATA", "TaggingData", "conll_split_paths",
           "read_conll", "read_conll_directory", "tag_names"]

# The CoNLL-2003 NER tags in the order the usual checkpoints and the Hugging Face dataset use.
CONLL2003_LABELS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC",
                    "I-MISC")

# `label_names=TAGS_FROM_DATA`: the tag set is the tags the data holds (`tag_names`).
TAGS_FROM_DATA = "from_data"
_PREFIX_ORDER = "BIES"
_TAG = re.compile(r"O|[BIES]-\S+")
CONLL_KIND = "a CoNLL file (TOKEN ... TAG per line, a blank line between sentences)"
_SPLIT_FILES = {"train": ("train.txt",), "valid": ("valid.txt", "dev.txt"),
                "test": ("test.txt",)}


@dataclasses.dataclass(frozen=True)
class TaggingData:
    """Sentences of words with one tag per word, as read from a tagging file.

    Attributes:
        words: one list of words per sentence.
        tags: one list of tag strings per sentence (the same lengths as `words`).
        label_names: the tag of each class id, in id order.
        path: the file it was read from (None when built in memory).

    Example:

    ```python
    data = TaggingData(words=[["John", "lives", "in", "Paris"]],
                       tags=[["B-PER", "O", "O", "B-LOC"]],
                       label_names=["O", "B-PER", "I-PER", "B-LOC", "I-LOC"])
    data.tag_ids()  # [[1, 0, 0, 3]]
    len(data), data.num_words  # (1, 4)
    ```
    """

    words: list
    tags: list
    label_names: list
    path: str = None

    def __post_init__(self):
        if len(self.words) != len(self.tags):
            raise ValueError(f"TaggingData has {len(self.words)} sentences of words and "
                             f"{len(self.tags)} of tags; they must match.")
        for i, (words, tags) in enumerate(zip(self.words, self.tags)):
            if len(words) != len(tags):
                raise ValueError(f"TaggingData sentence {i} has {len(words)} words and "
                                 f"{len(tags)} tags; give one tag per word.")

    def __len__(self):
        return len(self.words)

    @property
    def num_words(self):
        """The number of words (tokens) over all sentences."""
        return sum(len(words) for words in self.words)

    def tag_ids(self):
        """The tags as class ids (indices into `label_names`), one list per sentence."""
        return _tag_ids(self.tags, self.label_names)

    def to_dataset(self):
        """A `tf.data.Dataset` of `(words, tag_ids)` per sentence (1-D string and int32
        tensors): `.ragged_batch(n)` it and map `BertTokenClassifierPreprocessor` over it."""
        import tensorflow as tf

        lengths = [len(words) for words in self.words]
        words = tf.RaggedTensor.from_row_lengths(
            tf.constant([w for sentence in self.words for w in sentence], tf.string), lengths)
        ids = tf.RaggedTensor.from_row_lengths(
            tf.constant([i for sentence in self.tag_ids() for i in sentence], tf.int32),
            lengths)
        return tf.data.Dataset.from_tensor_slices((words, ids))


def _bad_line(path, number, problem):
    return ValueError(f"{path}:{number}: {problem}")


def read_conll(path, label_names=None):
    """Reads a CoNLL tagging file (`TOKEN POS CHUNK NER` or `TOKEN TAG` lines, a blank line
    between sentences, `-DOCSTART-` lines skipped) into a `TaggingData`.

    Args:
        path: the file.
        label_names: the allowed tags, in class id order; default `CONLL2003_LABELS`. A tag
            of the file that is not among them is a `ValueError` naming the file and line.
            `TAGS_FROM_DATA`: every well-formed tag is allowed, and the label names are
            `tag_names` of the file's tags.

    Returns:
        A `TaggingData` (its `path` is `path`).

    Example:

    ```python
    import os, tempfile
    path = os.path.join(tempfile.mkdtemp(), "valid.txt")
    with open(path, "w") as f:
        f.write("-DOCSTART- -X- -X- O\\n\\nEU NNP B-NP I-ORG\\nrejects VBZ B-VP O\\n\\n"
                "Peter NNP B-NP I-PER\\nBlackburn NNP I-NP I-PER\\n")
    data = read_conll(path)
    data.words  # [["EU", "rejects"], ["Peter", "Blackburn"]]
    data.tags  # [["I-ORG", "O"], ["I-PER", "I-PER"]]
    data.tag_ids()  # [[4, 0], [2, 2]]
    ```
    """
    path = os.fspath(path)
    from_data = _tags_from_data(label_names)
    names = list(CONLL2003_LABELS if label_names is None or from_data else label_names)
    known = set(names)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"The tagging file {path!r} does not exist; pass {CONLL_KIND}.")
    words, tags = [], []
    sentence_words, sentence_tags = [], []
    with open_text(path, CONLL_KIND) as f:
        for number, line in enumerate(f, start=1):
            columns = line.split()
            if not columns or columns[0] == "-DOCSTART-":
                if sentence_words:
                    words.append(sentence_words)
                    tags.append(sentence_tags)
                    sentence_words, sentence_tags = [], []
                continue
            if len(columns) < 2:
                raise _bad_line(path, number, f"{line.strip()!r} has one column; expected "
                                "'TOKEN POS CHUNK TAG' or 'TOKEN TAG' (the tag is the last "
                                "column), or a blank line between sentences.")
            tag = columns[-1]
            if not _TAG.fullmatch(tag):
                raise _bad_line(path, number, f"tag {tag!r} is not 'O' or a prefix B-, I-, E- "
                                "or S- plus an entity type (e.g. 'B-PER'); is the tag the "
                                "last column?")
            if tag not in known and not from_data:
                raise _bad_line(path, number, f"tag {tag!r} is not in label_names {names}; "
                                "pass label_names=[...] with every tag of the data, in class "
                                "id order, or label_names=TAGS_FROM_DATA for the tags the "
                                "data holds (keras-bert finetune --task conll).")
            sentence_words.append(columns[0])
            sentence_tags.append(tag)
    if sentence_words:
        words.append(sentence_words)
        tags.append(sentence_tags)
    if not words:
        raise ValueError(f"{path} holds no sentences; expected 'TOKEN ... TAG' lines with a "
                         "blank line between sentences.")
    return TaggingData(words=words, tags=tags, label_names=tag_names(tags) if from_data
                       else names, path=path)


def tag_names(tags):
    """The tag set of tag sequences, in class id order: `"O"` first (the tag of continuation
    pieces and padding in training), then each entity type in sorted order with its prefixes
    in the order B, I, E, S.

    Example:

    ```python
    tag_names([["B-PER", "I-PER", "O"], ["S-LOC", "B-DATE"]])
    # ['O', 'B-DATE', 'B-LOC', 'S-LOC', 'B-PER', 'I-PER']
    ```
    """
    found = {tag for sentence in tags for tag in sentence} - {"O"}
    entities = sorted(found, key=lambda tag: (tag[2:], _PREFIX_ORDER.index(tag[0])))
    return ["O", *entities]


def conll_split_paths(directory):
    """`{"train": path, "valid": path}` (and `"test"` if present) of a CoNLL directory.

    `train.txt` and `valid.txt` (or `dev.txt`) must be there; `test.txt` is optional.
    A missing file is a `FileNotFoundError` naming it and the files the directory holds.

    Example:

    ```python
    import os, tempfile
    folder = tempfile.mkdtemp()
    for name in ("train.txt", "dev.txt"):
        open(os.path.join(folder, name), "w").close()
    sorted(conll_split_paths(folder))  # ["train", "valid"]
    ```
    """
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"{directory!r} is not a directory; pass the folder holding "
                                "train.txt and valid.txt (or dev.txt).")
    present = sorted(os.listdir(directory))
    paths, missing = {}, []
    for split, names in _SPLIT_FILES.items():
        found = [name for name in names if os.path.isfile(os.path.join(directory, name))]
        if len(found) > 1:
            raise ValueError(f"{directory!r} holds both {' and '.join(found)}; keep one "
                             f"{split} file.")
        if found:
            paths[split] = os.path.join(directory, found[0])
        elif split != "test":
            missing.append(" or ".join(names))
    if missing:
        raise FileNotFoundError(f"{directory!r} lacks {' and '.join(missing)} (it holds "
                                f"{present}); a CoNLL directory needs train.txt and valid.txt "
                                "(or dev.txt), test.txt optional.")
    return paths


def read_conll_directory(directory, label_names=None):
    """`{split: TaggingData}` for the splits `conll_split_paths(directory)` finds, read with
    `label_names` (`TAGS_FROM_DATA`: the tags of all the splits, one set for all).

    Example:

    ```python
    import os, tempfile
    folder = tempfile.mkdtemp()
    for name in ("train.txt", "valid.txt"):
        with open(os.path.join(folder, name), "w") as f:
            f.write("Paris NNP B-NP I-LOC\\n")
    splits = read_conll_directory(folder)
    sorted(splits), splits["valid"].tags  # (["train", "valid"], [["I-LOC"]])
    ```
    """
    splits = {split: read_conll(path, label_names)
              for split, path in conll_split_paths(directory).items()}
    if _tags_from_data(label_names):  # one set for all
        names = tag_names([tags for data in splits.values() for tags in data.tags])
        splits = {split: dataclasses.replace(data, label_names=names)
                  for split, data in splits.items()}
    return splits


def _tags_from_data(label_names):
    """Whether `label_names` asks for the tags the data holds (`TAGS_FROM_DATA`)."""
    return isinstance(label_names, str) and label_names == TAGS_FROM_DATA
