"""In-graph BERT text processing (TensorFlow + TF-Text): tokenizer, vocab learning, packing,
masking, next-sentence pairs and the preprocessors that chain them.

Importing this package imports TensorFlow; `keras_bert_impl` itself never imports it.
"""

from keras_bert_impl.text.tokenizer import SPECIAL_TOKENS, BertTokenizer, load_vocabulary

__all__ = ["SPECIAL_TOKENS", "BertTokenizer", "load_vocabulary"]
