"""The splits of a fine-tuning task: read them, and hold out a validation split where the
data has none (the shared SST-2 and MRPC files are train splits only; the shared SQuAD file is
split by article).

`load_splits(task, data, ...)` returns `{"train": ..., "validation": ..., "test": ...}` (test
only where the data has one) of the task's data type: `ClassificationData`, `TaggingData`
or `SquadData`. The hold-out is a pure function of `(validation_fraction, seed)`, which a
finetune run records, so `keras-bert evaluate` reads the same split back.

Example:

```python
splits = load_splits("bbc", None, max_per_topic=10)
sorted(splits), len(splits["validation"])  # (['test', 'train', 'validation'], 5)
```
"""

import dataclasses
import os
import random

from keras_bert_impl.training.finetune_tasks import TASKS


def task_spec(task):
    """The `FinetuneTask` of a task name, or a `ValueError` listing the names."""
    if task not in TASKS:
        raise ValueError(f"Unknown task {task!r}; choose one of {sorted(TASKS)}.")
    return TASKS[task]


def _shuffled(count, seed):
    order = list(range(count))
    random.Random(seed).shuffle(order)
    return order


def _hold_out_rows(data, fraction, seed, subset):
    """`(rest, held_out)` of `data` (rows drawn by `seed`, kept in file order)."""
    if not 0 < fraction < 1:
        raise ValueError(f"validation_fraction must be in (0, 1); got {fraction}.")
    order = _shuffled(len(data), seed)
    held = set(order[:max(1, round(fraction * len(data)))])
    rest = [i for i in range(len(data)) if i not in held]
    return subset(data, rest), subset(data, sorted(held))


def _hold_out_classes(data, fraction, seed):
    """`(rest, held_out)` of `ClassificationData` keeping the class proportions
    (`stratified_split`); where the classes are too small to give any of them a held-out
    example, `round(fraction * len(data))` rows (at least one) drawn at random, as the other
    tasks hold out."""
    from keras_bert_impl.data.classification import stratified_split

    rest, held = stratified_split(data, [fraction], seed)
    if len(held) or len(data) < 2:
        return rest, held
    return _hold_out_rows(data, fraction, seed, lambda d, rows: d.subset(rows))


def _tagging_subset(data, indices):
    return dataclasses.replace(data, words=[data.words[i] for i in indices],
                               tags=[data.tags[i] for i in indices])


def _hold_out_articles(data, fraction, seed):
    """SQuAD: whole articles held out, so no paragraph is seen in training and validation."""
    from keras_bert_impl.data.squad import squad_subset

    titles = sorted({example.title for example in data.examples})
    if len(titles) < 2:
        return _hold_out_rows(data, fraction, seed,
                              lambda d, rows: squad_subset(d, [d.examples[i].id for i in rows]))
    order = [titles[i] for i in _shuffled(len(titles), seed)]
    held = set(order[:max(1, round(fraction * len(titles)))])
    keep = lambda inside: [e.id for e in data.examples if (e.title in held) == inside]  # noqa: E731
    return squad_subset(data, keep(False)), squad_subset(data, keep(True))


def _classification(task, spec, data, tfds, validation_fraction, seed, table_options):
    if spec.source == "bbc":
        from keras_bert_impl.data.bbc_news import read_bbc_classification

        train, validation, test = read_bbc_classification(
            validation_fraction=validation_fraction, test_fraction=validation_fraction,
            seed=seed, max_per_topic=table_options.get("max_per_topic"))
        return {"train": train, "validation": validation, "test": test}
    if spec.source == "table":
        from keras_bert_impl.data.table import read_table

        options = {k: v for k, v in table_options.items()
                   if k not in ("max_per_topic", "validation_path") and v}
        options["regression"] = spec.kind == "regression"
        train = read_table(data, **options)
        validation_path = table_options.get("validation_path")
        if validation_path:
            options["label_names"] = train.label_names
            return {"train": train, "validation": read_table(validation_path, **options)}
        rest, held = _hold_out_classes(train, validation_fraction, seed)
        return {"train": rest, "validation": held}
    from keras_bert_impl.data.glue import read_glue, read_tfds_glue

    dev = "dev_matched" if task == "mnli" else "dev"
    if tfds:
        dev = "validation_matched" if task == "mnli" else "validation"
        return {"train": read_tfds_glue(task, "train", data_dir=data),
                "validation": read_tfds_glue(task, dev, data_dir=data)}
    train = read_glue(task, data, "train")
    if os.path.isfile(os.path.join(data, f"{dev}.tsv")):
        return {"train": train, "validation": read_glue(task, data, dev)}
    rest, held = _hold_out_classes(train, validation_fraction, seed)
    return {"train": rest, "validation": held}


