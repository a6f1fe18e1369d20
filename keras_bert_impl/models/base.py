"""`BertModelBase`: what every model of ours shares — presets, config, input checks.

Every model (`BertEncoder`, `BertPretrainer`, `BertClassifier`, `BertTokenClassifier`,
`BertSpanLabeler`) is a functional `keras.Model` built in `__init__` and derives from this
one class, which holds once:

* `from_preset(preset, config_overrides=None, load_weights=True, **kwargs)`: an
  architecture name (`bert_tiny` ... `bert_large`: random weights, said once in the log), a
  checkpoint directory of any format, a pretraining run directory, or a preset name with
  weights (`keras_bert_impl.presets.list_presets()`). `kwargs` are the model's own
  constructor arguments (`num_classes`, `dropout` of a classifier) or, when the model has no
  argument of that name, `BertConfig` fields (`vocab_size=...`); anything else is a
  `TypeError`. The checkpoint's vocabulary and casing travel with the model
  (`model.tokenizer_spec`, `model.build_tokenizer()`).
* `save_to_preset(dir)`: our preset format, the vocabulary included whenever the model
  carries one.
* `get_config` / `from_config` from `constructor_arguments()`. `compile()` is Keras' own:
  `jit_compile="auto"` turns XLA on with a GPU or TPU and leaves it off on a CPU-only
  TensorFlow machine, where the `bert_tiny` train step is faster without (280 vs 339 ms at
  batch 32 x 128 on 2 cores) and skips the compilation.
* input checks: an eager call on NumPy arrays / Python lists and `fit`, `evaluate`,
  `predict`, `*_on_batch` on such host data raise a `ValueError` naming the input, value,
  position, limit and fix for token ids outside `[0, vocab_size)`, segment ids outside
  `[0, type_vocab_size)`, sequences longer than `max_position_embeddings` and
  `mask_positions` outside `[0, seq_len)` (which the model would otherwise turn into wrong
  numbers or NaN without a word). Symbolic tensors, backend tensors and `tf.data` pass
  unchecked; see `keras_bert_impl.models.input_checks`.

Example:

```python
import os, tempfile
from keras_bert_impl.models import BertClassifier, BertEncoder
encoder = BertEncoder.from_preset("bert_tiny", vocab_size=100)  # random weights
path = os.path.join(tempfile.mkdtemp(), "tiny")
encoder.save_to_preset(path)
classifier = BertClassifier.from_preset(path, num_classes=3)  # encoder weights + new head
classifier.num_classes  # 3
```
"""

import dataclasses
import functools
import inspect
import logging

import keras

from keras_bert_impl.config import PRESETS, BertConfig
from keras_bert_impl.keras_private import OneReplicaBuildHook
from keras_bert_impl.layers.transformer import DEFAULT_LORA_TARGETS
from keras_bert_impl.models.input_checks import (
    InputLimits,
    check_data,
    check_inputs,
    checks_enabled,
    is_host_data,
)
from keras_bert_impl.models.lora import (
    enable_lora,
    load_lora_weights,
    lora_config,
    merge_lora,
    save_lora_weights,
)
from keras_bert_impl.models.quantize import quantization_mode, quantize
from keras_bert_impl.models.weights import assign_weights, extract_weights
from keras_bert_impl.presets.checkpoint import read_checkpoint
from keras_bert_impl.presets.ours import write_preset
from keras_bert_impl.presets.tokenizer_spec import as_tokenizer_spec

logger = logging.getLogger("keras_bert_impl")
_ANNOUNCED_RANDOM = set()
_CONFIG_FIELDS = tuple(f.name for f in dataclasses.fields(BertConfig))


