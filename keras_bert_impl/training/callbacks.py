"""Callbacks for long pretraining runs: atomic checkpoints, a NaN guard, throughput logging.

* `PretrainingCheckpoint`: `tf.train.CheckpointManager` checkpoints of model + optimizer +
  dropout seed states + step counter + data position, at the end of every epoch (`pretrain`
  makes an epoch one checkpoint interval of steps), keeping the last K. It counts the steps
  itself (from the restored step), so epochs may differ in length, and it stops `fit` at
  `stop_at_step`: a run's last interval may be shorter than the others. TensorFlow writes the
  checkpoint files first and then replaces the `checkpoint` index file atomically, so a crash
  during a write leaves the previous checkpoint as the latest loadable one. Under
  multi-worker training every worker calls `save` (reading mirrored variables may need
  collectives) but only the chief writes into the real directory; the others write into
  their own `workertemp_<id>` directory, deleted afterwards, as TF's multi-worker
  checkpointing does. (Keras' `BackupAndRestore` makes every worker write the same files
  and restores only the epoch, not the step or the seed states; this is why we own one.)
* `NaNGuard`: stops training at the first non-finite loss, before any checkpoint of the bad
  weights is written, and keeps a message that `pretrain` raises.
* `PretrainingLogger`: puts `learning_rate` and `seq_per_s` into the batch logs (so the
  progress bar and TensorBoard show them) and prints a final throughput summary line.
"""

import math
import os
import shutil
import time

import keras


def _float(value):
    return float(keras.ops.convert_to_numpy(value))


def save_run_preset(model, run_dir, tokenizer=None, metadata=None):
    """`model.save_to_preset` into a pretraining run directory, which also holds
    `checkpoints/` and `logs/`: the preset is written into a temp directory inside it and its
    files are moved in one by one, `preset.json` last (`into_existing_run=True`), so the run
    directory holds a complete preset at every moment and its other files are untouched."""
    model.save_to_preset(run_dir, tokenizer=tokenizer, metadata=metadata,
                         into_existing_run=True)
    return run_dir


