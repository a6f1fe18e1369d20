"""keras_bert_impl: BERT for Keras 3.

Importing the package needs only Keras (any backend): the layers and models are
backend-agnostic. The text pipeline (`keras_bert_impl.text`), data, training and export
modules import TensorFlow themselves when used.
"""

from keras_bert_impl.config import PRESETS, BertConfig
from keras_bert_impl.models import BertEncoder, BertPretrainer

__version__ = "0.1.0"

__all__ = ["PRESETS", "BertConfig", "BertEncoder", "BertPretrainer"]