class BertModelBase(OneReplicaBuildHook, keras.Model):
    """The base of every model of ours: presets, config round trip, input checks.

    Subclasses define `constructor_arguments()` (their `__init__` arguments as stored by
    `get_config`) and `from_bert_config(config, **kwargs)` (a new model of a `BertConfig`).

    Example:

    ```python
    from keras_bert_impl.models import BertEncoder
    encoder = BertEncoder.from_preset("bert_tiny")
    encoder.count_params() > 4_000_000  # True
    ```
    """

    tokenizer_spec = None
    # Heads (`"mlm"`, `"nsp"`, `"pooler"`, `"classifier"`, ...) that `from_preset` left at
    # random values: not in the checkpoint, or there with other shapes (a warning says so).
    random_heads = ()

    # --- subclass contract --------------------------------------------------------------
    def get_encoder(self):
        """The `BertEncoder` inside this model (the model itself for the encoder).

        A method, not a property: Keras' saving walks every attribute of a model."""
        return self.encoder

    def constructor_arguments(self):
        """`__init__` arguments other than `name`/`trainable`, as `get_config` stores them."""
        raise NotImplementedError

    @classmethod
    def from_bert_config(cls, config, encoder_weights_follow=False, **kwargs):
        """A new model of `config` (a `BertConfig`) with `kwargs` for `__init__`.

        `encoder_weights_follow=True` (loaders, which overwrite every encoder weight or fail)
        skips drawing random encoder weights (`weights_will_be_loaded`); heads keep their
        real initialisation, since a checkpoint may lack them.
        """
        raise NotImplementedError

    # --- config -------------------------------------------------------------------------
    def get_config(self):
        arguments = {
            key: keras.saving.serialize_keras_object(value)
            if isinstance(value, keras.layers.Layer)
            else value
            for key, value in self.constructor_arguments().items()
        }
        return {**arguments, "name": self.name, "trainable": self.trainable}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key, value in config.items():
            if isinstance(value, dict) and "class_name" in value and "config" in value:
                config[key] = keras.saving.deserialize_keras_object(value)
        return cls(**config)

    # --- compile ------------------------------------------------------------------------
    def compile_from_config(self, config):
        """Re-compiles a loaded `.keras` model with what `compile()` recorded (optimizer with
        its schedule, loss, metrics); the optimizer state loads after. (Keras skips this for
        models whose `compile` is overridden, as `BertPretrainer`'s and the task models' are.)"""
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if self.built:
            self.optimizer.build(self.trainable_variables)

    # --- LoRA (keras_bert_impl.models.lora) --------------------------------------------
    def enable_lora(self, rank, targets=DEFAULT_LORA_TARGETS, alpha=None):
        """Low-rank adapters on the encoder's `targets` (`"query"`, `"key"`, `"value"`,
        `"attention_output"`, `"intermediate"`, `"output"`; a list or a comma-separated
        string), scaled by `alpha / rank` (`alpha` defaults to `rank`); the rest of the
        encoder is frozen, a head stays trainable. Outputs do not change until training.
        keras-hub's `backbone.enable_lora(rank)`; call it before `compile()`."""
        enable_lora(self, rank, targets, alpha)

    def lora_config(self):
        """`{"rank", "targets", "alpha"}` of the enabled LoRA adapters, or `None`."""
        return lora_config(self)

    def merge_lora(self):
        """Folds the adapters into the kernels and removes them: a plain model with the
        same outputs (for export), the whole encoder trainable again."""
        merge_lora(self)

    def save_lora_weights(self, path):
        """Writes only what LoRA fine-tuning trains (the adapters, and the head of a task
        model) with the LoRA settings to `path` (safetensors, e.g. `run.lora.safetensors`)."""
        return save_lora_weights(self, path)

    def load_lora_weights(self, path):
        """Loads a `save_lora_weights` file onto this model (the base it was trained from,
        after `enable_lora` with the file's settings); a mismatch of rank, targets, alpha,
        names or shapes is an error naming it, raised before any weight changes."""
        load_lora_weights(self, path)

    # --- int8 (keras_bert_impl.models.quantize) -----------------------------------------
    def quantize(self, mode=None, config=None, **kwargs):
        """Stores the weights of every dense layer (the fused qkv and the other projections,
        pooler, heads) and the token embedding table as int8 with a float32 scale per
        channel: Keras' `Model.quantize`, with our embeddings and a `.keras` round trip that
        keeps it. `mode="int8"` only; a model with LoRA adapters merges them first. For
        serving: outputs stay close to the float model's, training is not supported."""
        quantize(self, mode, config, functools.partial(super().quantize, **kwargs))

    # --- input checks (keras_bert_impl.models.input_checks) -----------------------------
    def input_limits(self):
        """The `InputLimits` (vocab_size, type_vocab_size, max_position_embeddings) that
        inputs are checked against: the encoder's config."""
        return InputLimits.from_config(self.get_encoder().config)

    def _check_host_data(self, method, x, y=None):
        if checks_enabled() and (is_host_data(x) or isinstance(y, dict)):
            check_data(x, self.input_limits(), y=y, where=f"{type(self).__name__}.{method}: ")

    def __call__(self, *args, **kwargs):
        # Only host data (NumPy arrays, Python lists) is read: symbolic tensors (functional
        # construction) and backend tensors (inside fit's traced step) pass straight on.
        if checks_enabled():
            inputs = args[0] if args else kwargs.get("inputs")
            if is_host_data(inputs):
                check_inputs(inputs, self.input_limits(), where=f"{type(self).__name__}(inputs): ")
        return super().__call__(*args, **kwargs)

    def fit(self, x=None, y=None, *args, **kwargs):
        self._check_host_data("fit()", x, y)
        # validation_data is fit's 8th argument (6th after x and y).
        validation = kwargs.get("validation_data", args[5] if len(args) > 5 else None)
        if validation is not None:
            self._check_host_data("fit(validation_data=...)", validation)
        return super().fit(x, y, *args, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        self._check_host_data("evaluate()", x, y)
        return super().evaluate(x, y, *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        self._check_host_data("predict()", x)
        return super().predict(x, *args, **kwargs)

    def train_on_batch(self, x, y=None, *args, **kwargs):
        self._check_host_data("train_on_batch()", x, y)
        return super().train_on_batch(x, y, *args, **kwargs)

    def test_on_batch(self, x, y=None, *args, **kwargs):
        self._check_host_data("test_on_batch()", x, y)
        return super().test_on_batch(x, y, *args, **kwargs)

    def predict_on_batch(self, x):
        self._check_host_data("predict_on_batch()", x)
        return super().predict_on_batch(x)

    # --- presets ------------------------------------------------------------------------
    @classmethod
    def _head_parameters(cls):
        """The `__init__` parameters a caller of `from_preset` may pass (not the encoder or
        config, which `from_preset` builds)."""
        return [
            p
            for p in list(inspect.signature(cls.__init__).parameters.values())[1:]
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
            and p.name not in ("encoder", "config")
        ]

    @classmethod
    def _split_kwargs(cls, kwargs, config_overrides):
        own = [p.name for p in cls._head_parameters()]
        model_kwargs, overrides = {}, dict(config_overrides or {})
        for key, value in kwargs.items():
            if key in own:
                model_kwargs[key] = value
            elif key in _CONFIG_FIELDS:
                overrides[key] = value
            else:
                raise TypeError(
                    f"{cls.__name__}.from_preset() got an unexpected keyword argument {key!r}; "
                    f"it takes the model's arguments {own} and BertConfig fields "
                    f"{list(_CONFIG_FIELDS)}."
                )
        unknown = sorted(set(overrides) - set(_CONFIG_FIELDS))
        if unknown:
            raise TypeError(
                f"config_overrides of {cls.__name__}.from_preset() has unknown BertConfig "
                f"field(s) {unknown}; the fields are {list(_CONFIG_FIELDS)}."
            )
        return model_kwargs, overrides, own

    @classmethod
    def _require_arguments(cls, model_kwargs, preset):
        missing = [
            p.name
            for p in cls._head_parameters()
            if p.default is p.empty and p.name not in model_kwargs
        ]
        if missing:
            raise TypeError(
                f"{cls.__name__}.from_preset({preset!r}) needs "
                + ", ".join(f"{name}=" for name in missing)
                + " (the preset does not decide it), e.g. "
                f"{cls.__name__}.from_preset({preset!r}, {missing[0]}=2)."
            )

    @classmethod
    def from_preset(cls, preset, config_overrides=None, load_weights=True, **kwargs):
        """Builds the model from a preset name or a checkpoint directory.

        Args:
            preset: an architecture name of `keras_bert_impl.config.PRESETS` (`"bert_tiny"`
                ... `"bert_large"`: random weights), a directory in our preset format (a
                pretraining run directory is one), Hugging Face's (`config.json` +
                `model.safetensors`) or Google's (`bert_config.json` + `bert_model.ckpt`),
                or a name of `keras_bert_impl.presets.list_presets()`.
            config_overrides: `BertConfig` fields to change (e.g. `{"dropout": 0.0}`).
            load_weights: `False` builds the checkpoint's architecture with random weights.
            **kwargs: the model's constructor arguments (`num_classes`, `dropout` of a
                classifier), or `BertConfig` fields for names the model does not take.

        Returns:
            The model. Encoder weights come from the checkpoint; heads too when it has them
            (a head it lacks starts fresh, with a warning, and so does one of other shapes
            where `num_classes` is given: a fine-tuned classifier of 2 classes starts a
            3-class one with `num_classes=3`, as in keras-hub). The checkpoint's vocabulary
            and casing are kept as `model.tokenizer_spec`.
        """
        extras = {k: kwargs.pop(k) for k in cls.preset_extras if k in kwargs}
        given = set(kwargs)
        model_kwargs, overrides, own = cls._split_kwargs(kwargs, config_overrides)
        if isinstance(preset, str) and preset in PRESETS:
            if preset not in _ANNOUNCED_RANDOM:
                _ANNOUNCED_RANDOM.add(preset)
                logger.warning(
                    "%s.from_preset(%r): %r is an architecture name, so the weights are "
                    "random (untrained). For trained weights pass a checkpoint directory or "
                    "one of keras_bert_impl.presets.list_presets().",
                    cls.__name__, preset, preset,
                )
            cls._require_arguments(model_kwargs, preset)
            model = cls.from_bert_config(
                BertConfig.from_preset(preset, **overrides), **model_kwargs
            )
            model.finish_from_preset(preset, given, **extras)
            return model
        checkpoint = read_checkpoint(preset, weights=load_weights)
        if checkpoint.model_class in (None, cls.__name__):
            decided = {k: v for k, v in checkpoint.model_kwargs.items() if k in own}
            if model_kwargs.get("num_classes", decided.get("num_classes")) != decided.get(
                    "num_classes"):
                decided.pop("label_names", None)  # names of the checkpoint's other classes
            model_kwargs = {**decided, **model_kwargs}
        cls._require_arguments(model_kwargs, preset)
        config = checkpoint.config.replace(**overrides) if overrides else checkpoint.config
        model = cls.from_bert_config(config, encoder_weights_follow=load_weights, **model_kwargs)
        if load_weights:
            loaded = assign_weights(
                model, checkpoint.weights, source=checkpoint.source,
                source_names=checkpoint.source_names,
                replace_mismatched_heads="num_classes" in given,
            )
            model.random_heads = tuple(sorted(
                {name.split("/")[0]
                 for name in loaded["missing_heads"] + loaded["replaced_heads"]}))
        model.tokenizer_spec = checkpoint.tokenizer
        model.finish_from_preset(preset, given, **extras)
        return model

    # `from_preset` keyword arguments that are neither constructor arguments nor config
    # fields, handed to `finish_from_preset` (a task model's `sequence_length`).
    preset_extras = ()

    def finish_from_preset(self, preset, given):
        """Called by `from_preset` once weights and `tokenizer_spec` are in place, with the
        names of the keyword arguments the caller gave and the `preset_extras`; task models
        attach their preprocessor here."""

    def save_to_preset(self, preset_dir, tokenizer=None, metadata=None, overwrite=False,
                       into_existing_run=False):
        """Writes our preset format to `preset_dir`: `preset.json`, `model.safetensors` and,
        whenever the model carries a vocabulary (from `from_preset`, or `tokenizer` given
        here: a `TokenizerSpec`, a checkpoint directory or a `BertTokenizer`), `vocab.txt`
        with its casing. `from_preset(preset_dir)` reloads it.

        The preset is written beside the target and renamed into place. A non-empty
        `preset_dir` (an earlier preset, or other files) is refused with `FileExistsError`
        unless `overwrite=True`; `into_existing_run=True` rewrites the preset files of a
        pretraining run directory one by one (see `keras_bert_impl.presets.write_preset`).

        A model without a vocabulary of its own (built from an architecture name) that reads
        text through a preprocessor saves that preprocessor's tokenizer.

        A model with LoRA adapters is written merged (adapters folded into the kernels: the
        preset is a plain model computing the same outputs); the model keeps its adapters,
        and `save_lora_weights` writes them on their own."""
        if quantization_mode(self) is not None:
            raise ValueError(
                f"This {type(self).__name__} is {quantization_mode(self)}-quantized; presets "
                "hold float weights. Save the float model's preset and quantize after "
                "from_preset, or save the quantized model with model.save('model.keras').")
        spec = as_tokenizer_spec(tokenizer) if tokenizer is not None else self.tokenizer_spec
        text_tokenizer = getattr(getattr(self, "preprocessor", None), "tokenizer", None)
        if spec is None and text_tokenizer is not None:
            spec = as_tokenizer_spec(text_tokenizer)
        model_kwargs = self.preset_arguments()
        return write_preset(
            preset_dir, self.get_encoder().config, extract_weights(self),
            model_class=type(self).__name__, model_kwargs=model_kwargs, tokenizer=spec,
            metadata=metadata, overwrite=overwrite, into_existing_run=into_existing_run,
        )

    def preset_arguments(self):
        """The constructor arguments a preset stores (JSON values): `num_classes` and
        `dropout` of a head; task models add theirs."""
        head = self.constructor_arguments()
        return {k: v for k, v in head.items() if k in ("num_classes", "dropout")}

    def build_tokenizer(self, **kwargs):
        """A `keras_bert_impl.text.BertTokenizer` with the vocabulary and casing of the
        checkpoint this model came from (`tokenizer_spec`); needs TensorFlow. `kwargs` go to
        the tokenizer's constructor."""
        if self.tokenizer_spec is None:
            raise ValueError(
                f"This {type(self).__name__} carries no vocabulary: it was not loaded from a "
                f"checkpoint with one. Load it with from_preset(DIR) from a directory holding "
                f"vocab.txt, or build keras_bert_impl.text.BertTokenizer(vocab_path) yourself."
            )
        from keras_bert_impl.text.tokenizer import BertTokenizer

        return BertTokenizer.from_spec(self.tokenizer_spec, **kwargs)
