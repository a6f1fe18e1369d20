"""The one weight initializer BERT uses everywhere."""

import keras


def bert_initializer(stddev=0.02):
    """Truncated normal (cut at 2 stddev) with BERT's `initializer_range` as stddev."""
    return keras.initializers.TruncatedNormal(stddev=stddev)
