"""Cheap checks of a pretraining corpus and its vocabulary, run before anything is built.

A wrong corpus or vocabulary does not crash a pretraining run: it trains on nothing useful.
These checks read only the start of each file (`SAMPLE_BYTES`, at most `SAMPLE_LINES`
non-blank lines) and raise a `ValueError` that names the file, the evidence and the fix:

- `check_documents`: the corpus holds no text, or fewer than 2 documents (next-sentence
  pairs take their NotNext segment from another document);
- `check_bad_lines`: more than `max_bad_line_fraction` (default
  `DEFAULT_MAX_BAD_LINE_FRACTION`, 10%) of a file's sampled lines are not text: not valid
  UTF-8, mostly control/binary characters, or (given a tokenizer) mostly `[UNK]`, and at
  least `MIN_BAD_LINES` (5) are. A binary file, a file in another encoding or a vocabulary of
  another language is caught; a few odd lines are not;
- `check_vocab_casing`: a vocabulary that is clearly cased read by a lowercasing pipeline
  (every capitalised token unreachable) or clearly uncased read by a cased one (every
  capitalised word `[UNK]` or split oddly), using `presets.tokenizer_spec.vocab_casing`.

Example:

```python
import os, tempfile
folder = tempfile.mkdtemp()
path = os.path.join(folder, "a.txt")
with open(path, "w") as f:
    f.write("The cat sat.\\nIt slept.\\n\\nA dog ran.\\n")
sample = sample_file(path)
sample.documents, sample.lines  # (2, 3)
check_documents([sample])
check_bad_lines([sample])
```
"""

import dataclasses
import os
import re
import unicodedata

from keras_bert_impl.presets.tokenizer_spec import vocab_casing

SAMPLE_BYTES = 1 << 20
SAMPLE_LINES = 1000
DEFAULT_MAX_BAD_LINE_FRACTION = 0.1
MIN_BAD_LINES = 5
_EXAMPLE_CHARS = 80
_ASCII_CONTROL = re.compile(rb"[\x00-\x08\x0e-\x1f\x7f]")


@dataclasses.dataclass
class FileSample:
    """What the start of one corpus file holds (see `sample_file`).

    `documents` counts the documents in the sampled bytes (blank-line separated); `lines`
    the non-blank lines checked; `bad` the bad ones as `(line number, reason, text)`;
    `texts` the decoded text of the good ones (for the `[UNK]` check).

    Example:

    ```python
    FileSample("a.txt", size=0, has_text=False, documents=0).lines  # 0
    ```
    """

    path: str
    size: int
    has_text: bool
    documents: int
    lines: int = 0
    bad: list = dataclasses.field(default_factory=list)
    texts: list = dataclasses.field(default_factory=list)
    line_numbers: list = dataclasses.field(default_factory=list)


def _is_binary_char(char):
    # Control, format, surrogate, private-use and unassigned code points, and U+FFFD; tab,
    # carriage return and form feed are ordinary in text files.
    if char in "\t\r\f\v":
        return False
    return char == "\ufffd" or unicodedata.category(char)[0] == "C"


def _line_problem(raw):
    """Why the raw bytes of one line are not text, or None; and the line as text."""
    if raw.isascii() and not _ASCII_CONTROL.search(raw):
        return None, raw.decode("ascii")  # most lines of most corpora: nothing to look at
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "not valid UTF-8", None
    visible = [c for c in text if not c.isspace()]
    if visible and 2 * sum(map(_is_binary_char, visible)) > len(visible):
        return "mostly control/binary characters", text
    return None, text


def _shorten(text):
    """A line as shown in an error: its `repr`, cut to `_EXAMPLE_CHARS` characters (half as
    many bytes of a line that is not UTF-8, whose `repr` is longer)."""
    limit = _EXAMPLE_CHARS if isinstance(text, str) else _EXAMPLE_CHARS // 2
    return repr(text[:limit]) + ("..." if len(text) > limit else "")


