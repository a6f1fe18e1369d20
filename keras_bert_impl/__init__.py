"""keras_bert_impl: BERT for Keras 3.

Importing the package needs only Keras (any backend): the layers and models are
backend-agnostic. The text pipeline (`keras_bert_impl.text`), data, training and export
modules import TensorFlow themselves when used. Public names load on first access, so that
`keras-bert --help` does not start Keras.
"""

import importlib

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "PRESETS": "keras_bert_impl.config",
    "BertConfig": "keras_bert_impl.config",
    "BertEncoder": "keras_bert_impl.models",
    "BertPretrainer": "keras_bert_impl.models",
    "BertClassifier": "keras_bert_impl.models",
    "BertTokenClassifier": "keras_bert_impl.models",
    "BertSpanLabeler": "keras_bert_impl.models",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'keras_bert_impl' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
