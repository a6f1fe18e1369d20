"""`pretrain(...)`: BERT MLM+NSP pretraining with `model.fit` under a `tf.distribute` strategy.

One function is the whole system; `keras-bert pretrain` is a thin wrapper over it:

1. the dtype policy (`float32`, `mixed_bfloat16`, `mixed_float16` with loss scaling) and seed;
2. the strategy (`default`, `mirrored`, `multi_worker`, `tpu`), inside whose scope the model,
   optimizer (AdamW/LAMB, warmup + decay, global-norm clipping, gradient accumulation) and
   metrics are built; `jit_compile` (XLA) and `steps_per_execution` go to `compile`;
3. the newest checkpoint in `out/checkpoints` is restored (model, optimizer, dropout seeds,
   step, data position), so rerunning the same command after a crash or `kill -9` resumes;
4. `fit` runs in epochs of `checkpoint_every` steps (one checkpoint per epoch, last
   `keep_checkpoints` kept; a phase whose steps are not a multiple of `checkpoint_every`
   ends with a shorter epoch, as Model Garden's last interval); the input is an infinite,
   deterministic `tf.data` pipeline that is skipped forward to the restored data position,
   so at most one checkpoint interval of steps is redone and the resumed run sees the
   batches the uninterrupted run would have seen;
5. an optional second phase (`phase2_steps` at `phase2_seq_len`, as the reference trains:
   90% of steps at 128 tokens, the rest at 512) continues the same optimizer and schedule;
   the position table always has `max_position_embeddings` rows, so nothing is re-created;
6. the chief writes `out/pretrainer.keras` and `out/summary.json` atomically.

The run directory `out` must be new, empty, or a run directory (`checkpoints/`, `logs/`):
anything else is refused before a file is written. Resuming checks that the run was started
with the same model and vocabulary (its `preset.json` and `vocab.txt`) and says which flag
differs. A run that fails before its first checkpoint removes what it created (and nothing
else); temp files that a killed run left behind are removed at the next start.

The run directory is a preset at every checkpoint and at the end: with each checkpoint the
chief also writes our preset files (`preset.json`, `model.safetensors`, `vocab.txt` with the
run's casing), so `BertClassifier.from_preset(out, num_classes=2)`,
`BertEncoder.from_preset(out)` and `BertTokenizer.from_preset(out)` load the newest weights,
the vocabulary and the casing the run used.

The progress bar shows loss, `mlm_loss`, `nsp_loss`, `mlm_accuracy`, `nsp_accuracy`,
`learning_rate` and `seq_per_s`; TensorBoard logs (scalars, learning-rate curve) go to
`out/logs`; the last line printed is a throughput summary.
"""

import contextlib
import json
import math
import os

from keras_bert_impl.presets.ours import (
    PRESET_FILE,
    VOCAB_FILE,
    atomic_write_text,
    remove_path,
    remove_stale_temp_files,
)
from keras_bert_impl.presets.tokenizer_spec import read_vocab_file
from keras_bert_impl.training.precision import check_precision

# What makes a directory a pretraining run: resumable, and ours to write into.
RUN_MARKERS = ("checkpoints", "logs")
# BertConfig fields that a checkpoint's variables depend on (dropout rates may change).
ARCHITECTURE_FIELDS = ("vocab_size", "hidden_size", "num_layers", "num_heads",
                       "intermediate_size", "hidden_act", "max_position_embeddings",
                       "type_vocab_size", "layer_norm_epsilon")


