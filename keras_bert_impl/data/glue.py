"""The GLUE tasks, read from GLUE's own TSV files or from TFDS, as `ClassificationData`.

`GLUE_TASKS` describes each task as data (`GlueTask`): its text and label columns, the label
values written in the files and the class names, its splits and its metrics (those of
`keras_bert_impl.metrics.glue.GLUE_METRICS`). `read_glue(task, directory, split)` reads one
split of a task folder as distributed by GLUE (`glue_data/SST-2/train.tsv`, ...):

| task | columns (header names) | labels |
|---|---|---|
| cola | no header: `source label original_label sentence` (test.tsv: `index sentence`) | 0/1 |
| sst2 | `sentence label` (test.tsv: `index sentence`) | 0/1 |
| mrpc | `Quality #1 ID #2 ID #1 String #2 String` (a UTF-8 BOM is skipped) | 0/1 |
| qqp | `id qid1 qid2 question1 question2 is_duplicate` | 0/1 |
| stsb | `index genre ... sentence1 sentence2 score` | a float in [0, 5] |
| mnli | `index ... sentence1 sentence2 ... gold_label` | contradiction/entailment/neutral |
| qnli | `index question sentence label` | entailment/not_entailment |
| rte, wnli | `index sentence1 sentence2 label` | entailment/not_entailment; 0/1 |

Columns are found by their header names, so the extra columns of some files (MNLI's parses and
annotator labels) do not matter. SST-2 is also read in the headerless SentEval layout
`label<TAB>sentence` (the copy in this repository's shared data): a first line that is not
GLUE's header but has that many fields is read as data. Splits are `train`, `dev` and `test`
(MNLI: `dev_matched`, `dev_mismatched`, `test_matched`, `test_mismatched`); test splits are
unlabelled (`labels` is `None`).

The files are read as GLUE and TFDS read them: tab-separated with **no quoting** (GLUE's texts
hold unbalanced `"`). A bad record (a wrong number of fields, an empty text, a label outside
the task's classes, a score that is not a number in [0, 5]) is a `ValueError` naming the file,
the line and the fix; a missing split file is a `FileNotFoundError` naming the path expected.

Class order: MNLI's classes are `contradiction, entailment, neutral` as in google-research/bert's
`run_classifier.py` and Hugging Face transformers' GLUE processors. TFDS (and HF `datasets`)
number them `entailment, neutral, contradiction`; `read_tfds_glue` maps its ids by name to ours,
so both readers give the same ids for the same example.
"""

import csv
import dataclasses
import os

from keras_bert_impl.data.classification import ClassificationData
from keras_bert_impl.data.table import read_rows
from keras_bert_impl.data.tfds_source import prepared_builder
from keras_bert_impl.metrics.glue import GLUE_METRICS

STSB_RANGE = (0.0, 5.0)


@dataclasses.dataclass(frozen=True)
class GlueTask:
    """How one GLUE task is laid out (data: see `GLUE_TASKS`).

    Args:
        name: the task key, e.g. `"sst2"`.
        text_columns: header names of the text segment columns, in order.
        label_column: header name of the label column.
        label_values: the labels as written in the files, by class id (`None`: a score).
        label_names: the class names, by class id (`None`: regression).
        splits: the split names; `"<split>.tsv"` is each one's file.
        headerless_columns: column names by position for files without a header row.
        id_column: header name of the example id column, where the file has one.
        tfds_text_features: TFDS `glue/<name>`'s text features, in segment order.
        metrics: the task's GLUE metrics (`keras_bert_impl.metrics.glue_scores`).

    Example:

    ```python
    GLUE_TASKS["mrpc"].text_columns  # ("#1 String", "#2 String")
    GLUE_TASKS["stsb"].label_names is None  # True
    ```
    """

    name: str
    text_columns: tuple
    label_column: str
    label_values: tuple | None
    label_names: tuple | None
    splits: tuple = ("train", "dev", "test")
    headerless_columns: tuple | None = None
    id_column: str | None = "index"
    tfds_text_features: tuple = ()
    metrics: tuple = ()

    @property
    def num_classes(self):
        """The number of classes, 1 for STS-B's score."""
        return 1 if self.label_names is None else len(self.label_names)


