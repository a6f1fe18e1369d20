"""In-graph BERT text processing (TensorFlow + TF-Text): tokenizer, vocab learning, packing,
masking, next-sentence pairs and the preprocessors that chain them.

Importing this package does not import TensorFlow; using its layers does (lazily).
"""

from keras_bert_impl.text.masking import MaskedLMMasker
from keras_bert_impl.text.nsp import document_instances
from keras_bert_impl.text.packing import BertPacker
from keras_bert_impl.text.preprocessors import (
    BertPreprocessor,
    BertPretrainingPreprocessor,
    make_pretraining_dataset,
)
from keras_bert_impl.text.tokenizer import SPECIAL_TOKENS, BertTokenizer, load_vocabulary
from keras_bert_impl.text.vocab import learn_vocab, write_vocab

__all__ = [
    "SPECIAL_TOKENS",
    "BertPacker",
    "BertPreprocessor",
    "BertPretrainingPreprocessor",
    "BertTokenizer",
    "MaskedLMMasker",
    "document_instances",
    "learn_vocab",
    "load_vocabulary",
    "make_pretraining_dataset",
    "write_vocab",
]


def __getattr__(name):
    if name == "pretraining_dataset":
        from keras_bert_impl._moved import moved

        moved("keras_bert_impl.text.pretraining_dataset")
    raise AttributeError(f"module 'keras_bert_impl.text' has no attribute {name!r}")
