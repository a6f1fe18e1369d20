"""Fine-tuning a preset (or a pretraining run) on a task, and scoring a fine-tuned run.

`finetune(task, data, init, out, ...)` builds the task model from `init` with its tokenizer,
trains on the train split from raw text, scores the validation split with the task's
official metric after every epoch, keeps the best epoch's weights, and writes `out` as a
preset (weights, vocabulary and casing, preprocessor, label names) with `metrics.json`.
`evaluate_run(run, task, data, split)` scores a run on a split.

With `lora_rank` the encoder is frozen and only low-rank adapters (on `lora_targets`, default
query and value) and the head train (`keras_bert_impl.models.lora`); the preset written is the
merged model, so `evaluate` and `export` read it as any other, and the adapters and head alone
go beside it as `lora.safetensors` (`model.load_lora_weights` puts them back on the base).
`metrics.json` records the trainable and total parameter counts either way.

Example:

```python
from keras_bert_impl.data.classification import ClassificationData
data = ClassificationData((["a fine film"], ), [1], ["negative", "positive"], ["1"])
model_inputs("classification", data)  # (['a fine film'], [1])
```
"""

import json
import logging
import os
import sys
import time

import numpy as np

from keras_bert_impl.training.finetune_data import limit, load_splits, task_spec
from keras_bert_impl.training.precision import check_precision, training_precision

logger = logging.getLogger("keras_bert_impl")

METRICS_FILE = "metrics.json"


def model_inputs(kind, data):
    """`(x, y)` of a split for the task model's raw-text `fit` / `evaluate`."""
    if kind in ("classification", "regression"):
        x = data.texts[0] if len(data.texts) == 1 else tuple(data.texts)
        return x, data.labels
    if kind == "tagging":
        return data.words, data.tag_ids()
    x = {"question": [e.question for e in data.examples],
         "context": [e.context for e in data.examples],
         "id": [e.id for e in data.examples]}
    # An unanswerable question (SQuAD v2) trains the [CLS] position in all its windows.
    y = {"answer_start": [e.answers[0][1] if e.answers else -1 for e in data.examples],
         "answer_text": [e.answers[0][0] if e.answers else "" for e in data.examples]}
    return x, y


def score(model, task, data, batch_size=32):
    """The task's metrics of `model` on `data` (a split), as `{name: float}`: GLUE's per task,
    accuracy (BBC, CSV), entity precision/recall/F1 (CoNLL; seqeval's, in the tags' scheme),
    SQuAD exact match/F1."""
    from keras_bert_impl import metrics

    spec = task_spec(task)
    if spec.kind in ("classification", "regression"):
        x, labels = model_inputs(spec.kind, data)
        if labels is None:
            raise ValueError(f"The {task} split {data.path} has no labels (a GLUE test split?); "
                             "score a labelled split.")
        predictions = model.predict(x, batch_size=batch_size, verbose=0)
        if spec.source == "glue":
            return metrics.glue_scores(task, labels, predictions)
        if spec.kind == "regression" or model.num_classes == 1:
            return {"pearson": metrics.pearson(labels, predictions[:, 0]),
                    "spearman": metrics.spearman(labels, predictions[:, 0])}
        return {"accuracy": metrics.accuracy(labels, np.argmax(predictions, axis=-1))}
    if spec.kind == "tagging":
        predicted = model.tag(data.words, batch_size=batch_size)
        tag_set = {*data.label_names, *model.label_names}
        return metrics.entity_scores(data.tags, predicted, scheme=metrics.scheme_of(tag_set))
    # SQuAD v2: "no answer" wins when its score beats the best span's (Google's default
    # null_score_diff_threshold 0.0); the null odds give the official best-threshold figures.
    version_2 = data.version == "2.0"
    answers = model.answer([e.question for e in data.examples],
                           [e.context for e in data.examples],
                           ids=[e.id for e in data.examples], batch_size=batch_size,
                           null_score_diff_threshold=0.0 if version_2 else None)
    return metrics.squad_scores(data.dataset, answers.texts(),
                                na_probs=answers.null_odds() if version_2 else None)


def _check_sequence_length(sequence_length, init):
    """A `ValueError`, before anything is built, for a `--seq-len` longer than the positions
    of the checkpoint `init` (its config alone is read)."""
    from keras_bert_impl.config import PRESETS, BertConfig
    from keras_bert_impl.presets import read_checkpoint

    config = (BertConfig.from_preset(init) if init in PRESETS
              else read_checkpoint(init, weights=False).config)
    config.check_sequence_length(sequence_length, model=init, flag="--seq-len")