def _check_run_directory(out):
    """Refuses an `out` that is neither new, empty nor a run directory (before any write)."""
    if os.path.lexists(out) and not os.path.isdir(out):
        raise FileExistsError(f"--out {out} exists and is not a directory; pass a new "
                              "directory for the run.")
    if not os.path.isdir(out):
        return
    entries = sorted(os.listdir(out))
    if not entries or any(marker in entries for marker in RUN_MARKERS):
        remove_stale_temp_files(out)  # left by a run killed mid-write
        return
    if PRESET_FILE in entries:
        raise FileExistsError(
            f"--out {out} holds a preset but is not a pretraining run (no checkpoints/ or "
            f"logs/); the run would overwrite its files. To continue pretraining from it, "
            f"pass --preset {out} and a new --out."
        )
    shown = entries[:8] + (["..."] if len(entries) > 8 else [])
    raise FileExistsError(
        f"--out {out} is not empty ({', '.join(shown)}) and is not a pretraining run "
        "directory (no checkpoints/ or logs/); a run writes checkpoints/, logs/, "
        "model.safetensors, preset.json, vocab.txt, pretrainer.keras and summary.json there. "
        "Pass a new or empty --out."
    )


def _size_name(config):
    from keras_bert_impl.config import PRESETS

    for name, preset in PRESETS.items():
        if all(getattr(preset, f) == getattr(config, f)
               for f in ARCHITECTURE_FIELDS if f != "vocab_size"):
            return name
    return "a custom size"


def _describe(name, config, tokenizer, vocab_source):
    text = (f"{name} (hidden {config.hidden_size}, {config.num_layers} layers, "
            f"vocab {config.vocab_size}")
    if tokenizer is not None:
        text += f" from {vocab_source}, " + ("uncased" if tokenizer.lowercase else "cased")
    return text + ")"


def _check_same_run(out, preset, config, tokenizer):
    """Raises `ValueError` when run directory `out` was started with another model size,
    vocabulary or casing than this call asks for (read from the run's own preset)."""
    from keras_bert_impl.config import PRESETS
    from keras_bert_impl.presets.checkpoint import read_checkpoint

    if not os.path.isfile(os.path.join(out, PRESET_FILE)):
        return
    stored = read_checkpoint(out, weights=False)
    changes = [
        f"{field} {getattr(stored.config, field)} vs {getattr(config, field)}"
        for field in ARCHITECTURE_FIELDS
        if getattr(stored.config, field) != getattr(config, field)
    ]
    if tokenizer is not None and stored.tokenizer is not None:
        old, new = stored.tokenizer.tokens(), tokenizer.tokens()
        if old != new:
            first = next((i for i, (a, b) in enumerate(zip(old, new)) if a != b), None)
            changes.append(
                "another vocabulary" + ("" if first is None else
                                        f" (id {first} is {old[first]!r} vs {new[first]!r})")
            )
        if stored.tokenizer.lowercase != tokenizer.lowercase:
            changes.append("uncased vs cased" if stored.tokenizer.lowercase
                           else "cased vs uncased")
    if not changes:
        return
    asked = preset if isinstance(preset, str) and preset in PRESETS else _size_name(config)
    started = _describe(_size_name(stored.config), stored.config, stored.tokenizer,
                        os.path.join(out, VOCAB_FILE))
    wanted = _describe(asked, config, tokenizer, tokenizer.source if tokenizer else None)
    raise ValueError(
        f"{out} was started with {started}; this command asks for {wanted}. Different: "
        f"{'; '.join(changes)}. To resume {out}, pass the flags it was started with "
        f"(--preset, --vocab, --cased/--uncased); to start a new run, use another --out."
    )


def _restore(checkpoint, model, out):
    """`checkpoint.restore(model)`, with a checkpoint of another model named as such."""
    try:
        return checkpoint.restore(model)
    except (ValueError, AssertionError) as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(
            f"The checkpoint in {checkpoint.directory} does not fit this model ({reason}): "
            f"{out} was started with another --preset or --vocab. To resume it, pass the "
            f"flags it was started with; to start a new run, use another --out."
        ) from e


def save_keras_file(model, path):
    """`model.save(path)` through a temp file beside `path` and a rename: a kill mid-save
    leaves the previous file (and a temp file the next run removes), never half a file."""
    folder, name = os.path.split(os.path.abspath(path))
    tmp = os.path.join(folder, f".{name[:-len('.keras')]}-{os.getpid()}.tmp.keras")
    try:
        model.save(tmp)
        os.replace(tmp, path)
    finally:
        remove_path(tmp)
    return path