def _tagging(spec, data, validation_fraction, seed, label_names):
    """CoNLL files with CoNLL-2003's tags (source `conll2003`) or with `label_names`, by
    default the tags the files hold (source `conll`)."""
    from keras_bert_impl.data.conll import TAGS_FROM_DATA, read_conll, read_conll_directory

    if spec.source == "conll2003":
        if label_names:
            raise ValueError("--label-names is for task conll (any tag set); conll2003 has "
                             "CoNLL-2003's nine tags.")
    else:
        label_names = label_names or TAGS_FROM_DATA
    if os.path.isfile(data):
        splits = {"train": read_conll(data, label_names)}
    else:
        splits = read_conll_directory(data, label_names)
    if "valid" in splits:
        splits["validation"] = splits.pop("valid")
    else:
        splits["train"], splits["validation"] = _hold_out_rows(
            splits["train"], validation_fraction, seed, _tagging_subset)
    return splits


def _spans(data, tfds, validation_fraction, seed):
    from keras_bert_impl.data.squad import read_squad, read_tfds_squad

    if tfds:
        return {"train": read_tfds_squad("train", data_dir=data),
                "validation": read_tfds_squad("validation", data_dir=data)}
    if os.path.isdir(data):
        names = {"train": "train-v1.1.json", "validation": "dev-v1.1.json"}
        for version in ("v2.0", "v1.1"):
            found = {split: os.path.join(data, f"{split_name}-{version}.json")
                     for split, split_name in (("train", "train"), ("validation", "dev"))}
            if all(os.path.isfile(path) for path in found.values()):
                return {split: read_squad(path) for split, path in found.items()}
        raise FileNotFoundError(
            f"{data} holds no SQuAD pair {list(names.values())} (or the v2.0 pair); pass the "
            "folder with both, or one SQuAD JSON file to split by article.")
    train, validation = _hold_out_articles(read_squad(data), validation_fraction, seed)
    return {"train": train, "validation": validation}


def load_splits(task, data, tfds=False, validation_fraction=0.1, seed=0, **table_options):
    """`{"train", "validation"[, "test"]}` of `task` read from `data` (a folder or file; a
    TFDS data_dir with `tfds=True`; ignored for `bbc`). `table_options` are `read_table`'s
    (`text_columns`, `label_column`, `label_names`, `validation_path`) for `csv`,
    `label_names` (the tags in id order) for `conll`, and `max_per_topic` for `bbc`."""
    spec = task_spec(task)
    if spec.needs_data and not tfds:
        if not data:
            raise ValueError(f"--data is required for task {task!r}: the folder (or file) of "
                             "its data.")
        if not os.path.exists(data):
            raise FileNotFoundError(f"{data} does not exist; pass the {task} data folder "
                                    "(or file) with --data.")
    if spec.kind in ("classification", "regression"):
        splits = _classification(task, spec, data, tfds, validation_fraction, seed,
                                 table_options)
    elif spec.kind == "tagging":
        splits = _tagging(spec, data, validation_fraction, seed,
                          table_options.get("label_names"))
    else:
        splits = _spans(data, tfds, validation_fraction, seed)
    for name in ("train", "validation"):
        if not len(splits[name]):
            sizes = ", ".join(f"{k} {len(v)}" for k, v in splits.items())
            raise ValueError(
                f"The {name} split of {task} is empty ({sizes} examples, validation_fraction "
                f"{validation_fraction}); give more examples (--max-per-topic for bbc), a "
                f"larger --validation-fraction, or a validation file.")
    return splits


def limit(data, count):
    """The first `count` examples of a split (`None`: all), for quick runs."""
    if count is None or count >= len(data):
        return data
    if hasattr(data, "subset"):
        return data.subset(range(count))
    if hasattr(data, "words"):
        return _tagging_subset(data, range(count))
    from keras_bert_impl.data.squad import squad_subset

    return squad_subset(data, [e.id for e in data.examples[:count]])