class PretrainingCheckpoint(keras.callbacks.Callback):
    """Checkpoints model, optimizer, step and data position every epoch; keeps the last K.

    Args:
        directory: checkpoint directory (the chief's; other workers use a temp dir).
        max_to_keep: number of checkpoints kept.
        is_chief: whether this process writes the real checkpoint.
        task_id: this worker's index (names the non-chief temp directory).
        preset_dir: if given, the chief also writes the model as our preset there after
            each checkpoint (`save_run_preset`: the run's other files stay), so the run
            directory loads with `from_preset` at every checkpoint.
        tokenizer: the `TokenizerSpec` (vocab + casing) written with that preset.
        stop_at_step: if set, `fit` stops after this step (within an epoch, then checkpointed
            at the end of that epoch); `pretrain` sets it to the end of each phase. Steps
            are counted from the restored (or 0) step, one per batch that `fit` runs.

    Example:

    ```python
    import tempfile
    from keras_bert_impl import BertPretrainer
    from keras_bert_impl.data.synthetic import synthetic_pretraining_dataset
    model = BertPretrainer.from_preset("bert_tiny", vocab_size=512)
    dataset = synthetic_pretraining_dataset(batch_size=4, seq_len=32, vocab_size=512,
                                            max_predictions=5)
    directory = tempfile.mkdtemp()
    checkpoint = PretrainingCheckpoint(directory, stop_at_step=5)
    model.compile(jit_compile=False)
    step = checkpoint.restore(model)  # 0 on a fresh run
    model.fit(dataset, steps_per_epoch=2, epochs=3, initial_epoch=step // 2,
              callbacks=[checkpoint], verbose=0)
    checkpoint.latest_step()  # 5: epochs of 2, 2 and 1 steps
    ```
    """

    def __init__(self, directory, max_to_keep=3, is_chief=True, task_id=0, preset_dir=None,
                 tokenizer=None, stop_at_step=None):
        super().__init__()
        self.preset_dir = preset_dir
        self.tokenizer = tokenizer
        import tensorflow as tf

        self.directory = os.fspath(directory)
        self.stop_at_step = stop_at_step
        self.max_to_keep = int(max_to_keep)
        self.is_chief = is_chief
        self.write_directory = (
            self.directory
            if is_chief
            else os.path.join(os.path.dirname(self.directory.rstrip("/")) or ".",
                              f"workertemp_{task_id}")
        )
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.data_position = tf.Variable(0, dtype=tf.int64, trainable=False, name="data_position")
        self._manager = None
        self.last_saved_step = None
        self._epoch_start_step = 0
        self._epoch_steps = 0

    def _checkpoint_manager(self, model):
        import tensorflow as tf

        if self._manager is None:
            checkpoint = tf.train.Checkpoint(
                model=model,
                optimizer=model.optimizer,
                # Dropout seed-generator states: restoring them makes a resumed run draw the
                # same dropout masks as an uninterrupted one.
                seed_states=[v.value for v in model.non_trainable_variables],
                step=self.step,
                data_position=self.data_position,
            )
            self._manager = tf.train.CheckpointManager(
                checkpoint, self.write_directory, max_to_keep=self.max_to_keep
            )
        return self._manager

    def latest_step(self):
        """The step of the newest complete checkpoint in `directory`, or 0."""
        import tensorflow as tf

        latest = tf.train.latest_checkpoint(self.directory)
        if latest is None:
            return 0
        reader = tf.train.load_checkpoint(latest)
        return int(reader.get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE"))

    def restore(self, model):
        """Restores the newest checkpoint into a built, compiled `model`; returns its step.

        The model's variables and its optimizer's variables are created first (under the
        model's strategy scope) so that every value is restored immediately.
        """
        import tensorflow as tf

        latest = tf.train.latest_checkpoint(self.directory)
        if latest is None:
            return 0
        optimizer = model.optimizer
        if not optimizer.built:
            with model.distribute_strategy.scope():
                optimizer.build(model.trainable_variables)
        manager = self._checkpoint_manager(model)
        manager.checkpoint.restore(latest).assert_existing_objects_matched()
        return int(self.step.numpy())

    def save(self, step, data_position):
        """Writes a checkpoint for `step` (every worker calls this; only the chief keeps it)."""
        manager = self._checkpoint_manager(self.model)
        self.step.assign(step)
        self.data_position.assign(data_position)
        manager.save(checkpoint_number=step)
        self.last_saved_step = step
        if not self.is_chief:
            shutil.rmtree(self.write_directory, ignore_errors=True)
        elif self.preset_dir is not None:
            save_run_preset(self.model, self.preset_dir, tokenizer=self.tokenizer,
                            metadata={"step": int(step)})

    def steps_left_in_epoch(self, steps_per_epoch):
        """The steps the epoch that starts now will run: `steps_per_epoch`, or fewer where
        `stop_at_step` comes first."""
        if self.stop_at_step is None:
            return steps_per_epoch
        return max(0, min(steps_per_epoch, self.stop_at_step - int(self.step.numpy())))

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start_step = int(self.step.numpy())
        self._epoch_steps = 0

    def on_train_batch_end(self, batch, logs=None):
        # `batch` is the epoch's index of the last step of the execution that just ran.
        self._epoch_steps = batch + 1
        if (self.stop_at_step is not None
                and self._epoch_start_step + self._epoch_steps >= self.stop_at_step):
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(_float(loss)):
            return  # never checkpoint diverged weights; NaNGuard reports it
        step = self._epoch_start_step + self._epoch_steps
        self.save(step, step)


class EpochProgbarLogger(keras.callbacks.ProgbarLogger):
    """Keras' progress bar, whose target for each epoch is the steps that epoch runs: a
    phase's last epoch, stopped early by `checkpoint.stop_at_step`, shows `50/50`, not the
    `50/100` of `steps_per_epoch`. Put it in `fit`'s callbacks after `checkpoint`.

    Example:

    ```python
    import tempfile
    from keras_bert_impl import BertPretrainer
    from keras_bert_impl.data.synthetic import synthetic_pretraining_dataset
    model = BertPretrainer.from_preset("bert_tiny", vocab_size=512)
    dataset = synthetic_pretraining_dataset(batch_size=4, seq_len=32, vocab_size=512,
                                            max_predictions=5)
    model.compile(jit_compile=False)
    checkpoint = PretrainingCheckpoint(tempfile.mkdtemp(), stop_at_step=3)
    model.fit(dataset, steps_per_epoch=2, epochs=2, verbose=2,
              callbacks=[checkpoint, EpochProgbarLogger(checkpoint)])
    ```
    """

    def __init__(self, checkpoint):
        super().__init__()
        self.checkpoint = checkpoint
        self.steps_per_epoch = None

    def set_params(self, params):
        super().set_params(params)
        self.steps_per_epoch = params["steps"]

    def on_epoch_begin(self, epoch, logs=None):
        if self.steps_per_epoch is not None:
            self.target = self.checkpoint.steps_left_in_epoch(self.steps_per_epoch)
        super().on_epoch_begin(epoch, logs)


class NaNGuard(keras.callbacks.Callback):
    """Stops training at the first non-finite loss and records a message saying what to do.

    Example:

    ```python
    import tempfile
    from keras_bert_impl import BertPretrainer
    from keras_bert_impl.data.synthetic import synthetic_pretraining_dataset
    model = BertPretrainer.from_preset("bert_tiny", vocab_size=512)
    dataset = synthetic_pretraining_dataset(batch_size=4, seq_len=32, vocab_size=512,
                                            max_predictions=5)
    model.compile(jit_compile=False)
    guard = NaNGuard()
    model.fit(dataset, steps_per_epoch=2, callbacks=[guard], verbose=0)
    if guard.message:
        raise FloatingPointError(guard.message)
    ```
    """

    def __init__(self, checkpoint_directory=None):
        super().__init__()
        self.checkpoint_directory = checkpoint_directory
        self.message = None
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None or math.isfinite(_float(loss)):
            return
        self.message = (
            f"Training diverged: the loss is {_float(loss)} at epoch {self._epoch}, batch "
            f"{batch}. Nothing after the last checkpoint was saved"
            + (f" (in {self.checkpoint_directory})" if self.checkpoint_directory else "")
            + ". Lower --learning-rate, raise --warmup-steps, keep --clipnorm on, or use "
            "--precision mixed_bfloat16/float32 instead of mixed_float16; then rerun the "
            "same command to resume from that checkpoint."
        )
        self.model.stop_training = True


class PretrainingLogger(keras.callbacks.Callback):
    """Adds `learning_rate` and `seq_per_s` to the logs; prints a final summary line.

    Throughput counts the steps after the first execution (which includes tracing and
    compilation) and `global_batch_size` sequences per step.

    Args:
        global_batch_size: sequences per training step, summed over all replicas.
        print_fn: where the summary line goes (`None` = silent).

    Example:

    ```python
    import tempfile
    from keras_bert_impl import BertPretrainer
    from keras_bert_impl.data.synthetic import synthetic_pretraining_dataset
    model = BertPretrainer.from_preset("bert_tiny", vocab_size=512)
    dataset = synthetic_pretraining_dataset(batch_size=4, seq_len=32, vocab_size=512,
                                            max_predictions=5)
    model.compile(jit_compile=False)
    logger = PretrainingLogger(global_batch_size=4)
    model.fit(dataset, steps_per_epoch=3, callbacks=[logger], verbose=0)
    logger.summary["seq_per_s"]
    ```
    """

    def __init__(self, global_batch_size, print_fn=print):
        super().__init__()
        self.global_batch_size = int(global_batch_size)
        self.print_fn = print_fn
        self.summary = {}
        self._start = None
        self._last_time = None
        self._steps = 0
        self._last_batch = -1
        self._last_logs = {}

    def on_epoch_begin(self, epoch, logs=None):
        self._last_batch = -1

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        steps = batch - self._last_batch
        self._last_batch = batch
        if logs is None:
            return
        optimizer = self.model.optimizer
        logs["learning_rate"] = _float(optimizer.learning_rate)
        if self._start is None:
            self._start = now  # the first execution includes tracing/compilation
        else:
            self._steps += steps
            logs["seq_per_s"] = steps * self.global_batch_size / max(now - self._last_time, 1e-9)
        self._last_time = now
        self._last_logs = dict(logs)

    def on_epoch_end(self, epoch, logs=None):
        # Epoch-level logs (verbose=2 lines, TensorBoard epoch scalars) get the same keys.
        if logs is not None:
            for key in ("learning_rate", "seq_per_s"):
                if key in self._last_logs:
                    logs[key] = self._last_logs[key]

    def on_train_end(self, logs=None):
        elapsed = (self._last_time or 0) - (self._start or 0)
        seq_per_s = self._steps * self.global_batch_size / elapsed if elapsed > 0 else float("nan")
        final = {k: _float(v) for k, v in self._last_logs.items() if k != "seq_per_s"}
        final.update(logs or {})
        self.summary = {
            "steps_timed": self._steps,
            "seconds": elapsed,
            "seq_per_s": seq_per_s,
            **{k: _float(v) for k, v in final.items()},
        }
        if self.print_fn:
            metrics = ", ".join(
                f"{k} {self.summary[k]:.4g}"
                for k in ("loss", "mlm_loss", "mlm_accuracy", "nsp_accuracy", "learning_rate")
                if k in self.summary
            )
            self.print_fn(
                f"pretrain summary: {self._steps} timed steps x {self.global_batch_size} "
                f"sequences in {elapsed:.1f} s = {seq_per_s:.1f} sequences/s; {metrics}"
            )