def _remove_failed_run(out, before):
    """After a failure: removes what this run created in `out` (the names not in `before`),
    unless a checkpoint exists (then everything stays, to resume from). `out` may be gone:
    another worker of a multi-worker run removes it when it fails first and it is empty."""
    if not os.path.isdir(out) or os.path.exists(os.path.join(out, "checkpoints", "checkpoint")):
        return
    for name in sorted(set(os.listdir(out)) - before):
        remove_path(os.path.join(out, name))


def _vocab_size(vocab):
    if not os.path.isfile(vocab):
        raise FileNotFoundError(f"Vocab file {vocab!r} does not exist; pass --vocab vocab.txt "
                                "(one WordPiece per line, e.g. from `keras-bert vocab`).")
    return len(read_vocab_file(vocab))


def _validate(steps, checkpoint_every, steps_per_execution, phase2_steps, precision):
    check_precision(precision)
    for name, value in (("steps", steps), ("checkpoint_every", checkpoint_every),
                        ("steps_per_execution", steps_per_execution)):
        if not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    for name, value in (("checkpoint_every", checkpoint_every), ("steps", steps),
                        ("phase2_steps", phase2_steps)):
        if value % steps_per_execution:
            raise ValueError(
                f"{name} ({value}) must be a multiple of steps_per_execution "
                f"({steps_per_execution}): fit runs whole executions of steps_per_execution "
                f"steps, and checkpoints fall between them; e.g. {name}="
                f"{math.ceil(value / steps_per_execution) * steps_per_execution} (--"
                f"{name.replace('_', '-')}, --steps-per-execution on the command line)."
            )


def _distributed_dataset(strategy, dataset_fn, global_batch, seq_len, skip_steps):
    """The input for `fit`: per-pipeline datasets, skipped to the data position."""
    import tensorflow as tf

    from keras_bert_impl.training.distribute import is_multi_worker, per_replica_batch_size

    per_replica = per_replica_batch_size(global_batch, strategy)
    if strategy.num_replicas_in_sync == 1 and not is_multi_worker(strategy):
        dataset = dataset_fn(batch_size=global_batch, seq_len=seq_len, input_context=None)
        return dataset.skip(skip_steps)

    def fn(input_context):
        dataset = dataset_fn(batch_size=per_replica, seq_len=seq_len, input_context=input_context)
        # Each step takes one batch per local replica from this pipeline.
        local = input_context.num_replicas_in_sync // input_context.num_input_pipelines
        return dataset.skip(skip_steps * local)

    options = tf.distribute.InputOptions(experimental_fetch_to_device=True)
    return strategy.distribute_datasets_from_function(fn, options)


def _validation_dataset(files, vocab, lowercase, max_predictions, whole_word,
                        max_bad_line_fraction, seed, batch_size, seq_len, steps):
    """`steps` fixed batches of held-back documents (masks and pairs drawn once, cached)."""
    from keras_bert_impl.data.corpus import corpus_dataset_fn

    if vocab is None:
        raise ValueError("validation_corpus needs a vocab (the one of the training corpus).")
    if steps < 1:
        raise ValueError(f"validation_steps must be at least 1; got {steps}.")
    dataset_fn = corpus_dataset_fn(
        files=files, vocab=vocab, lowercase=lowercase, max_predictions=max_predictions,
        seed=seed + 1, max_bad_line_fraction=max_bad_line_fraction, whole_word=whole_word)
    # Repeated: a small held-back corpus still gives `steps` batches (Keras warns otherwise).
    return dataset_fn(batch_size=batch_size, seq_len=seq_len, input_context=None) \
        .repeat().take(steps).cache()


