"""`BertTextTask`: what the fine-tuning models share — raw text in, defaults to train with.

`BertClassifier`, `BertTokenClassifier` and `BertSpanLabeler` derive from it. It adds to
`BertTask`:

* an optional `preprocessor` (the task's text layer: `BertClassifierPreprocessor`,
  `BertTokenClassifierPreprocessor`, `BertSpanPreprocessor`) and `label_names`, both part of
  the model's config, `.keras` file and preset;
* `fit`, `evaluate` and `predict` on raw text (strings, lists, tuples of them for pairs,
  batched `tf.data` of them): the preprocessor runs in `tf.data` (see
  `keras_bert_impl.models.text_inputs`) and each batch is cut to its longest example
  (dynamic padding, `pad_to_multiple`); token ids are still taken as they are;
* labels checked before any graph runs where the task takes class ids (classification,
  tagging; `fit`, `evaluate` and `*_on_batch`): names mapped to ids through `label_names`;
  unknown names, ids out of range and fractions an error naming the label and its position
  (`keras_bert_impl.models.labels`);
* `compile()` with no arguments: AdamW (no decay on LayerNorm and biases) at 5e-5 with 10%
  linear warmup and linear decay to 0 over the length of the first `fit`
  (`FitLengthWarmupDecay`), plus the task's loss and metrics (`default_loss`,
  `default_metrics`); a model never compiled gets these defaults at its first `fit` or
  `evaluate` (`BertTask.compile_if_needed`), as a keras-hub task does when built;
* `from_preset(preset, ...)` attaching the preset's tokenizer (its vocabulary and casing)
  through the task's default preprocessor, unless `preprocessor=` is given (`None`: none).
"""

import logging
import warnings

import keras
import numpy as np
from keras import ops

from keras_bert_impl.keras_private import drop_traced_steps
from keras_bert_impl.models.labels import class_ids, label_axes
from keras_bert_impl.models.task import BertTask
from keras_bert_impl.models.text_inputs import (
    NO_EXAMPLES,
    PAD_TO_MULTIPLE,
    check_texts,
    from_columns,
    is_raw_text,
    only_missing_values,
    shortest_first,
    split_off_validation,
    steps_in,
    text_dataset,
    trim_padding,
)
from keras_bert_impl.optimizers import FitLengthWarmupDecay, create_adamw

logger = logging.getLogger("keras_bert_impl")

DEFAULT_LEARNING_RATE = 5e-5
_POOLER_WARNING = r"Gradients do not exist for variables \['pooler/dense/kernel', "
_AUTO = "auto"


def default_optimizer(learning_rate=DEFAULT_LEARNING_RATE, warmup_fraction=0.1,
                      weight_decay=0.01, clipnorm=1.0, gradient_accumulation_steps=None):
    """The fine-tuning optimizer of Google's `run_classifier.py` / `run_squad.py`: AdamW
    (betas 0.9/0.999, epsilon 1e-6, decay 0.01 except LayerNorm and biases, global-norm
    clipping at 1.0) with linear warmup over `warmup_fraction` of the steps and linear decay
    to 0, its length set by the first `fit`. `gradient_accumulation_steps=N` averages the
    gradients of N batches into each update (the schedule counts updates).

    Example:

    ```python
    optimizer = default_optimizer(2e-5)
    float(optimizer.learning_rate)  # 2e-05 (constant until fit sets the length)
    ```
    """
    accumulation = {}
    if gradient_accumulation_steps and gradient_accumulation_steps > 1:
        accumulation["gradient_accumulation_steps"] = int(gradient_accumulation_steps)
    return create_adamw(FitLengthWarmupDecay(learning_rate, warmup_fraction=warmup_fraction),
                        weight_decay=weight_decay, clipnorm=clipnorm, **accumulation)


def _fit_arguments(args, kwargs):
    """`keras.Model.fit`'s arguments after `x` and `y` as keywords."""
    names = ("batch_size", "epochs", "verbose", "callbacks", "validation_split",
             "validation_data", "shuffle", "class_weight", "sample_weight", "initial_epoch",
             "steps_per_epoch", "validation_steps", "validation_batch_size", "validation_freq")
    if len(args) > len(names):
        raise TypeError(f"fit() takes at most {len(names) + 2} positional arguments.")
    bound = dict(zip(names, args))
    duplicated = sorted(set(bound) & set(kwargs))
    if duplicated:
        raise TypeError(f"fit() got multiple values for {duplicated}.")
    return {**bound, **kwargs}


