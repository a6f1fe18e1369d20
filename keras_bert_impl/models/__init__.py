"""Functional BERT models: the encoder and the models that attach heads to it.

Every model derives from `BertModelBase` (presets, config, XLA default); the ones built around
an encoder from `BertTask`.
"""

from keras_bert_impl.models.base import BertModelBase
from keras_bert_impl.models.classifier import BertClassifier
from keras_bert_impl.models.encoder import BertEncoder
from keras_bert_impl.models.pretrainer import BertPretrainer
from keras_bert_impl.models.span_labeler import BertSpanLabeler
from keras_bert_impl.models.task import BertTask
from keras_bert_impl.models.text_task import BertTextTask
from keras_bert_impl.models.token_classifier import BertTokenClassifier

__all__ = [
    "BertClassifier",
    "BertEncoder",
    "BertModelBase",
    "BertPretrainer",
    "BertSpanLabeler",
    "BertTask",
    "BertTextTask",
    "BertTokenClassifier",
]