def _task(name, text_columns, label_column, label_values, label_names, **kwargs):
    kwargs.setdefault("tfds_text_features", text_columns)
    return GlueTask(name, tuple(text_columns), label_column, label_values, label_names,
                    metrics=GLUE_METRICS[name], **kwargs)


_BINARY = ("0", "1")
_NLI = ("entailment", "not_entailment")
_MNLI = ("contradiction", "entailment", "neutral")

GLUE_TASKS = {
    "cola": _task("cola", ["sentence"], "label", _BINARY, ("unacceptable", "acceptable"),
                  headerless_columns=("source", "label", "original_label", "sentence")),
    "sst2": _task("sst2", ["sentence"], "label", _BINARY, ("negative", "positive"),
                  headerless_columns=("label", "sentence")),
    "mrpc": _task("mrpc", ["#1 String", "#2 String"], "Quality", _BINARY,
                  ("not_equivalent", "equivalent"),
                  tfds_text_features=("sentence1", "sentence2")),
    "qqp": _task("qqp", ["question1", "question2"], "is_duplicate", _BINARY,
                 ("not_duplicate", "duplicate"), id_column="id"),
    "stsb": _task("stsb", ["sentence1", "sentence2"], "score", None, None),
    "mnli": _task("mnli", ["sentence1", "sentence2"], "gold_label", _MNLI, _MNLI,
                  splits=("train", "dev_matched", "dev_mismatched", "test_matched",
                          "test_mismatched"),
                  tfds_text_features=("premise", "hypothesis")),
    "qnli": _task("qnli", ["question", "sentence"], "label", _NLI, _NLI),
    "rte": _task("rte", ["sentence1", "sentence2"], "label", _NLI, _NLI),
    "wnli": _task("wnli", ["sentence1", "sentence2"], "label", _BINARY,
                  ("not_entailment", "entailment")),
}

_SPLIT_ALIASES = {"validation": "dev", "validation_matched": "dev_matched",
                  "validation_mismatched": "dev_mismatched"}


def glue_task(task):
    """The `GlueTask` of a task name, any case, dashes and underscores ignored ("SST-2").

    Example:

    ```python
    glue_task("STS-B").name  # "stsb"
    ```
    """
    key = str(task).lower().replace("-", "").replace("_", "")
    if key not in GLUE_TASKS:
        raise ValueError(f"Unknown GLUE task {task!r}; use one of {sorted(GLUE_TASKS)}.")
    return GLUE_TASKS[key]


def _split(spec, split):
    name = _SPLIT_ALIASES.get(str(split), str(split))
    if name not in spec.splits:
        choices = [s for s in spec.splits if s.startswith(name)] or list(spec.splits)
        raise ValueError(f"GLUE {spec.name} has no split {split!r}; use one of {choices}.")
    return name


def _header(spec, path, line, first):
    """The column names of a file whose first record is `first`, and whether it is data."""
    if set(spec.text_columns) <= set(first):
        return first, False
    if spec.headerless_columns and len(first) == len(spec.headerless_columns):
        return list(spec.headerless_columns), True
    expected = list(spec.text_columns) + [spec.label_column]
    layouts = f"a header naming the columns {expected}"
    if spec.headerless_columns:
        layouts += (f", or no header and {len(spec.headerless_columns)} columns "
                    f"{list(spec.headerless_columns)}")
    raise ValueError(f"{path}, line {line}: {first[:6]} is not a GLUE {spec.name} header; the file "
                     f"needs {layouts}. Pass the GLUE task folder of {spec.name}'s files.")


