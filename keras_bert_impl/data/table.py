"""Classification examples from your own files: CSV, TSV or JSON Lines with named columns.

`read_table(path, text_columns=("text",), label_column="label")` returns a
`ClassificationData` (see `classification`). The format follows the file's extension:

- `.csv`: comma-separated, the first row names the columns, fields may be quoted
  (`"a, b"`, `""` for a quote; quoted fields may span lines), as Python's `csv` module reads
  them;
- `.tsv`: tab-separated, the first row names the columns, **no quoting** (a `"` is text, as in
  GLUE's files; a text cannot hold a tab or a newline);
- `.jsonl`: one JSON object per line, its keys the columns.

A UTF-8 byte order mark is skipped; blank lines are not records.

Labels:

- classification (default): labels are read as strings and mapped to ids through
  `label_names`. Without `label_names`, the file decides: integer labels `0..K-1` are the ids
  themselves (`label_names` `["0", ..., "K-1"]`, K = the largest label + 1), other labels are
  numbered in sorted order; either way the names are recorded in the result. Read a second
  file of the same task with the first one's names (`label_names=train.label_names`) so that
  a class missing from it does not shift the ids.
- regression (`regression=True`): labels are finite numbers, `label_names` is `None`.
  Numbers with fractions (`3.8`) read as classes without `label_names` are an error naming
  `regression=True`: as classes they would be one class per distinct score.
- unlabelled (`label_column=None`): `labels` is `None` (prediction inputs).

Every bad record (a missing column, an empty text, a label outside `label_names`, a
non-numeric score, invalid JSON or UTF-8) is a `ValueError` naming the file, the line and the
fix.
"""

import csv
import json
import math
import os
import re

from keras_bert_impl.data.classification import ClassificationData

FORMATS = (".csv", ".tsv", ".jsonl")


def read_rows(path, delimiter, quoting):
    """Yields `(line_number, fields)` for each non-blank record of a delimited UTF-8 file.

    `line_number` is the 1-based line the record starts on. A UTF-8 byte order mark is
    skipped. Invalid UTF-8 or a malformed record is a `ValueError` naming the file and line.

    Example:

    ```python
    import csv, os, tempfile
    path = os.path.join(tempfile.mkdtemp(), "a.tsv")
    with open(path, "w") as f:
        f.write("text\\tlabel\\n\\nhi there\\t1\\n")
    list(read_rows(path, "\\t", csv.QUOTE_NONE))  # [(1, ["text", "label"]), (3, ["hi there", "1"])]
    ```
    """
    path = os.fspath(path)
    line = 0
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f, delimiter=delimiter, quoting=quoting)
        try:
            for fields in reader:
                start, line = line + 1, reader.line_num
                if all(not field.strip() for field in fields):
                    continue
                yield start, fields
        except UnicodeDecodeError as error:
            raise ValueError(f"{path}, line {line + 1}: not valid UTF-8 ({error.reason} at "
                             f"byte {error.start} of a read block); save the file as "
                             "UTF-8.") from error
        except csv.Error as error:
            raise ValueError(f"{path}, line {line + 1}: malformed record ({error}); fix the "
                             "line (check its quotes).") from error


def _records(path, kind):
    """Yields `(line_number, {column: value})` of a .csv, .tsv or .jsonl file."""
    if kind == ".jsonl":
        with open(path, encoding="utf-8-sig") as f:
            line = 0
            try:
                for line, text in enumerate(f, start=1):
                    if not text.strip():
                        continue
                    try:
                        record = json.loads(text)
                    except json.JSONDecodeError as error:
                        raise ValueError(f"{path}, line {line}: not valid JSON ({error}); "
                                         "write one JSON object per line.") from error
                    if not isinstance(record, dict):
                        raise ValueError(f"{path}, line {line}: a JSON "
                                         f"{type(record).__name__}, not an object; write one "
                                         "object per line, e.g. "
                                         '{"text": "...", "label": "..."}.')
                    yield line, record
            except UnicodeDecodeError as error:
                raise ValueError(f"{path}, line {line + 1}: not valid UTF-8 "
                                 f"({error.reason}); save the file as UTF-8.") from error
        return
    if kind == ".csv":
        rows = read_rows(path, ",", csv.QUOTE_MINIMAL)
    else:
        rows = read_rows(path, "\t", csv.QUOTE_NONE)
    header = None
    for line, fields in rows:
        if header is None:
            header = [name.strip() for name in fields]
            continue
        if len(fields) != len(header):
            raise ValueError(f"{path}, line {line}: {len(fields)} fields, the header has "
                             f"{len(header)} ({header}); fix the line"
                             + (" (a text may not hold a tab: TSV has no quoting)"
                                if kind == ".tsv" else " (quote fields that hold a comma)")
                             + ".")
        yield line, dict(zip(header, fields))


def _label_key(value):
    """A label as the string it is matched by."""
    if isinstance(value, str):
        return value.strip()
    return json.dumps(value)