def build_model(task, init, splits, sequence_length, dropout=0.1, doc_stride=128,
                max_query_length=64, load_weights=True):
    """The task model from `init` (a preset or run directory with a vocabulary), with the
    task's preprocessor around the preset's tokenizer (random weights with
    `load_weights=False`)."""
    from keras_bert_impl import models

    spec = task_spec(task)
    model_class = getattr(models, spec.model_class)
    train = splits["train"]
    if spec.kind in ("classification", "regression"):
        kwargs = {"num_classes": train.num_classes, "label_names": train.label_names,
                  "dropout": dropout}
    elif spec.kind == "tagging":
        kwargs = {"num_classes": len(train.label_names), "label_names": train.label_names,
                  "dropout": dropout}
    else:
        kwargs = {}
    model = model_class.from_preset(init, preprocessor=None, load_weights=load_weights,
                                    **kwargs)
    if model.tokenizer_spec is None:
        raise ValueError(f"{init} carries no vocabulary (vocab.txt), so raw text cannot be "
                         "tokenized; pass a preset or run directory that has one.")
    tokenizer = model.build_tokenizer()
    if spec.kind == "spans":
        from keras_bert_impl.text.span_preprocessor import BertSpanPreprocessor

        model.preprocessor = BertSpanPreprocessor(
            tokenizer, sequence_length=sequence_length, doc_stride=doc_stride,
            max_query_length=max_query_length)
    else:
        model.preprocessor = model_class.default_preprocessor(tokenizer, sequence_length)
    return model


class _BestEpoch:
    """Scores the validation split after each epoch and keeps the best weights in memory."""

    def __init__(self, model, task, validation, metric, batch_size, print_fn):
        import keras

        class Callback(keras.callbacks.Callback):
            def on_epoch_end(inner, epoch, logs=None):  # noqa: N805
                self.on_epoch_end(epoch, logs)

        self.model, self.task, self.validation = model, task, validation
        self.metric, self.batch_size, self.print_fn = metric, batch_size, print_fn
        self.best, self.best_epoch, self.best_weights, self.history = None, None, None, []
        self.callback = Callback()

    def on_epoch_end(self, epoch, logs):
        scores = score(self.model, self.task, self.validation, self.batch_size)
        value = scores[self.metric]
        figures = {k: float(v) for k, v in scores.items() if isinstance(v, (int, float))}
        self.history.append({"epoch": epoch + 1, **figures,
                             "loss": float((logs or {}).get("loss", float("nan")))})
        if logs is not None:
            logs.update({f"val_{k}": v for k, v in figures.items()})
        line = ", ".join(f"{k} {v:.4f}" for k, v in scores.items() if isinstance(v, float))
        self.print_fn(f"epoch {epoch + 1}: validation {line}")
        if self.best is None or value > self.best:
            self.best, self.best_epoch, self.best_scores = value, epoch + 1, scores
            self.best_weights = [w.copy() for w in self.model.get_weights()]


def parameter_counts(model):
    """`{"trainable": n, "total": m}`: the parameters `fit` updates and all of them.

    Example:

    ```python
    from keras_bert_impl.models import BertEncoder
    encoder = BertEncoder({"vocab_size": 50, "hidden_size": 8, "num_layers": 1,
                           "num_heads": 2, "intermediate_size": 16})
    encoder.enable_lora(2)
    parameter_counts(encoder)  # {'trainable': 64, 'total': 5264}
    ```
    """
    trainable = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
    return {"trainable": trainable, "total": int(model.count_params())}


def _finetune_strategy(strategy):
    """The `tf.distribute` strategy of `finetune(strategy=...)` (a name, or one made)."""
    import keras

    from keras_bert_impl.training.distribute import create_strategy
    from keras_bert_impl.training.finetune_tasks import FINETUNE_STRATEGIES

    if strategy != "default" and keras.backend.backend() != "tensorflow":
        raise ValueError(f"strategy={strategy!r} (--strategy) is a tf.distribute strategy, "
                         f"for the TensorFlow backend; this is {keras.backend.backend()} "
                         "(KERAS_BACKEND=tensorflow, or keras.distribution on JAX).")
    if isinstance(strategy, str) and strategy not in FINETUNE_STRATEGIES:
        raise ValueError(f"finetune runs on one machine: strategy (--strategy) must be one of "
                         f"{', '.join(FINETUNE_STRATEGIES)}; got {strategy!r} (multi-worker and "
                         "TPU training are keras-bert pretrain's).")
    return create_strategy(strategy)