def sample_file(path, max_bytes=SAMPLE_BYTES, max_lines=SAMPLE_LINES):
    """Reads the start of `path` (`max_bytes`, `max_lines` non-blank lines) as a `FileSample`.

    Example:

    ```python
    import os, tempfile
    path = os.path.join(tempfile.mkdtemp(), "b.bin")
    with open(path, "wb") as f:
        f.write(b"fine text\\n\\x00\\x01\\x02\\x03\\n\\xff\\xfe oops\\n")
    sample = sample_file(path)
    sample.lines, [reason for _, reason, _ in sample.bad]
    # (3, ['mostly control/binary characters', 'not valid UTF-8'])
    ```
    """
    path = os.fspath(path)
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        data = f.read(max_bytes)
    truncated = size > len(data)
    raw_lines = data.replace(b"\r\n", b"\n").split(b"\n")
    if truncated and len(raw_lines) > 1:
        raw_lines.pop()  # cut mid-line (maybe mid-character): not judged
    sample = FileSample(path, size, has_text=bool(data.strip()), documents=0)
    in_document = False
    for number, raw in enumerate(raw_lines, 1):
        if not raw.strip():
            in_document = False
            continue
        sample.documents += not in_document
        in_document = True
        if sample.lines >= max_lines:
            continue
        sample.lines += 1
        reason, text = _line_problem(raw)
        if reason:
            sample.bad.append((number, reason, _shorten(raw if text is None else text)))
        else:
            sample.texts.append(text)
            sample.line_numbers.append(number)
    return sample


def check_documents(samples, what="The corpus"):
    """Raises a `ValueError` unless the sampled files hold text and at least 2 documents.

    Example:

    ```python
    check_documents([FileSample("a.txt", 10, True, 2)])
    ```
    """
    names = [s.path for s in samples]
    if not any(s.has_text for s in samples):
        sizes = ", ".join(f"{s.path} ({'empty' if not s.size else 'whitespace only'})"
                          for s in samples[:5])
        more = f" and {len(samples) - 5} more" if len(samples) > 5 else ""
        raise ValueError(f"{what} is empty: {len(samples)} file(s) matched ({sizes}{more}) but "
                         "none contains any text. Pass UTF-8 text files, one sentence per "
                         "line, a blank line between documents.")
    documents = sum(s.documents for s in samples)
    if documents < 2:
        holder = names[0] if len(names) == 1 else f"{what} {names}"
        raise ValueError(
            f"{holder} holds a single document (no blank line between documents); "
            "next-sentence pairs need at least 2 documents, since a NotNext segment comes from "
            "another document. Separate documents by a blank line (the reference format), or "
            "use several files."
        )


def _unk_lines(samples, tokenizer, chunk=20_000):
    """Per sample, `[(line number, text)]` of its lines that are more than half `[UNK]` (all
    samples' lines go through the tokenizer together, in chunks)."""
    import numpy as np

    texts = [text for sample in samples for text in sample.texts]
    mostly_unknown = []
    for start in range(0, len(texts), chunk):
        ids = tokenizer(texts[start:start + chunk])
        splits = ids.row_splits.numpy()
        unknown = np.cumsum(ids.flat_values.numpy() == tokenizer.unk_token_id)
        unknown = np.concatenate([[0], unknown])
        counts, lengths = unknown[splits[1:]] - unknown[splits[:-1]], np.diff(splits)
        mostly_unknown.extend((lengths > 0) & (2 * counts > lengths))
    result, row = [], 0
    for sample in samples:
        flags = mostly_unknown[row:row + len(sample.texts)]
        row += len(sample.texts)
        result.append([(n, text) for n, text, flag in
                       zip(sample.line_numbers, sample.texts, flags) if flag])
    return result