def _number(key):
    """The finite number a label's string spells, or `None`."""
    try:
        value = float(key)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _refuse_scores_as_classes(path, lines, keys):
    """A `ValueError` when classes are to be numbered from labels that are all numbers, some
    of them fractional (`3.8`, `0.25`): scores, which as classes would make one class per
    distinct value (a regression read as classification learns nothing)."""
    numbers = [_number(key) for key in keys]
    if any(n is None for n in numbers):
        return
    fractional = next((i for i, n in enumerate(numbers) if not n.is_integer()), None)
    if fractional is not None:
        raise ValueError(
            f"{path}: the labels are numbers, not classes (e.g. {keys[fractional]!r} at line "
            f"{lines[fractional]}; {len(set(keys))} distinct values among {len(keys)} "
            "examples); read them as scores with regression=True (keras-bert: --task "
            "csv_regression), or name the classes with label_names.")


def read_table(path, text_columns=("text",), label_column="label", label_names=None, *,
               regression=False, id_column=None):
    """Reads a `.csv`, `.tsv` or `.jsonl` file of texts and labels (see the module docstring).

    Args:
        path: the file; its extension picks the format.
        text_columns: the column(s) holding the text segments: one name (single texts) or
            two (sentence pairs), in order.
        label_column: the label column, or `None` for unlabelled data.
        label_names: class names by id; labels are matched to them as strings. `None` lets
            the file decide (integer labels are ids; others are numbered in sorted order).
        regression: labels are numbers (scores); `label_names` must then be `None`.
        id_column: a column of example ids; by default an example's id is `"<file>:<line>"`.

    Returns:
        A `ClassificationData`.

    Example:

    ```python
    import os, tempfile
    path = os.path.join(tempfile.mkdtemp(), "reviews.csv")
    with open(path, "w") as f:
        f.write('text,label\\n"Great, really",pos\\nDull,neg\\nFine,pos\\n')
    data = read_table(path)
    data.label_names, data.labels  # (["neg", "pos"], [1, 0, 1])
    data.texts[0][0]  # "Great, really"
    ```
    """
    path = os.fspath(path)
    kind = os.path.splitext(path)[1].lower()
    if kind not in FORMATS:
        raise ValueError(f"{path}: unknown format {kind or '(no extension)'!r}; read_table "
                         f"reads {', '.join(FORMATS)} files (rename it, or convert it).")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} does not exist; pass the path of a {kind} file.")
    if isinstance(text_columns, str):
        text_columns = (text_columns,)
    text_columns = tuple(text_columns)
    if not text_columns:
        raise ValueError("text_columns is empty; name the column(s) holding the text.")
    if regression and label_names is not None:
        raise ValueError("regression=True reads numeric labels; leave label_names=None "
                         "(keras-bert: drop --label-names).")
    if regression and label_column is None:
        raise ValueError("regression=True needs a label_column holding the scores.")
    needed = text_columns + ((label_column,) if label_column is not None else ()) + (
        (id_column,) if id_column is not None else ())

    texts = tuple([] for _ in text_columns)
    raw_labels, ids, lines = [], [], []
    base = os.path.basename(path)
    for line, record in _records(path, kind):
        missing = [c for c in needed if c not in record]
        if missing:
            where = "the header" if kind != ".jsonl" else f"line {line}"
            raise ValueError(f"{path}: {where} has no column(s) {missing}; its columns are "
                             f"{sorted(record)}. Pass text_columns=, label_column= (None if "
                             "unlabelled) or id_column= naming the file's columns.")
        for segment, column in zip(texts, text_columns):
            value = record[column]
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{path}, line {line}: column {column!r} is "
                                 f"{'empty' if isinstance(value, str) else repr(value)}; "
                                 "every example needs a non-empty text (fix or remove the "
                                 "line).")
            segment.append(value)
        if label_column is not None:
            raw_labels.append(record[label_column])
        ids.append(str(record[id_column]) if id_column is not None else f"{base}:{line}")
        lines.append(line)
    if not ids:
        raise ValueError(f"{path} holds no records; it needs a header row and at least one "
                         "example." if kind != ".jsonl" else f"{path} holds no records.")

    labels = None
    if label_column is not None and regression:
        labels = []
        for line, value in zip(lines, raw_labels):
            try:
                score = float(value)
            except (TypeError, ValueError):
                score = math.nan
            if isinstance(value, bool) or not math.isfinite(score):
                raise ValueError(f"{path}, line {line}: label {value!r} is not a finite "
                                 "number; regression=True needs numeric scores (fix the line, "
                                 "or read it as classes with regression=False).")
            labels.append(score)
    elif label_column is not None:
        keys = [_label_key(v) for v in raw_labels]
        if label_names is None:
            if all(re.fullmatch(r"\d+", k) for k in keys):
                label_names = [str(i) for i in range(max(int(k) for k in keys) + 1)]
                keys = [str(int(k)) for k in keys]
            else:
                _refuse_scores_as_classes(path, lines, keys)
                label_names = sorted(set(keys))
        label_names = [str(name) for name in label_names]
        index = {name: i for i, name in enumerate(label_names)}
        if len(index) != len(label_names):
            raise ValueError(f"label_names repeats a name: {label_names}; each class once.")
        labels = []
        for line, key in zip(lines, keys):
            if key not in index:
                hint = (" (the file's labels look like class ids: leave label_names=None, or "
                        "name the classes as they are written)" if key.isdigit() else "")
                raise ValueError(f"{path}, line {line}: label {key!r} is not one of "
                                 f"label_names {label_names}{hint}; fix the line or pass the "
                                 "full label_names.")
            labels.append(index[key])
    elif label_names is not None:
        label_names = [str(name) for name in label_names]
    return ClassificationData(texts=texts, labels=labels, label_names=label_names, ids=ids,
                              path=path)
