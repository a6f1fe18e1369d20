"""The tiny vocabulary and model sizes the raw-text task tests share."""

import keras

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "film", "paris", "john",
         "lives", "in", "where", "does", "?", "."]
TINY = dict(vocab_size=len(VOCAB), num_layers=1, hidden_size=16, num_heads=2,
            intermediate_size=32)
# Tiny models compile faster without XLA on TensorFlow; JAX runs best jitted.
QUICK = {"jit_compile": False} if keras.backend.backend() == "tensorflow" else {}
