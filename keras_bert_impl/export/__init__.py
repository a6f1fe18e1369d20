"""Fine-tuned models out as TF SavedModels for TF Serving: `export_saved_model` (raw-text
`serving_default` and token-id `serve_ids` signatures), atomic directory writes, and the op
checks that keep `serve_ids` free of TF-Text ops.

Importing this package does not import TensorFlow; exporting does.
"""

from keras_bert_impl.export.atomic import atomic_directory, check_writable
from keras_bert_impl.export.graph_ops import graph_op_names, tf_text_op_names
from keras_bert_impl.export.saved_model import export_saved_model
from keras_bert_impl.export.signatures import (
    ID_INPUTS,
    PAIR_TEXT_INPUTS,
    SERVE_IDS,
    SERVING_DEFAULT,
    SINGLE_TEXT_INPUTS,
)

__all__ = [
    "ID_INPUTS",
    "PAIR_TEXT_INPUTS",
    "SERVE_IDS",
    "SERVING_DEFAULT",
    "SINGLE_TEXT_INPUTS",
    "atomic_directory",
    "check_writable",
    "export_saved_model",
    "graph_op_names",
    "tf_text_op_names",
]
