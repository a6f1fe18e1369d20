"""Evaluation metrics of the fine-tuning tasks, as their authors define them.

Pure Python and NumPy (no TensorFlow, no Keras), at the ground of the package:

- `squad`: the official SQuAD v1.1 / v2.0 exact match and F1 (`squad_scores`).
- `tagging`: entity-level precision / recall / F1 as `seqeval` (`entity_scores`).
- `glue`: accuracy, F1, Matthews correlation, Pearson and Spearman, and the metrics of each
  GLUE task (`glue_scores`).
- `keras_metrics` (imports Keras, so loaded on first use): the streamable ones as Keras
  metrics, `MatthewsCorrelation`, `BinaryF1`, `PearsonCorrelation`.

```python
from keras_bert_impl.metrics import entity_scores, glue_scores, squad_scores
glue_scores("sst2", [1, 0, 1, 1], [1, 0, 0, 1])["accuracy"]  # 0.75
entity_scores(["B-PER", "I-PER", "O"], ["B-PER", "I-PER", "O"])["f1"]  # 1.0
```
"""

from keras_bert_impl.metrics.glue import (
    GLUE_METRICS,
    accuracy,
    f1,
    glue_scores,
    matthews_corrcoef,
    pearson,
    spearman,
)
from keras_bert_impl.metrics.squad import (
    exact_match_score,
    f1_score,
    normalize_answer,
    squad_scores,
)
from keras_bert_impl.metrics.tagging import SCHEMES, entity_scores, get_entities, scheme_of

__all__ = [
    "GLUE_METRICS", "SCHEMES",
    "accuracy", "f1", "glue_scores", "matthews_corrcoef", "pearson", "spearman",
    "exact_match_score", "f1_score", "normalize_answer", "squad_scores",
    "entity_scores", "get_entities", "scheme_of",
    "MatthewsCorrelation", "BinaryF1", "PearsonCorrelation",
]

_KERAS_METRICS = ("MatthewsCorrelation", "BinaryF1", "PearsonCorrelation")


def __getattr__(name):
    if name in _KERAS_METRICS:
        from keras_bert_impl.metrics import keras_metrics

        return getattr(keras_metrics, name)
    raise AttributeError(f"module 'keras_bert_impl.metrics' has no attribute {name!r}")
