"""Readers of the data our jobs train on: pretraining corpora (`corpus`, `bbc_news`,
`synthetic`) and the fine-tuning tasks, each returning one data type per kind of task:

- `ClassificationData` (`classification`): GLUE task folders and TFDS `glue/*` (`glue`),
  CSV/TSV/JSONL with named columns (`table`), BBC News topics (`bbc_news`);
- `TaggingData` (`conll`): CoNLL column files (CoNLL-2003's tags, or any tag set);
- `SquadData` (`squad`): SQuAD v1.1/v2.0 JSON and TFDS `squad`.

A bad record is an error naming the file and the line (or question id). Importing this
package imports nothing heavy; names load on first use.
"""

import importlib

_EXPORTS = {
    "ClassificationData": "classification",
    "stratified_split": "classification",
    "GLUE_TASKS": "glue",
    "read_glue": "glue",
    "read_tfds_glue": "glue",
    "read_table": "table",
    "read_bbc_classification": "bbc_news",
    "TaggingData": "conll",
    "read_conll": "conll",
    "read_conll_directory": "conll",
    "tag_names": "conll",
    "TAGS_FROM_DATA": "conll",
    "SquadData": "squad",
    "SquadExample": "squad",
    "read_squad": "squad",
    "read_tfds_squad": "squad",
    "squad_subset": "squad",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'keras_bert_impl.data' has no attribute {name!r}")