def finetune(task, data, init, out, epochs=3, learning_rate=2e-5, batch_size=32,
             sequence_length=None, validation_fraction=0.1, seed=0, split_seed=None, tfds=False,
             max_train_examples=None, max_eval_examples=None, doc_stride=128,
             max_query_length=64, dropout=0.1, jit_compile="auto", overwrite=False,
             verbose="auto", print_fn=print, load_weights=True, logs=None, lora_rank=None,
             lora_targets=None, lora_alpha=None, precision="float32",
             gradient_accumulation_steps=1, strategy="default", **table_options):
    """Fine-tunes `init` on `task` and writes the best epoch to `out`; returns the metrics
    dict written to `out/metrics.json`.

    Args:
        task: a name of `keras_bert_impl.training.finetune_tasks.TASKS`.
        data: the task's folder or file (see `finetune_data.load_splits`).
        init: a preset or run directory (ours, Hugging Face, Google) with a vocabulary.
        out: the run directory to write (refused if it exists and is not empty, unless
            `overwrite=True`).
        epochs, learning_rate, batch_size: training (AdamW, 10% warmup, linear decay).
        sequence_length: default the task's (128; 256 BBC; 384 SQuAD).
        validation_fraction, seed: the held-out split where the data has no dev split; `seed`
            also seeds the head's weights and the shuffling.
        split_seed: the held-out split's own seed (default `seed`): runs with different
            `seed` and one `split_seed` are scored on the same validation examples.
        max_train_examples, max_eval_examples: use only the first examples (quick runs).
        load_weights: `False` starts from `init`'s architecture and vocabulary with random
            weights (the baseline that shows what pretraining is worth).
        logs: a folder for TensorBoard logs of the training (loss per batch and epoch,
            the validation metric per epoch); `None` writes none.
        lora_rank, lora_targets, lora_alpha: LoRA fine-tuning (`model.enable_lora`): the
            adapters' rank (`None`: fine-tune every weight), the projections they adapt
            (default `("query", "value")`) and their scale numerator (default the rank).
            LoRA usually wants a higher learning rate than full fine-tuning (1e-4 to 1e-3).
        precision: the Keras dtype policy while training (`float32`, `mixed_bfloat16`,
            `mixed_float16` with dynamic loss scaling); the preset is written in float32.
        gradient_accumulation_steps: one optimizer update per this many batches (an
            effective batch of `batch_size` times it); the schedule counts updates.
        strategy: `"default"` (one device) or `"mirrored"` (every local GPU, each batch split
            across them), or a `tf.distribute` strategy already made; the model is built and
            compiled in its scope.
    """
    import keras

    from keras_bert_impl.keras_private import TensorBoard
    from keras_bert_impl.layers.transformer import DEFAULT_LORA_TARGETS, lora_settings
    from keras_bert_impl.models.text_task import default_optimizer
    from keras_bert_impl.presets.lora import LORA_FILE
    from keras_bert_impl.presets.ours import atomic_write_text, check_preset_target

    spec = task_spec(task)
    lora = None
    if lora_rank is not None:
        lora = lora_settings(lora_rank, lora_targets or DEFAULT_LORA_TARGETS, lora_alpha)
    elif lora_targets is not None or lora_alpha is not None:
        raise ValueError("LoRA targets and alpha need a LoRA rank (--lora-rank R); without "
                         "one every weight is fine-tuned.")
    check_precision(precision)
    if (isinstance(gradient_accumulation_steps, bool)
            or not isinstance(gradient_accumulation_steps, int)
            or gradient_accumulation_steps < 1):
        raise ValueError("gradient accumulation (--grad-accum) must be a positive number of "
                         f"batches per update, got {gradient_accumulation_steps!r}.")
    strategy = _finetune_strategy(strategy)
    check_preset_target(out, overwrite=overwrite)
    with training_precision(precision):
        keras.utils.set_random_seed(seed)
        split_seed = seed if split_seed is None else split_seed
        splits = load_splits(task, data, tfds=tfds, validation_fraction=validation_fraction,
                             seed=split_seed, **table_options)
        train = limit(splits["train"], max_train_examples)
        validation = limit(splits["validation"], max_eval_examples)
        if sequence_length is not None:
            _check_sequence_length(sequence_length, init)
        sequence_length = sequence_length or spec.sequence_length
        with strategy.scope():
            model = build_model(task, init, {"train": train}, sequence_length, dropout=dropout,
                                doc_stride=doc_stride, max_query_length=max_query_length,
                                load_weights=load_weights)
            if lora is not None:
                model.enable_lora(**lora)
            model.compile(optimizer=default_optimizer(
                learning_rate, gradient_accumulation_steps=gradient_accumulation_steps),
                jit_compile=jit_compile)
        parameters = parameter_counts(model)
        trained = (f"LoRA rank {lora['rank']} on {','.join(lora['targets'])} (alpha "
                   f"{lora['alpha']}) + head" if lora else "all weights")
        print_fn(f"finetune {task}: {len(train):,} train / {len(validation):,} validation "
                 f"examples, {type(model).__name__} from {init}"
                 f"{'' if load_weights else ' (random weights)'}, sequence length "
                 f"{sequence_length}, {epochs} epoch(s) of batch {batch_size}"
                 f"{_update_text(batch_size, gradient_accumulation_steps)}, lr {learning_rate}"
                 f"{'' if precision == 'float32' else ', ' + precision}; "
                 f"training {trained}: {parameters['trainable']:,} of {parameters['total']:,} "
                 f"parameters")
        best = _BestEpoch(model, task, validation, spec.best_metric, batch_size, print_fn)
        x, y = model_inputs(spec.kind, train)
        if verbose == "auto":  # a progress bar on a terminal, one line per epoch in a log file
            verbose = 1 if sys.stdout.isatty() else 2
        started = time.time()
        callbacks = [best.callback]
        if logs is not None:  # after best.callback, so that the epoch logs hold its metric
            callbacks.append(TensorBoard(logs, update_freq=10, write_graph=False))
        model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=verbose, callbacks=callbacks)
        seconds = time.time() - started
        model.set_weights(best.best_weights)
        record = {
            "task": task, "init": str(init), "load_weights": bool(load_weights),
            "best_epoch": best.best_epoch,
            "best_metric": spec.best_metric,
            "validation": best.best_scores,
            "history": best.history, "train_examples": len(train),
            "validation_examples": len(validation), "train_seconds": round(seconds, 1),
            "parameters": parameters,
            "lora": None if lora is None else {**lora, "file": LORA_FILE},
            "settings": {"epochs": epochs, "learning_rate": learning_rate,
                         "batch_size": batch_size, "sequence_length": sequence_length,
                         "validation_fraction": validation_fraction, "seed": seed,
                         "split_seed": split_seed,
                         "data": None if data is None else str(data), "tfds": tfds,
                         "max_eval_examples": max_eval_examples, "lora": lora,
                         "precision": precision,
                         "gradient_accumulation_steps": gradient_accumulation_steps,
                         "replicas": strategy.num_replicas_in_sync,
                         **{k: v for k, v in table_options.items() if v is not None}},
        }
        # A LoRA model is written merged (a plain preset); its adapters and head go beside it.
        model.save_to_preset(out, metadata={"finetune": {k: record[k] for k in
                                                         ("task", "best_epoch", "settings")}},
                             overwrite=overwrite)
        if lora is not None:
            model.save_lora_weights(os.path.join(out, LORA_FILE))
        atomic_write_text(os.path.join(out, METRICS_FILE), json.dumps(record, indent=2) + "\n")
        return record


