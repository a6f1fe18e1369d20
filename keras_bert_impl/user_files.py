"""Text files users hand us (vocabularies, CoNLL and SQuAD data, JSON lines of inputs), opened
so that a wrong file is an error naming it, where it goes wrong and what to do.

`open_text(path, kind)` reads like `open(path, encoding="utf-8")` (universal newlines, a
file object to iterate or `json.load`), and also drops a UTF-8 byte-order mark (which editors
on Windows write, and which would otherwise stick to the first token or line). A file that is
not UTF-8 (a Latin-1 export, a binary passed by mistake) raises a `ValueError` naming the file,
the line, the offending byte and the fix, where `open` would raise a `UnicodeDecodeError`
naming neither the file nor the line, mid-way through reading.

Example:

```python
import os, tempfile
path = os.path.join(tempfile.mkdtemp(), "vocab.txt")
with open(path, "wb") as f:
    f.write(b"\\xef\\xbb\\xbf[PAD]\\r\\n[UNK]\\r\\n")
with open_text(path, "a vocabulary") as f:
    f.read().split("\\n")  # ['[PAD]', '[UNK]', '']
```
"""

import io
import os


def open_text(path, kind):
    """The UTF-8 text file `path` as a file object (a `io.StringIO` of its decoded text);
    `kind` says what the file should be (`"a vocabulary (one WordPiece token per line)"`), for
    the errors: a missing path or a directory is a `FileNotFoundError`, bytes that are not
    UTF-8 a `ValueError` with the line and byte."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        what = "is a directory" if os.path.isdir(path) else "does not exist"
        raise FileNotFoundError(f"{path} {what}; pass {kind}.")
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        start = error.start + (3 if raw.startswith(b"\xef\xbb\xbf") else 0)
        line = raw.count(b"\n", 0, start) + 1
        raise ValueError(
            f"{path} is not UTF-8 text: byte 0x{raw[start]:02x} on line {line} "
            f"({error.reason}). It should be {kind}: if it is, save it as UTF-8 (`iconv -f "
            f"latin1 -t utf-8 IN > OUT` converts a Latin-1 file), else pass the right file."
        ) from None
    return io.StringIO(text, newline=None)