def read_glue(task, directory, split="train"):
    """Reads one split of a GLUE task folder (GLUE's TSV layout; see the module docstring).

    Args:
        task: `"cola"`, `"sst2"`, `"mrpc"`, `"qqp"`, `"stsb"`, `"mnli"`, `"qnli"`, `"rte"` or
            `"wnli"` (any case; `"SST-2"` works).
        directory: the task's folder, holding `train.tsv`, `dev.tsv`, `test.tsv` (MNLI:
            `dev_matched.tsv`, ...).
        split: `"train"`, `"dev"` (MNLI: `"dev_matched"`/`"dev_mismatched"`) or `"test"`
            (MNLI: `"test_matched"`/`"test_mismatched"`; unlabelled). `"validation"` means
            `"dev"`.

    Returns:
        A `ClassificationData` whose ids are the file's `index` (QQP: `id`) column, or
        `"<file>:<line>"` where the file has none.

    Example:

    ```python
    import os, tempfile
    folder = tempfile.mkdtemp()
    with open(os.path.join(folder, "dev.tsv"), "w") as f:
        f.write('index\\tsentence1\\tsentence2\\tlabel\\n'
                '0\\tA man "sleeps".\\tA person rests.\\tentailment\\n'
                '1\\tIt rains.\\tThe sun shines.\\tnot_entailment\\n')
    data = read_glue("rte", folder, split="dev")
    data.labels, data.label_names  # ([0, 1], ["entailment", "not_entailment"])
    data.texts[0][0]  # 'A man "sleeps".'
    ```
    """
    spec = glue_task(task)
    split = _split(spec, split)
    directory = os.fspath(directory)
    path = os.path.join(directory, f"{split}.tsv")
    if not os.path.isfile(path):
        present = (sorted(n for n in os.listdir(directory) if n.endswith(".tsv"))
                   if os.path.isdir(directory) else None)
        raise FileNotFoundError(
            f"GLUE {spec.name} {split} split: {path} does not exist"
            + (f" (the folder holds {present})" if present is not None else
               " (no such folder)")
            + f". Pass the folder of GLUE's {spec.name} files (e.g. glue_data/"
            f"{_FOLDERS[spec.name]}).")

    texts = tuple([] for _ in spec.text_columns)
    labels, ids = [], []
    header = columns = None
    base = os.path.basename(path)
    for line, fields in read_rows(path, "\t", csv.QUOTE_NONE):
        if header is None:
            header, is_data = _header(spec, path, line, [f.strip() for f in fields])
            columns = {name: i for i, name in enumerate(header)}
            labelled = spec.label_column in columns
            if not labelled and not split.startswith("test"):
                raise ValueError(f"{path}, line {line}: the {split} split needs the label column "
                                 f"{spec.label_column!r}; the header is {header}. Pass the "
                                 "original GLUE file.")
            if not is_data:
                continue
        if len(fields) != len(header):
            raise ValueError(
                f"{path}, line {line}: {len(fields)} fields where the file's columns "
                f"{header} are {len(header)}; GLUE files are read without quoting, so a tab "
                "inside a text splits it: fix or remove the line.")
        for segment, column in zip(texts, spec.text_columns):
            text = fields[columns[column]]
            if not text.strip():
                raise ValueError(f"{path}, line {line}: the text column {column!r} is empty; "
                                 "every example needs its text(s): fix or remove the line.")
            segment.append(text)
        if labelled:
            labels.append(_label(spec, path, line, fields[columns[spec.label_column]]))
        ids.append(fields[columns[spec.id_column]].strip()
                   if spec.id_column in columns else f"{base}:{line}")
    if not ids:
        raise ValueError(f"{path} holds no examples; pass the original GLUE file.")
    return ClassificationData(texts=texts, labels=labels if labelled else None,
                              label_names=None if spec.label_names is None
                              else list(spec.label_names),
                              ids=ids, path=path)


_FOLDERS = {"cola": "CoLA", "sst2": "SST-2", "mrpc": "MRPC", "qqp": "QQP", "stsb": "STS-B",
            "mnli": "MNLI", "qnli": "QNLI", "rte": "RTE", "wnli": "WNLI"}


