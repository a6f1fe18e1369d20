"""Fine-tuned models out as TF SavedModels for TF Serving: `export_saved_model` (raw-text
`serving_default` and token-id `serve_ids` signatures), TF Serving's directory layout
(`export_for_serving`: `savedmodels/NAME/VERSION/`, `models.config`), warmup requests,
atomic directory writes, and the op checks that keep `serve_ids` free of TF-Text ops.

Importing this package does not import TensorFlow or Keras (`keras-bert export --help` and
`keras-bert predict` start without them); exporting does.
"""

import importlib

# public name -> defining module; loaded on first access (PEP 562).
_EXPORTS = {
    "atomic_directory": "atomic",
    "check_writable": "atomic",
    "graph_op_names": "graph_ops",
    "tf_text_op_names": "graph_ops",
    "export_saved_model": "saved_model",
    "serving_signatures": "saved_model",
    "ID_INPUTS": "signatures",
    "PAIR_TEXT_INPUTS": "signatures",
    "SERVE_IDS": "signatures",
    "SERVING_DEFAULT": "signatures",
    "SINGLE_TEXT_INPUTS": "signatures",
    "MODELS_CONFIG": "layout",
    "check_model_name": "layout",
    "export_for_serving": "layout",
    "model_names": "layout",
    "model_versions": "layout",
    "models_config_text": "layout",
    "next_version": "layout",
    "resolve_saved_model": "layout",
    "write_models_config": "layout",
    "WARMUP_FILE": "warmup",
    "encode_prediction_log": "warmup",
    "warmup_requests": "warmup",
    "write_warmup_requests": "warmup",
}

__all__ = [
    "ID_INPUTS",
    "MODELS_CONFIG",
    "PAIR_TEXT_INPUTS",
    "SERVE_IDS",
    "SERVING_DEFAULT",
    "SINGLE_TEXT_INPUTS",
    "WARMUP_FILE",
    "atomic_directory",
    "check_model_name",
    "check_writable",
    "encode_prediction_log",
    "export_for_serving",
    "export_saved_model",
    "graph_op_names",
    "model_names",
    "model_versions",
    "models_config_text",
    "next_version",
    "resolve_saved_model",
    "serving_signatures",
    "tf_text_op_names",
    "warmup_requests",
    "write_models_config",
    "write_warmup_requests",
]


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'keras_bert_impl.export' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
