"""Moved: importing this module raises an `ImportError` naming the new place."""

from keras_bert_impl._moved import moved

moved(__name__)
