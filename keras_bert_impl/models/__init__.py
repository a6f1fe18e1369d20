"""Functional BERT models: the encoder and the models that attach heads to it."""

from keras_bert_impl.models.encoder import BertEncoder
from keras_bert_impl.models.pretrainer import BertPretrainer

__all__ = ["BertEncoder", "BertPretrainer"]
