"""Shared pieces of the models built around a `BertEncoder`: config and presets."""

import keras
from keras import ops

from keras_bert_impl.layers.initializers import bert_initializer


def classification_logits(encoder, features, num_classes, dropout):
    """`dropout -> dense(num_classes)` on `features`, float32 logits; returns `(logits, dense)`.

    The head of `BertClassifier` (on the pooled output) and `BertTokenClassifier` (on every
    token), with `num_classes` validated.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}.")
    dropout_layer = keras.layers.Dropout(dropout, name="classifier_dropout")
    dense = keras.layers.Dense(
        num_classes,
        kernel_initializer=bert_initializer(encoder.config.initializer_range),
        dtype=encoder.dtype_policy,
        name="classifier",
    )
    return ops.cast(dense(dropout_layer(features)), "float32"), dense


class WrapsEncoder:
    """`get_config`/`from_config` for a functional model built in `__init__(encoder, ...)`.

    The config is the serialised encoder plus `head_config()` (the model's own `__init__`
    arguments); `from_config` rebuilds the encoder, then the model around it.
    """

    def head_config(self):
        return {}

    def get_config(self):
        return {
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            **self.head_config(),
            "name": self.name,
            "trainable": self.trainable,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["encoder"] = keras.saving.deserialize_keras_object(config["encoder"])
        return cls(**config)



class PresetMixin:
    """`from_preset` / `save_to_preset` for the task models (delegating to `convert`)."""

    @classmethod
    def from_preset(cls, path_or_name, config_overrides=None, **model_kwargs):
        """Builds the model from an architecture name, hub name or checkpoint directory.

        The encoder weights come from the checkpoint; the task head too when the checkpoint
        has one of the right kind (e.g. a HF `BertForSequenceClassification`), otherwise it
        starts fresh (with a warning). See `keras_bert_impl.convert.presets.load_preset`.
        """
        from keras_bert_impl.convert.presets import load_preset

        return load_preset(path_or_name, cls, config_overrides, **model_kwargs)

    def save_to_preset(self, preset_dir, tokenizer=None):
        """Writes our preset format (config, weights, optional vocab) to `preset_dir`."""
        from keras_bert_impl.convert.presets import save_preset

        return save_preset(self, preset_dir, tokenizer=tokenizer)