class BertTextTask(BertTask):
    """A task model that can carry its preprocessor and train on raw text.

    Subclasses build their graph in `__init__`, then call
    `self._attach_text_arguments(preprocessor, label_names)`, and define `default_loss()`,
    `default_metrics()` and `default_preprocessor(tokenizer, sequence_length)`.

    Example:

    ```python
    from keras_bert_impl.models import BertClassifier
    from keras_bert_impl.text import BertClassifierPreprocessor, BertTokenizer
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "film"]
    classifier = BertClassifier.from_preset(
        "bert_tiny", vocab_size=len(vocab), num_classes=2,
        preprocessor=BertClassifierPreprocessor(BertTokenizer(vocab), sequence_length=8))
    classifier.compile()
    history = classifier.fit(["good film", "bad film"], [1, 0], epochs=1, verbose=0)
    classifier.predict(["good"], verbose=0).shape  # (1, 2)
    ```
    """

    default_sequence_length = 128
    # Dynamic padding: raw-text batches are cut to their longest example rounded up to this
    # many tokens (`text_inputs.trim_padding`); "auto" as `padding_multiple` resolves it;
    # `None` keeps the preprocessor's full length.
    pad_to_multiple = "auto"
    # Whether `y`/`sample_weight` hold one value per token (tagging), cut with the inputs.
    per_token_labels = False
    # Whether `predict` returns one row per token; such batches keep their full length so
    # that Keras can concatenate them.
    per_token_outputs = False
    # What per-token outputs hold at padding positions when a batch cut to its longest
    # example is padded back (`_predict_packed`).
    padding_output = 0.0
    # On how many axes `y` holds class ids of `num_classes` classes (named by `label_names`):
    # 1 one per example, 2 one per token; `fit`, `evaluate` and `*_on_batch` then check labels
    # given as NumPy or lists and map names to ids (`labels.class_ids`) before any graph
    # runs. `None`: labels of another kind (spans), passed as they are.
    class_id_axes = None

    def _attach_text_arguments(self, preprocessor=None, label_names=None):
        # A preset stores the preprocessor as its class name and arguments without the
        # tokenizer; `from_preset` builds it once the tokenizer is known.
        self._preset_preprocessor = None
        given = isinstance(preprocessor, keras.layers.Layer)  # not a stored config
        if isinstance(preprocessor, dict) and "config" not in preprocessor:
            self._preset_preprocessor, preprocessor = preprocessor, None
        elif isinstance(preprocessor, dict):
            preprocessor = keras.saving.deserialize_keras_object(preprocessor)
        if preprocessor is not None and not isinstance(preprocessor, keras.layers.Layer):
            raise TypeError(f"preprocessor must be a Keras layer (e.g. the task's "
                            f"preprocessor class) or None; got {type(preprocessor).__name__}.")
        if label_names is not None:
            label_names = [str(name) for name in label_names]
            if len(set(label_names)) != len(label_names):
                raise ValueError(f"label_names repeat a name: {label_names}.")
            expected = self.expected_label_count()
            if expected is not None and len(label_names) != expected:
                raise ValueError(f"{type(self).__name__} has {expected} classes but "
                                 f"{len(label_names)} label_names were given: {label_names}.")
        if given:
            self._check_sequence_length(getattr(preprocessor, "sequence_length", None))
        self.preprocessor = preprocessor
        self.label_names = label_names

    def _check_sequence_length(self, length):
        """A `ValueError` for a `sequence_length` the caller gave that is longer than the
        encoder's positions. Defaults and stored presets are not checked: their batches are
        cut to their longest example, so short texts still run."""
        self.get_encoder().config.check_sequence_length(
            length, model=f"this {type(self).__name__}'s encoder")

    def expected_label_count(self):
        """How many `label_names` the model takes (its classes), or `None` when it takes none."""
        return getattr(self, "num_classes", None)

    def head_arguments(self):
        return {"preprocessor": self.preprocessor, "label_names": self.label_names}

    # --- defaults a subclass defines ---------------------------------------------------
    def default_loss(self):
        raise NotImplementedError

    def default_metrics(self):
        raise NotImplementedError

    def default_weighted_metrics(self):
        return None

    @classmethod
    def default_preprocessor(cls, tokenizer, sequence_length=None):
        """The task's preprocessor around `tokenizer` (a `BertTokenizer`)."""
        raise NotImplementedError

    # --- compile -----------------------------------------------------------------------
    def compile(self, optimizer=_AUTO, loss=_AUTO, metrics=_AUTO, weighted_metrics=_AUTO,
                **kwargs):
        """Compiles with the task's defaults for any argument left `"auto"`: `optimizer`
        `default_optimizer()` (AdamW 5e-5, warmup + linear decay over the first `fit`),
        the task's loss and metrics. `jit_compile` is Keras' "auto" (XLA with a GPU/TPU)."""
        if isinstance(optimizer, str) and optimizer == _AUTO:
            optimizer = default_optimizer()
        if isinstance(loss, str) and loss == _AUTO:
            loss = self.default_loss()
        if isinstance(metrics, str) and metrics == _AUTO:
            metrics = self.default_metrics()
        if isinstance(weighted_metrics, str) and weighted_metrics == _AUTO:
            weighted_metrics = self.default_weighted_metrics()
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics,
                        weighted_metrics=weighted_metrics, **kwargs)

    def _set_schedule_length(self, dataset, epochs, initial_epoch, steps_per_epoch):
        self._size_schedule(steps_per_epoch or steps_in(dataset), epochs - initial_epoch)

    def _size_schedule(self, steps_per_epoch, epochs):
        """Sizes the default schedule (`FitLengthWarmupDecay`) by this fit: at the first
        fit, and again at a fit that starts after the schedule has ended."""
        optimizer = getattr(self, "optimizer", None)
        # mixed_float16: compile() wrapped ours in a LossScaleOptimizer
        optimizer = getattr(optimizer, "inner_optimizer", optimizer)
        schedule = getattr(optimizer, "_learning_rate", None)
        if not isinstance(schedule, FitLengthWarmupDecay):
            return
        done = int(ops.convert_to_numpy(optimizer.iterations))
        ended = schedule.is_set and done >= schedule.end_step
        if schedule.is_set and not ended:
            return
        name = type(self).__name__
        if steps_per_epoch is None:
            logger.warning(
                "%s.fit: the number of steps per epoch is unknown (pass steps_per_epoch=), "
                "so the learning rate stays at %s.", name,
                f"{schedule.end_learning_rate:g}, where the schedule of an earlier fit ended"
                if ended else "its peak instead of warming up and decaying")
            return
        accumulation = getattr(optimizer, "gradient_accumulation_steps", None) or 1
        updates = max(1, (max(epochs, 1) * steps_per_epoch) // accumulation)
        if ended:
            logger.warning(
                "%s.fit: the learning-rate schedule sized by an earlier fit ended at update "
                "%d (rate %g); this fit warms up and decays again over its %d updates. For "
                "one schedule over all epochs pass them to one fit (epochs=, initial_epoch=), "
                "or compile() with a learning rate of your own.", name, schedule.end_step,
                schedule.end_learning_rate, updates)
            drop_traced_steps(self)  # the traced train step holds the schedule's numbers
        schedule.set_total_steps(updates, start_step=done if ended else 0)

    # --- raw text ----------------------------------------------------------------------
    def _text_dataset(self, x, y=None, sample_weight=None, batch_size=None, shuffle=False,
                      for_predict=False):
        """`x` (raw text) as batches of the model's inputs, through the preprocessor."""
        return text_dataset(self.preprocessor, x, y, sample_weight, batch_size=batch_size,
                            shuffle=shuffle, trim=self._trimmer(for_predict),
                            ragged_labels=self.per_token_labels)

    def padding_multiple(self, compiled=None):
        """The multiple raw-text batches are cut to (`pad_to_multiple`, `None`: not cut).
        `"auto"` is 16 where each batch length compiles (XLA: the JAX backend,
        `jit_compile=True`), so that a few lengths compile, and 1 (each batch's exact
        longest) where operations run one by one (TensorFlow without XLA, the default on a
        CPU, and a SavedModel), which no length costs anything extra: MiniLM classifying
        SST-2 sentences on 2 CPU cores, 1.22x the rate at multiples of 16. `compiled`:
        whether the batches run compiled (default: the model's `jit_compile`).

        Example:

        ```python
        from keras_bert_impl.models import BertClassifier
        classifier = BertClassifier.from_preset("bert_tiny", num_classes=2, vocab_size=64)
        classifier.padding_multiple(compiled=True), classifier.padding_multiple(compiled=False)
        # (16, 1)
        ```
        """
        if self.pad_to_multiple != "auto":
            return self.pad_to_multiple
        if compiled is None:
            compiled = bool(self.jit_compile)
        return PAD_TO_MULTIPLE if compiled else 1

    def _trimmer(self, for_predict=False):
        """The dynamic-padding map function for this model's batches, or `None`."""
        multiple = self.padding_multiple()
        if multiple is None or (for_predict and self.per_token_outputs):
            return None
        return trim_padding(multiple, per_token_labels=self.per_token_labels)

    def _needs_preprocessing(self, x, name="x"):
        if isinstance(x, (list, tuple, np.ndarray)) and len(x) == 0:
            raise ValueError(NO_EXAMPLES)
        if only_missing_values(x):
            check_texts(x, name)  # names the first example, not Keras' data adapter
        if not is_raw_text(x):
            return False
        check_texts(x, name, word_lists=self.per_token_labels)
        if self.preprocessor is None:
            raise ValueError(
                f"{type(self).__name__} got raw text but has no preprocessor. Build it with "
                f"{type(self).__name__}.from_preset(PRESET_WITH_VOCAB, ...) (which attaches "
                "the preset's tokenizer) or pass preprocessor=..., or give token ids "
                "({'token_ids', 'segment_ids', 'padding_mask'}).")
        return True

    def _require_labels(self, x, y, method):
        """Raw text (not a dataset, which carries its own) needs its labels in `method`."""
        if y is None and not hasattr(x, "element_spec"):
            raise ValueError(f"{type(self).__name__}.{method} needs the labels of the texts: "
                             f"{method}(texts, labels); predict(texts) gives the outputs "
                             "alone.")

    def _validation_batches(self, data, batch_size):
        """Raw-text `validation_data`, `(x, y[, sample_weight])`, as preprocessed batches,
        shortest first as `evaluate` reads them."""
        if isinstance(data, tuple) and len(data) in (2, 3) and not is_raw_text(data):
            _, data = self._shortest_first(*data)
            return self._text_dataset(*data, batch_size=batch_size)
        return self._text_dataset(data, batch_size=batch_size)

    def _class_ids(self, y):
        """`y` checked and named labels mapped to ids (`labels.class_ids`) where this task
        takes class ids and `y` is NumPy or a list of them; anything else (tensors, datasets,
        one-hot or soft labels for a loss the user compiled) as it is."""
        if (self.class_id_axes is None or getattr(self, "is_regression", False)
                or not isinstance(y, (list, tuple, np.ndarray))
                or label_axes(y) > self.class_id_axes):
            return y
        return class_ids(y, self.num_classes, self.label_names, type(self).__name__)

    def _columns_and_class_ids(self, x, y):
        """`x` and `y` with table columns as arrays (`from_columns`), `y` as class ids."""
        return from_columns(x), self._class_ids(from_columns(y, "y"))

    def fit(self, x=None, y=None, *args, **kwargs):
        self.compile_if_needed()  # before the schedule's length is set from the data
        arguments = _fit_arguments(args, kwargs)
        x, y = self._columns_and_class_ids(x, y)
        if arguments.get("sample_weight") is not None:
            arguments["sample_weight"] = from_columns(arguments["sample_weight"],
                                                      "sample_weight")
        validation = arguments.get("validation_data")
        if isinstance(validation, tuple) and len(validation) in (2, 3):
            validation = from_columns(validation, "validation_data")
            arguments["validation_data"] = (validation[0], self._class_ids(validation[1]),
                                            *validation[2:])
        if self._needs_preprocessing(x):
            self._require_labels(x, y, "fit")
            split = arguments.pop("validation_split", None)
            if split and arguments.get("validation_data") is None:
                (x, y, weights), validation = split_off_validation(
                    x, y, arguments.get("sample_weight"), split)
                arguments["sample_weight"] = weights
                arguments["validation_data"] = validation if weights is not None \
                    else validation[:2]
            batch_size = arguments.pop("batch_size", None)
            dataset = self._text_dataset(
                x, y, arguments.pop("sample_weight", None), batch_size=batch_size,
                shuffle=arguments.pop("shuffle", True))
            x, y = dataset, None
            validation = arguments.get("validation_data")
            if validation is not None and self._needs_preprocessing(
                    *((validation[0], "validation_data[0]") if isinstance(validation, tuple)
                      else (validation, "validation_data"))):
                arguments["validation_data"] = self._validation_batches(
                    validation, arguments.pop("validation_batch_size", None) or batch_size)
        if hasattr(x, "element_spec"):
            self._set_schedule_length(x, arguments.get("epochs", 1),
                                      arguments.get("initial_epoch", 0),
                                      arguments.get("steps_per_epoch"))
        elif x is not None:
            self._set_schedule_length_for_arrays(x, arguments)
        if hasattr(x, "element_spec"):
            arguments["shuffle"] = False  # a dataset is shuffled (or not) by whoever built it
        with warnings.catch_warnings():
            # The tagging and span heads read the sequence output, so the pooler (kept for
            # checkpoints) has no gradient; Keras would warn about it on every fit.
            warnings.filterwarnings("ignore", message=_POOLER_WARNING)
            return super().fit(x, y, **arguments)

    def _set_schedule_length_for_arrays(self, x, arguments):
        first = next(iter(x.values())) if isinstance(x, dict) else x
        count = len(first)
        if arguments.get("validation_split"):
            count = int(count * (1 - arguments["validation_split"]))
        batch_size = arguments.get("batch_size") or 32
        steps = arguments.get("steps_per_epoch") or -(-count // batch_size)
        self._size_schedule(steps, arguments.get("epochs", 1) - arguments.get("initial_epoch", 0))

    def evaluate(self, x=None, y=None, batch_size=None, *args, **kwargs):
        x, y = self._columns_and_class_ids(x, y)
        if kwargs.get("sample_weight") is not None:
            kwargs["sample_weight"] = from_columns(kwargs["sample_weight"], "sample_weight")
        if self._needs_preprocessing(x):
            self._require_labels(x, y, "evaluate")
            data = (x, y, kwargs.pop("sample_weight", None))
            if kwargs.get("steps") is None and not args:  # every example is read
                # The metrics and the mean loss do not depend on the examples' order.
                _, data = self._shortest_first(*data)
            x, y = self._text_dataset(*data, batch_size=batch_size), None
            batch_size = None
        return super().evaluate(x, y, batch_size, *args, **kwargs)

    def train_on_batch(self, x, y=None, *args, **kwargs):
        return super().train_on_batch(*self._columns_and_class_ids(x, y), *args, **kwargs)

    def test_on_batch(self, x, y=None, *args, **kwargs):
        return super().test_on_batch(*self._columns_and_class_ids(x, y), *args, **kwargs)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Keras' `predict`; raw text in memory is read shortest first (in wordpieces; the
        outputs come back in the texts' order), so each batch, cut to its longest example,
        holds little padding. Callbacks see the batches in that order; with `steps` the
        texts are read in their own order."""
        x = from_columns(x)
        order = None
        if self._needs_preprocessing(x):
            if steps is None:
                order, x = self._shortest_first(x)
            x, batch_size = self._text_dataset(x, batch_size=batch_size, for_predict=True), None
        outputs = super().predict(x, batch_size, verbose=verbose, steps=steps,
                                  callbacks=callbacks)
        if order is None:
            return outputs
        restore = np.argsort(order)
        return keras.tree.map_structure(lambda output: output[restore], outputs)

    def _shortest_first(self, x, y=None, sample_weight=None):
        """`text_inputs.shortest_first` where this model's batches are cut (`_trimmer`):
        `(order, x)` without labels, `(order, (x, y, sample_weight))` with; `order` `None`
        and the data as given where reading in order costs nothing more, and for per-token
        labels (whose loss is a mean over each batch's labelled tokens, so it would depend
        on which examples share a batch)."""
        labelled = y is not None
        if self.per_token_labels or self._trimmer(for_predict=not labelled) is None:
            return None, ((x, y, sample_weight) if labelled else x)
        order, data = shortest_first(x, y, sample_weight, lengths=self._piece_counts)
        return order, (data if labelled else data[0])

    def _piece_counts(self, texts, chunk=4096):
        """The number of wordpieces of each of `texts` (Python strings) as the preprocessor's
        tokenizer cuts them, or their characters where it has none. Sorting by pieces packs
        batches tighter than by characters (SST-2 sentences at 16-token multiples: 16% fewer
        positions); the tokenizer reads them in a small fraction of the model's time."""
        import tensorflow as tf

        tokenizer = getattr(self.preprocessor, "tokenizer", None)
        if tokenizer is None:
            return [len(text) for text in texts]
        return np.concatenate([
            tokenizer(tf.constant(texts[start:start + chunk], tf.string)).row_lengths().numpy()
            for start in range(0, len(texts), chunk)])

    def _predict_packed(self, features, batch_size=None):
        """The model's outputs (NumPy, in the examples' order) on packed `features`
        (`[examples, length]` tensors, as a preprocessor gives them), read shortest first in
        batches cut to their longest example (rounded up to `padding_multiple()`, as `fit`
        cuts them), per-token outputs padded back to `length` with `padding_output` (positions
        past a batch's longest example are padding). Keras' `predict` keeps per-token
        batches at their full length to concatenate them. Measured, MiniLM tagging CoNLL-2003
        validation sentences at sequence length 128 (`benchmarks/tagging_throughput.py`):
        0.23x HF PyTorch's rate at the full length, 0.64-0.71x cut, 1.65-1.84x cut and
        sorted."""
        import tensorflow as tf

        length = int(features["token_ids"].shape[1])
        multiple = self.padding_multiple()
        if multiple is None or not int(features["token_ids"].shape[0]):
            return self.predict(features, batch_size=batch_size, verbose=0)
        # Shortest first: each batch holds examples of similar lengths, so cutting it to its
        # longest leaves little padding; the outputs go back to the examples' order.
        order = np.argsort(np.sum(np.asarray(features["padding_mask"]), axis=1), kind="stable")
        features = {name: tf.gather(value, order) for name, value in features.items()}
        batches = tf.data.Dataset.from_tensor_slices(features).batch(batch_size or 32)
        batches = batches.map(trim_padding(multiple)).prefetch(tf.data.AUTOTUNE)

        def pad(outputs):
            outputs = np.asarray(outputs)
            if outputs.ndim < 2 or not self.per_token_outputs:
                return outputs
            widths = [(0, 0), (0, length - outputs.shape[1])] + [(0, 0)] * (outputs.ndim - 2)
            return np.pad(outputs, widths, constant_values=self.padding_output)

        parts = [keras.tree.map_structure(pad, self.predict_on_batch(batch))
                 for batch in batches.as_numpy_iterator()]  # NumPy: any backend takes it
        restore = np.argsort(order)
        return keras.tree.map_structure(lambda *rows: np.concatenate(rows)[restore], *parts)

    # --- presets -----------------------------------------------------------------------
    preset_extras = ("sequence_length",)

    def finish_from_preset(self, preset, given, sequence_length=None):
        """`from_preset`'s last step: unless `preprocessor=` was given, a preset with a
        vocabulary gets the task's preprocessor with its tokenizer (vocabulary and casing):
        the one the preset was saved with, else `default_preprocessor`, with
        `sequence_length` if given (default `default_sequence_length`, or the encoder's
        `max_position_embeddings` where that is fewer)."""
        explicit = "preprocessor" in given
        if explicit or self.tokenizer_spec is None:
            if sequence_length is not None and not explicit:
                raise ValueError(f"sequence_length={sequence_length} needs a preprocessor, "
                                 f"but {preset!r} carries no vocabulary.")
            return
        arguments = dict(self._preset_preprocessor or {})
        if sequence_length is not None:
            self._check_sequence_length(sequence_length)
            arguments["sequence_length"] = sequence_length
        self.preprocessor = self._preprocessor_from_preset(self, arguments)

    @classmethod
    def _preprocessor_from_preset(cls, model, arguments):
        try:
            tokenizer = model.build_tokenizer()
        except ImportError as error:  # pragma: no cover - TF-Text is a runtime dependency
            logger.warning("%s.from_preset: no preprocessor attached (%s).", cls.__name__,
                           error)
            return None
        arguments = dict(arguments)
        class_name = arguments.pop("class_name", None)
        if class_name is None:
            # The task's default length, cut to the positions of an encoder with fewer.
            positions = model.get_encoder().config.max_position_embeddings
            return cls.default_preprocessor(tokenizer, arguments.get("sequence_length") or
                                            min(cls.default_sequence_length, positions))
        from keras_bert_impl import text

        layer_class = getattr(text, class_name, None)
        if not isinstance(layer_class, type) or not issubclass(layer_class, keras.layers.Layer):
            raise ValueError(f"The preset names an unknown preprocessor class {class_name!r}; "
                             "it was written by a newer keras_bert_impl, or edited.")
        return layer_class(tokenizer, **arguments)

    def preset_arguments(self):
        """The head arguments written to a preset (JSON): the preprocessor as its class
        name and arguments without the tokenizer (whose vocabulary is the preset's
        `vocab.txt`)."""
        arguments = super().preset_arguments()
        arguments["label_names"] = self.label_names
        preprocessor = self.preprocessor
        if preprocessor is not None:
            config = preprocessor.get_config()
            for key in ("tokenizer", "name", "trainable", "dtype"):
                config.pop(key, None)
            arguments["preprocessor"] = {"class_name": type(preprocessor).__name__, **config}
        return arguments
