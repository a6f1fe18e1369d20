"""The fine-tuning tasks of `keras-bert finetune` / `evaluate`, as data.

Each task names its kind (which model and preprocessor), where its data comes from, and the
metric that picks the best epoch. Reading splits, holding out a validation split where the
data has none, and scoring predictions live in `finetune_data` and `finetune_scoring`.

Example:

```python
TASKS["mrpc"].kind, TASKS["mrpc"].best_metric  # ('classification', 'f1')
TASKS["conll2003"].model_class  # 'BertTokenClassifier'
TASKS["csv_regression"].kind, TASKS["csv_regression"].best_metric  # ('regression', 'pearson')
```
"""

import dataclasses

KIND_MODELS = {
    "classification": "BertClassifier",
    "regression": "BertClassifier",
    "tagging": "BertTokenClassifier",
    "spans": "BertSpanLabeler",
}


@dataclasses.dataclass(frozen=True)
class FinetuneTask:
    """One task: `kind` (`classification`, `regression`, `tagging`, `spans`), `source` (the
    reader: `glue`, `conll2003`, `conll`, `squad`, `bbc`, `table`), the metric that picks the
    best epoch, and the default sequence length.

    Example:

    ```python
    task = FinetuneTask("sick", "classification", "table", "accuracy")
    task.model_class  # 'BertClassifier'
    ```
    """

    name: str
    kind: str
    source: str
    best_metric: str
    sequence_length: int = 128
    needs_data: bool = True

    @property
    def model_class(self):
        return KIND_MODELS[self.kind]


def _glue(name, metric, kind="classification"):
    return FinetuneTask(name, kind, "glue", metric)


TASKS = {
    "sst2": _glue("sst2", "accuracy"),
    "mrpc": _glue("mrpc", "f1"),
    "qnli": _glue("qnli", "accuracy"),
    "mnli": _glue("mnli", "accuracy"),
    "rte": _glue("rte", "accuracy"),
    "cola": _glue("cola", "matthews_corrcoef"),
    "stsb": _glue("stsb", "pearson", kind="regression"),
    "conll2003": FinetuneTask("conll2003", "tagging", "conll2003", "f1"),
    # Any tagging corpus in CoNLL's column format; its tags are those its files hold (or
    # --label-names).
    "conll": FinetuneTask("conll", "tagging", "conll", "f1"),
    "squad": FinetuneTask("squad", "spans", "squad", "f1", sequence_length=384),
    "bbc": FinetuneTask("bbc", "classification", "bbc", "accuracy", sequence_length=256,
                        needs_data=False),
    "csv": FinetuneTask("csv", "classification", "table", "accuracy"),
    # A CSV/TSV/JSONL file whose labels are scores (STS-B-like ratings, prices): one output,
    # mean squared error, scored by Pearson's (and Spearman's) correlation.
    "csv_regression": FinetuneTask("csv_regression", "regression", "table", "pearson"),
}

# The tf.distribute strategies of finetune (`training.distribute.create_strategy` names): it
# runs on one machine, where its data is read whole and scored after every epoch.
FINETUNE_STRATEGIES = ("default", "mirrored")

# The seeds' recommended fine-tuning ranges (BERT paper, appendix A.3).
RECOMMENDED = "batch size 16 or 32; learning rate 5e-5, 3e-5 or 2e-5; 2 to 4 epochs"