def check_bad_lines(samples, max_bad_line_fraction=DEFAULT_MAX_BAD_LINE_FRACTION,
                    tokenizer=None, flag="--max-bad-lines",
                    parameter="max_bad_line_fraction"):
    """Raises a `ValueError` when more than `max_bad_line_fraction` of the sampled lines of a
    file, or of the whole corpus, are bad: not valid UTF-8, mostly control/binary characters,
    or (with a `BertTokenizer`) more than half `[UNK]` pieces. It takes at least
    `MIN_BAD_LINES` bad lines (one odd line in a five-line file is no evidence). `1.0` turns
    the check off. The error names `flag` (and the Python `parameter`, unless `None`) as the
    way to go on regardless.

    Example:

    ```python
    bad = [(n, "not valid UTF-8", "b'\\xff'") for n in range(5)]
    sample = FileSample("a.txt", 10, True, 2, lines=50, bad=bad)
    check_bad_lines([sample])  # 10% bad: the default threshold, not above it
    ```
    """
    if not 0.0 <= max_bad_line_fraction <= 1.0:
        raise ValueError(f"{parameter} must be in [0, 1]; got {max_bad_line_fraction!r}.")
    if max_bad_line_fraction >= 1.0:
        return
    unknown = _unk_lines(samples, tokenizer) if tokenizer is not None else [[]] * len(samples)
    files = []  # (share, sample, bad lines) of each sampled file
    for sample, unknown_lines in zip(samples, unknown):
        if sample.lines:
            bad = sorted(sample.bad + [(n, "mostly [UNK] with this vocabulary", _shorten(text))
                                       for n, text in unknown_lines])
            files.append((len(bad) / sample.lines, sample, bad))
    too_bad = [f for f in files
               if f[0] > max_bad_line_fraction and len(f[2]) >= MIN_BAD_LINES]
    total_lines = sum(sample.lines for _, sample, _ in files)
    total_bad = sum(len(bad) for _, _, bad in files)
    if too_bad:
        too_bad.sort(key=lambda f: (-f[0], -len(f[2])))
        share, sample, bad = too_bad[0]
        where = f"{sample.path}: {share:.0%} of its first {sample.lines:,} non-blank lines"
        if len(too_bad) > 1:
            where += f" (and {len(too_bad) - 1} other file(s) above the threshold)"
    elif total_bad >= MIN_BAD_LINES and total_bad > max_bad_line_fraction * total_lines:
        share, sample, bad = max(files, key=lambda f: len(f[2]))
        where = (f"the corpus: {total_bad / total_lines:.0%} of the {total_lines:,} non-blank "
                 f"lines sampled from its {len(files):,} files (the first lines of each), "
                 f"{share:.0%} of {sample.path}'s")
    else:
        return
    reasons = {}
    for _, reason, _ in bad:
        reasons[reason] = reasons.get(reason, 0) + 1
    number, reason, text = bad[0]
    raise ValueError(
        f"{where} are bad ("
        + ", ".join(f"{count:,} {reason}" for reason, count in reasons.items())
        + f"), more than the {max_bad_line_fraction:.0%} allowed; e.g. {sample.path} line "
        f"{number} ({reason}): {text}. Is it a binary file, a file in another encoding "
        "(re-encode it as UTF-8), or text the vocabulary does not cover (learn one from this "
        "corpus with `keras-bert vocab`)? Leave such files out of the corpus, or pass "
        f"{flag} 1.0" + (f" (in Python: {parameter}=1.0)" if parameter else "")
        + " to use them anyway."
    )


def check_vocab_casing(tokens, lowercase, source):
    """Raises a `ValueError` when the casing of a pipeline contradicts its vocabulary.

    A clearly cased vocabulary (see `vocab_casing`) read with `lowercase=True` can never
    produce its capitalised tokens; a clearly uncased one read with `lowercase=False` turns
    every capitalised word into `[UNK]` or odd pieces. Small or mixed vocabularies pass.

    Example:

    ```python
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat"]
    check_vocab_casing(tokens, lowercase=True, source="vocab.txt")
    ```
    """
    casing = vocab_casing(tokens)
    if lowercase and casing.casing == "cased":
        raise ValueError(
            f"The vocabulary {source} is cased ({casing.evidence}) but the text pipeline "
            "lowercases (uncased, the default of `keras-bert pretrain`): every capitalised "
            "token would be unreachable. Pass --cased (in Python: lowercase=False), or use "
            "an uncased vocabulary (`keras-bert vocab --uncased`)."
        )
    if not lowercase and casing.casing == "uncased":
        raise ValueError(
            f"The vocabulary {source} is uncased (only {casing.evidence}) but the text "
            "pipeline keeps case (--cased / lowercase=False): capitalised words would become "
            "[UNK] or split oddly. Pass --uncased (in Python: lowercase=True), or use a cased "
            "vocabulary (`keras-bert vocab --cased`)."
        )
