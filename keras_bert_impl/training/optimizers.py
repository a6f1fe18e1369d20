"""Optimizers with BERT's weight-decay rule: no decay on LayerNorm parameters and biases.

Keras names LayerNorm parameters `gamma`/`beta` and biases `bias` (our MLM head's is
`output_bias`); the reference excludes exactly these (`LayerNorm`, `layer_norm`, `bias`).
"""

import keras

NO_DECAY_NAMES = ("gamma", "beta", "bias")


def create_adamw(learning_rate=1e-4, weight_decay=0.01, clipnorm=None, **kwargs):
    """AdamW as BERT uses it: betas (0.9, 0.999), epsilon 1e-6, no decay on LN and biases.

    Example:

    ```python
    optimizer = create_adamw(learning_rate=5e-5)
    ```
    """
    kwargs.setdefault("beta_1", 0.9)
    kwargs.setdefault("beta_2", 0.999)
    kwargs.setdefault("epsilon", 1e-6)
    optimizer = keras.optimizers.AdamW(
        learning_rate=learning_rate,
        weight_decay=weight_decay,
        global_clipnorm=clipnorm,
        **kwargs,
    )
    optimizer.exclude_from_weight_decay(var_names=list(NO_DECAY_NAMES))
    return optimizer