def _label(spec, path, line, raw):
    value = raw.strip()
    if spec.label_values is None:
        try:
            score = float(value)
        except ValueError:
            score = None
        low, high = STSB_RANGE
        if score is None or not low <= score <= high:
            raise ValueError(f"{path}, line {line}: the {spec.label_column!r} {raw!r} is not a "
                             f"number in [{low:g}, {high:g}]; fix or remove the line.")
        return score
    if value not in spec.label_values:
        raise ValueError(f"{path}, line {line}: the label {raw!r} is not one of GLUE "
                         f"{spec.name}'s labels {list(spec.label_values)}; fix or remove the "
                         f"line (or check that this is the {spec.name} file).")
    return spec.label_values.index(value)


_TFDS_SPLITS = {"dev": "validation", "dev_matched": "validation_matched",
                "dev_mismatched": "validation_mismatched"}


def read_tfds_glue(task, split="train", data_dir=None):
    """Reads a split of TFDS's `glue/<task>` as `ClassificationData`.

    The same result as `read_glue` on GLUE's files: class ids in `GLUE_TASKS`' order (TFDS's
    ids are mapped by class name; MNLI's differ), `labels` `None` for a test split (TFDS
    writes -1 there), ids the TFDS `idx`.

    Args:
        task: a GLUE task name (see `read_glue`).
        split: a TFDS split (`"train"`, `"validation"`, `"test"`, MNLI's
            `"validation_matched"`, ...) or `read_glue`'s name for it (`"dev"`, ...).
        data_dir: the TFDS data folder (default: TFDS's). Preparing a dataset that is not
            there downloads it, which needs the network.

    Example:

    ```python
    import tensorflow_datasets as tfds
    with tfds.testing.mock_data(num_examples=4):
        data = read_tfds_glue("mnli", "validation_matched")
    len(data), data.num_segments  # (4, 2)
    data.label_names  # ["contradiction", "entailment", "neutral"]
    ```
    """
    import numpy as np
    import tensorflow_datasets as tfds

    spec = glue_task(task)
    name = f"glue/{spec.name}"
    splits = {ours: _TFDS_SPLITS.get(ours, ours) for ours in spec.splits}
    if split in splits.values():
        tfds_split = split
    elif split in splits:
        tfds_split = splits[split]
    else:
        raise ValueError(f"TFDS {name} has no split {split!r}; use one of "
                         f"{list(splits.values())}.")
    builder = prepared_builder(name, data_dir, "read GLUE's TSV files with read_glue")
    label_feature = builder.info.features["label"]
    remap = None
    if spec.label_names is not None:
        theirs = list(label_feature.names)
        if sorted(theirs) != sorted(spec.label_names):
            raise ValueError(f"TFDS {name} has classes {theirs}, not {list(spec.label_names)}; "
                             "this reader does not know that version of the dataset.")
        remap = np.array([spec.label_names.index(n) for n in theirs])

    texts = tuple([] for _ in spec.tfds_text_features)
    labels, ids = [], []
    dataset = builder.as_dataset(split=tfds_split, shuffle_files=False).batch(4096)
    for batch in tfds.as_numpy(dataset):
        for segment, feature in zip(texts, spec.tfds_text_features):
            segment.extend(t.decode("utf-8", errors="replace") for t in batch[feature])
        labels.append(batch["label"])
        ids.extend(str(int(i)) for i in batch["idx"])
    if not ids:
        raise ValueError(f"TFDS {name} split {tfds_split!r} is empty.")
    labels = np.concatenate(labels)
    unlabelled = labels == -1
    if unlabelled.all():
        labels = None
    elif unlabelled.any():
        raise ValueError(f"TFDS {name} split {tfds_split!r}: {int(unlabelled.sum())} of "
                         f"{len(labels)} examples have no label (-1); only test splits are "
                         "unlabelled.")
    elif remap is not None:
        labels = remap[labels.astype(np.int64)].tolist()
    else:
        labels = labels.astype(np.float64).tolist()
    return ClassificationData(texts=texts, labels=labels,
                              label_names=None if spec.label_names is None
                              else list(spec.label_names),
                              ids=ids, path=f"tfds:{name}:{tfds_split}")
