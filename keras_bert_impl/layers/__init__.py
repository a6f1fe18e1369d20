"""Keras 3 layers of BERT (backend-agnostic: `keras.ops` only, no TensorFlow)."""

from keras_bert_impl.layers.dropout import Dropout
from keras_bert_impl.layers.embeddings import BertEmbeddings
from keras_bert_impl.layers.heads import MaskedLMHead, NextSentenceHead, Pooler
from keras_bert_impl.layers.lora import LoraDense
from keras_bert_impl.layers.normalization import LayerNorm
from keras_bert_impl.layers.transformer import TransformerEncoderBlock

__all__ = [
    "BertEmbeddings",
    "Dropout",
    "LayerNorm",
    "LoraDense",
    "MaskedLMHead",
    "NextSentenceHead",
    "Pooler",
    "TransformerEncoderBlock",
]