def pretrain(
    out,
    preset="bert_tiny",
    corpus=None,
    tfds_name=None,
    vocab=None,
    lowercase=True,
    seq_len=128,
    batch_size=32,
    steps=1000,
    max_predictions=20,
    optimizer="adamw",
    learning_rate=1e-4,
    warmup_steps=None,
    end_learning_rate=0.0,
    power=1.0,
    weight_decay=0.01,
    clipnorm=1.0,
    gradient_accumulation_steps=1,
    strategy="default",
    tpu_address=None,
    precision="float32",
    xla="auto",
    steps_per_execution=1,
    phase2_steps=0,
    phase2_seq_len=512,
    checkpoint_every=100,
    keep_checkpoints=3,
    log_every=10,
    seed=0,
    config_overrides=None,
    dataset_fn=None,
    callbacks=(),
    verbose="auto",
    max_bad_line_fraction=0.1,
    whole_word_masking=False,
    validation_corpus=None,
    validation_steps=20,
):
    """Pretrains a BERT (MLM + NSP) and returns `{"model", "summary", "start_step"}`.

    Args:
        out: run directory (`checkpoints/`, `logs/`, `pretrainer.keras`, `summary.json`).
        preset: model size (`bert_tiny` ... `bert_large`), see `keras_bert_impl.PRESETS`.
        corpus: glob (or list of globs) of text files in the reference format (one sentence
            per line, blank line between documents).
        tfds_name: instead of `corpus`, a TFDS dataset name with a `text` feature.
        vocab: `vocab.txt`; its size sets the model's `vocab_size`.
        lowercase: the casing of the text pipeline (`True` = uncased), stored in the run's
            preset so that fine-tuning tokenizes the same way.
        seq_len, batch_size, steps, max_predictions: phase-1 sequence length, global batch
            size (split across replicas), training steps, masked positions per sequence.
        optimizer, learning_rate, warmup_steps, end_learning_rate, power, weight_decay,
            clipnorm, gradient_accumulation_steps: see `create_optimizer`; `warmup_steps`
            defaults to 10% of the optimizer updates (the reference's 10,000 of 1M is 1%).
        strategy, tpu_address: a name of `create_strategy` (with the TPU's address for
            `"tpu"`) or a `tf.distribute.Strategy` already made.
        precision: `float32`, `mixed_bfloat16` or `mixed_float16` (dynamic loss scaling).
        xla: `jit_compile` of the train step; `"auto"` is Keras' (XLA with a GPU or TPU,
            off on a CPU-only machine).
        steps_per_execution: training steps per `tf.function` call.
        phase2_steps, phase2_seq_len: the second phase (0 steps = none).
        checkpoint_every, keep_checkpoints: checkpoint interval (steps) and how many to keep;
            each phase also ends with a checkpoint. `steps`, `phase2_steps` and
            `checkpoint_every` are multiples of `steps_per_execution`.
        log_every: TensorBoard batch-level logging interval (steps).
        seed: seed for weights, dropout and data.
        config_overrides: `BertConfig` fields to override on the preset (e.g. `vocab_size`).
        dataset_fn: instead of a corpus, `dataset_fn(batch_size=, seq_len=, input_context=)`
            returning an infinite, deterministic dataset of `(x, y)` batches (e.g.
            `functools.partial(synthetic_pretraining_dataset, vocab_size=512)`).
        callbacks: extra Keras callbacks.
        verbose: `fit` verbosity.
        max_bad_line_fraction: stop before anything is built when more than this share of
            a corpus file's first lines (1 MiB, at most 1,000 lines) are not text (not valid
            UTF-8, mostly control characters, or mostly `[UNK]` with `vocab`); `1.0` turns
            the check off (see `keras_bert_impl.data.corpus`).
        whole_word_masking: mask every piece of a selected word (the reference's
            `--do_whole_word_mask`); corpus and TFDS input only.
        validation_corpus: glob(s) of held-back documents (the corpus format). Their MLM
            and NSP metrics are measured before training and after each checkpoint interval
            (`val_*` in the logs and TensorBoard); the summary's `validation` holds the
            first and last (`{"start": ..., "end": ...}`). The held-back batches are fixed:
            masks and NSP pairs are drawn once.
        validation_steps: batches of `batch_size` sequences from `validation_corpus`.

    Example:

    ```python
    import functools
    import tempfile
    from keras_bert_impl.data.synthetic import synthetic_pretraining_dataset
    result = pretrain(
        tempfile.mkdtemp(), preset="bert_tiny", config_overrides={"vocab_size": 512},
        dataset_fn=functools.partial(synthetic_pretraining_dataset, vocab_size=512,
                                     max_predictions=5),
        seq_len=32, batch_size=8, steps=20, checkpoint_every=10, verbose=0,
    )
    result["summary"]["seq_per_s"]
    ```
    """
    import keras

    from keras_bert_impl.keras_private import TensorBoard
    from keras_bert_impl.models.pretrainer import BertPretrainer
    from keras_bert_impl.optimizers import create_optimizer
    from keras_bert_impl.training.callbacks import (
        EpochProgbarLogger,
        NaNGuard,
        PretrainingCheckpoint,
        PretrainingLogger,
        save_run_preset,
    )
    from keras_bert_impl.training.distribute import (
        create_strategy,
        enable_multi_worker_fit,
        per_replica_batch_size,
        worker_info,
    )

    _validate(steps, checkpoint_every, steps_per_execution, phase2_steps, precision)
    overrides = dict(config_overrides or {})
    if vocab is not None:
        overrides.setdefault("vocab_size", _vocab_size(vocab))
    if dataset_fn is None:
        if (corpus is None) == (tfds_name is None):
            raise ValueError("Pass exactly one of corpus (text file globs) or tfds_name "
                             "(or a dataset_fn).")
        if vocab is None:
            raise ValueError("A corpus needs --vocab vocab.txt (e.g. from `keras-bert vocab`).")
        from keras_bert_impl.data.corpus import corpus_dataset_fn

        dataset_fn = corpus_dataset_fn(
            files=corpus, tfds_name=tfds_name, vocab=vocab, lowercase=lowercase,
            max_predictions=max_predictions, seed=seed,
            max_bad_line_fraction=max_bad_line_fraction, whole_word=whole_word_masking,
        )
    validation = None
    if validation_corpus is not None:
        validation = _validation_dataset(
            validation_corpus, vocab, lowercase, max_predictions, whole_word_masking,
            max_bad_line_fraction, seed, batch_size, seq_len, validation_steps)
    tokenizer = None
    if vocab is not None:
        from keras_bert_impl.presets import TokenizerSpec

        tokenizer = TokenizerSpec(
            vocabulary=read_vocab_file(vocab), lowercase=bool(lowercase), source=vocab
        )

    out = os.fspath(out)
    _check_run_directory(out)
    existed = os.path.isdir(out)
    before = set(os.listdir(out)) if existed else set()
    created = []  # `out` and the parents made for it, deepest first
    folder = os.path.abspath(out)
    while not os.path.isdir(folder):
        created.append(folder)
        folder = os.path.dirname(folder)
    os.makedirs(out, exist_ok=True)
    is_chief = None
    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        keras.utils.set_random_seed(seed)
        dist = create_strategy(strategy, tpu_address)
        per_replica_batch_size(batch_size, dist)  # clear error before anything is built
        task_id, _, is_chief = worker_info(dist)
        accumulation = max(1, int(gradient_accumulation_steps or 1))
        total_updates = math.ceil((steps + phase2_steps) / accumulation)
        if warmup_steps is None:
            warmup_steps = total_updates // 10
        with dist.scope():
            model = BertPretrainer.from_preset(preset, **overrides)
            for argument, length in (("seq_len", seq_len),
                                     ("phase2_seq_len", phase2_seq_len if phase2_steps else None)):
                model.encoder.config.check_sequence_length(
                    length, model="the model", argument=argument,
                    flag="--" + argument.replace("_", "-"))
            model.compile(
                optimizer=create_optimizer(
                    optimizer,
                    learning_rate,
                    total_steps=total_updates,
                    warmup_steps=min(warmup_steps, total_updates),
                    end_learning_rate=end_learning_rate,
                    power=power,
                    weight_decay=weight_decay,
                    clipnorm=clipnorm,
                    gradient_accumulation_steps=accumulation,
                ),
                jit_compile=xla,
                steps_per_execution=steps_per_execution,
            )
        enable_multi_worker_fit(model, dist)
        _check_same_run(out, preset, model.encoder.config, tokenizer)

        checkpoint = PretrainingCheckpoint(
            os.path.join(out, "checkpoints"), keep_checkpoints,
            is_chief=is_chief, task_id=task_id, preset_dir=out, tokenizer=tokenizer,
        )
        start_step = _restore(checkpoint, model, out)
        if start_step:
            print(f"pretrain: resumed from the checkpoint at step {start_step} "
                  f"in {checkpoint.directory}", flush=True)
        guard = NaNGuard(checkpoint.directory)
        logger = PretrainingLogger(batch_size)
        all_callbacks = [guard, logger, checkpoint, *callbacks]
        if is_chief:
            all_callbacks.append(
                TensorBoard(
                    os.path.join(out, "logs"), update_freq=log_every, write_graph=False
                )
            )

        validation_metrics = {}
        if validation is not None and start_step == 0:
            validation_metrics["start"] = model.evaluate(validation, verbose=0, return_dict=True)
        phases = [(0, steps, seq_len)]
        if phase2_steps:
            phases.append((steps, steps + phase2_steps, phase2_seq_len))
        epochs_before = 0  # epochs of the phases before this one (TensorBoard's epoch axis)
        for phase_start, phase_end, phase_seq_len in phases:
            # Epochs of checkpoint_every steps from the phase's start; the last one is cut
            # short at the phase's end (checkpoint.stop_at_step) when the steps don't divide.
            epochs = epochs_before + math.ceil((phase_end - phase_start) / checkpoint_every)
            if start_step < phase_end:
                first = max(start_step, phase_start)
                dataset = _distributed_dataset(
                    dist, dataset_fn, batch_size, phase_seq_len, first - phase_start
                )
                checkpoint.stop_at_step = phase_end
                model.fit(
                    dataset,
                    steps_per_epoch=min(checkpoint_every, phase_end - phase_start),
                    epochs=epochs,
                    initial_epoch=epochs_before + (first - phase_start) // checkpoint_every,
                    callbacks=[*all_callbacks, EpochProgbarLogger(checkpoint)],
                    verbose=verbose,
                    shuffle=False,
                    validation_data=validation,
                )
                if guard.message:
                    raise FloatingPointError(guard.message)
            epochs_before = epochs
        if validation is not None:
            validation_metrics["end"] = model.evaluate(validation, verbose=0, return_dict=True)

        summary = dict(logger.summary, start_step=start_step, steps=steps + phase2_steps,
                       global_batch_size=batch_size, replicas=dist.num_replicas_in_sync,
                       precision=precision, xla=bool(model.jit_compile is True),
                       lowercase=bool(lowercase))
        if validation_metrics:
            summary["validation"] = {
                when: {name: float(value) for name, value in metrics.items()}
                for when, metrics in validation_metrics.items()
            }
        if is_chief:
            save_keras_file(model, os.path.join(out, "pretrainer.keras"))
            save_run_preset(model, out, tokenizer=tokenizer,
                            metadata={"step": steps + phase2_steps})
            atomic_write_text(os.path.join(out, "summary.json"), json.dumps(summary, indent=2))
        return {"model": model, "summary": summary, "start_step": start_step}
    except BaseException:
        if is_chief:
            _remove_failed_run(out, before)
        for folder in created:  # only those left empty; other workers may be writing
            with contextlib.suppress(OSError):
                os.rmdir(folder)
        raise
    finally:
        keras.config.set_dtype_policy(previous_policy)
