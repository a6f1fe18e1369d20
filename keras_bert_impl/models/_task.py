"""Shared pieces of the task models: preset loading and saving."""


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