def _update_text(batch_size, accumulation):
    if accumulation == 1:
        return ""
    return f" (an update per {accumulation} batches: {batch_size * accumulation} examples)"


def _run_settings(run):
    path = os.path.join(run, METRICS_FILE)
    if not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f).get("settings", {})


SPLIT_NAMES = {"dev": "validation", "valid": "validation", "validation": "validation",
               "train": "train", "test": "test"}


def evaluate_run(run, task, data=None, split="validation", batch_size=32, tfds=False,
                 max_examples=None, dtype=None, quantize=None, **table_options):
    """The task's metrics of the fine-tuned `run` on `split` of `data` (default: the data,
    hold-out and limits the run was trained with, from its `metrics.json`); `dtype`
    (`"bfloat16"`) and `quantize` (`"int8"`) score the model's inference variant
    (`keras_bert_impl.models.inference.inference_model`), what `export` would serve."""
    from keras_bert_impl import models
    from keras_bert_impl.models.inference import inference_model

    spec = task_spec(task)
    settings = _run_settings(run)
    data = data if data is not None else settings.get("data")
    split_name = SPLIT_NAMES.get(split)
    if split_name is None:
        raise ValueError(f"Unknown split {split!r}; use one of {sorted(SPLIT_NAMES)}.")
    options = {k: settings[k] for k in ("text_columns", "label_column", "label_names",
                                        "validation_path", "max_per_topic") if k in settings}
    options.update({k: v for k, v in table_options.items() if v is not None})
    splits = load_splits(task, data, tfds=tfds or settings.get("tfds", False),
                         validation_fraction=settings.get("validation_fraction", 0.1),
                         seed=settings.get("split_seed", settings.get("seed", 0)), **options)
    if split_name not in splits:
        raise ValueError(f"The {task} data at {data} has no {split} split; it has "
                         f"{sorted(splits)}.")
    chosen = limit(splits[split_name], max_examples if max_examples is not None
                   else settings.get("max_eval_examples") if split_name == "validation"
                   else None)
    model = getattr(models, spec.model_class).from_preset(run)
    if model.preprocessor is None:
        raise ValueError(f"{run} has no vocabulary, so it cannot read raw text; pass a run "
                         "written by keras-bert finetune.")
    return score(inference_model(model, dtype=dtype, quantize=quantize), task, chosen,
                 batch_size)
