"""In-graph BERT text processing (TensorFlow + TF-Text): tokenizer, vocab learning, packing,
masking, next-sentence pairs and the preprocessors that chain them.

Importing this package does not import TensorFlow; using its layers does (lazily).
"""

import importlib

# public name -> defining module; loaded on first access (PEP 562), so that importing a
# module of this package (e.g. `keras-bert vocab --help` importing `text.vocab_cli`) does not
# import Keras and TensorFlow.
_EXPORTS = {
    "MaskedLMMasker": "masking",
    "document_instances": "nsp",
    "BertPacker": "packing",
    "BertPreprocessor": "preprocessors",
    "BertClassifierPreprocessor": "classifier_preprocessor",
    "BertTokenClassifierPreprocessor": "token_classifier_preprocessor",
    "BertSpanPreprocessor": "span_preprocessor",
    "decode_tags": "tag_decoding",
    "decode_spans": "span_decoding",
    "BertPretrainingPreprocessor": "preprocessors",
    "make_pretraining_dataset": "preprocessors",
    "SPECIAL_TOKENS": "tokenizer",
    "BertTokenizer": "tokenizer",
    "load_vocabulary": "tokenizer",
    "learn_vocab": "vocab",
    "write_vocab": "vocab",
}

__all__ = [
    "SPECIAL_TOKENS",
    "BertClassifierPreprocessor",
    "BertPacker",
    "BertPreprocessor",
    "BertPretrainingPreprocessor",
    "BertSpanPreprocessor",
    "BertTokenClassifierPreprocessor",
    "BertTokenizer",
    "MaskedLMMasker",
    "decode_spans",
    "decode_tags",
    "document_instances",
    "learn_vocab",
    "load_vocabulary",
    "make_pretraining_dataset",
    "write_vocab",
]


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    if name == "pretraining_dataset":
        from keras_bert_impl._moved import moved

        moved("keras_bert_impl.text.pretraining_dataset")
    raise AttributeError(f"module 'keras_bert_impl.text' has no attribute {name!r}")
