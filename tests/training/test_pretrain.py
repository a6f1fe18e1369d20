"""pretrain(): exact resume after SIGKILL, checkpoint retention and atomicity, NaN guard,
speed switches (XLA, steps_per_execution, mixed precision, two phases), bad arguments."""

import functools
import os
import signal
import subprocess

import keras
import numpy as np
import pytest

from keras_bert_impl.data.synthetic import synthetic_pretraining_dataset
from keras_bert_impl.training.callbacks import PretrainingCheckpoint
from keras_bert_impl.training.pretrain import pretrain
from tests.training.helpers import REPO_ROOT, run_worker, worker_command, worker_env

TINY = {"vocab_size": 512}
SHORT = dict(TINY, max_position_embeddings=64)
DATA = functools.partial(synthetic_pretraining_dataset, vocab_size=512, max_predictions=5)


@pytest.mark.slow  # about 2 minutes: three pretraining processes (CI keeps the in-process
# resume of tests/models/test_pretrainer_resume.py)
def test_sigkill_mid_run_resumes_from_last_checkpoint_and_matches_uninterrupted(tmp_path):
    # dropout 0.1: the dropout seed states must be restored too for the weights to match.
    args = ("--steps", 12, "--checkpoint-every", 3, "--dropout", 0.1)
    reference = run_worker(tmp_path / "ref", tmp_path / "ref.json", *args)

    out, result = tmp_path / "run", tmp_path / "run.json"
    process = subprocess.Popen(
        worker_command(out, result, *args, "--sleep", 0.4), cwd=REPO_ROOT, env=worker_env(),
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    killed_after = None
    try:
        for line in process.stdout:
            if line.startswith("STEP "):
                step = int(line.split()[1])
                if step >= 8:  # checkpoints at 3 and 6 exist; step 9's not yet
                    os.kill(process.pid, signal.SIGKILL)
                    killed_after = step
                    break
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
    assert process.returncode == -signal.SIGKILL
    assert killed_after is not None and killed_after < 9
    checkpoint = PretrainingCheckpoint(out / "checkpoints")
    assert checkpoint.latest_step() == 6

    resumed = run_worker(out, result, *args)  # the same command again
    assert resumed["start_step"] == 6
    # At most one checkpoint interval redone: the killed run reached step 8, resumed at 7.
    assert min(resumed["losses"]) == 7 and killed_after - 6 <= 3
    assert sorted(resumed["losses"]) == list(range(7, 13))
    assert resumed["optimizer_iterations"] == reference["optimizer_iterations"] == 12
    for step in range(10, 13):  # a full epoch after the restart: same running-mean losses
        assert abs(resumed["losses"][step] - reference["losses"][step]) < 1e-5
    for a, b in zip(resumed["weights"], reference["weights"], strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6, rtol=0)
    # Only the last 3 checkpoints are kept.
    names = sorted(p.name for p in (out / "checkpoints").iterdir() if p.suffix == ".index")
    assert names == ["ckpt-12.index", "ckpt-6.index", "ckpt-9.index"]


def test_partial_checkpoint_write_leaves_previous_loadable(tmp_path):
    run = tmp_path / "run"
    pretrain(run, config_overrides=TINY, dataset_fn=DATA, seq_len=32, batch_size=4, steps=4,
             checkpoint_every=2, verbose=0)
    # A crash during the next write leaves data/index files but no updated `checkpoint`.
    (run / "checkpoints" / "ckpt-6.data-00000-of-00001").write_bytes(b"\0" * 100)
    (run / "checkpoints" / "ckpt-6.index").write_bytes(b"truncated")
    checkpoint = PretrainingCheckpoint(run / "checkpoints")
    assert checkpoint.latest_step() == 4
    keras.backend.clear_session()
    result = pretrain(run, config_overrides=TINY, dataset_fn=DATA, seq_len=32, batch_size=4,
                      steps=6, checkpoint_every=2, verbose=0)
    assert result["start_step"] == 4
    assert int(keras.ops.convert_to_numpy(result["model"].optimizer.iterations)) == 6


class _CrashAtStep(keras.callbacks.Callback):
    """Raises once `fit` has run `step` steps of a fresh run (steps_per_execution 1): a
    stand-in for a crash."""

    def __init__(self, step):
        super().__init__()
        self.step, self.steps = step, 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if self.steps == self.step:
            raise KeyboardInterrupt


def _weights(model):
    return [keras.ops.convert_to_numpy(v) for v in model.trainable_variables]


def test_steps_that_checkpoint_every_does_not_divide_end_with_a_short_interval(tmp_path, capsys):
    """steps=5, phase2_steps=3 with checkpoint_every=2: checkpoints at 2, 4, 5 | 7, 8 (each
    phase ends with a shorter interval, as Model Garden's last one); the weights equal those
    of checkpoint_every=8 (the interval changes where checkpoints fall, not the training), and
    a run that crashes at step 6 resumes from 5 and ends with the same weights."""
    kwargs = dict(config_overrides=TINY, dataset_fn=DATA, seq_len=16, batch_size=4, steps=5,
                  phase2_steps=3, phase2_seq_len=32, keep_checkpoints=10, xla=False)
    run = tmp_path / "run"
    result = pretrain(run, checkpoint_every=2, verbose=2, **kwargs)
    names = sorted(int(p.name[5:-6]) for p in (run / "checkpoints").glob("ckpt-*.index"))
    assert names == [2, 4, 5, 7, 8]
    assert int(keras.ops.convert_to_numpy(result["model"].optimizer.iterations)) == 8
    epochs = [line for line in capsys.readouterr().out.splitlines()
              if line.split(" - ")[0].strip() in ("1/1", "2/2", "1/2")]
    # Keras' verbose=2 line per epoch: the short epochs (steps 5 and 8) show 1/1, not 1/2.
    assert [line.split(" - ")[0].strip() for line in epochs] == ["2/2", "2/2", "1/1", "2/2",
                                                                "1/1"]
    expected = _weights(result["model"])

    keras.backend.clear_session()
    single = pretrain(tmp_path / "single", checkpoint_every=8, verbose=0, **kwargs)
    for a, b in zip(_weights(single["model"]), expected, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6, rtol=0)

    keras.backend.clear_session()
    crashed = tmp_path / "crashed"
    with pytest.raises(KeyboardInterrupt):
        pretrain(crashed, checkpoint_every=2, verbose=0, callbacks=[_CrashAtStep(6)],
                 **kwargs)
    assert PretrainingCheckpoint(crashed / "checkpoints").latest_step() == 5
    keras.backend.clear_session()
    resumed = pretrain(crashed, checkpoint_every=2, verbose=0, **kwargs)
    assert resumed["start_step"] == 5
    for a, b in zip(_weights(resumed["model"]), expected, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6, rtol=0)


def test_nan_loss_stops_with_message_and_keeps_last_checkpoint(tmp_path):
    run = tmp_path / "run"
    pretrain(run, config_overrides=TINY, dataset_fn=DATA, seq_len=32, batch_size=4, steps=2,
             checkpoint_every=2, verbose=0)

    def poisoned(**kwargs):
        def poison(x, y):
            y = dict(y, mask_weights=y["mask_weights"] * float("nan"))
            return x, y
        return DATA(**kwargs).map(poison)

    keras.backend.clear_session()
    with pytest.raises(FloatingPointError, match=r"loss is nan.*checkpoints.*--learning-rate"):
        pretrain(run, config_overrides=TINY, dataset_fn=poisoned, seq_len=32, batch_size=4,
                 steps=4, checkpoint_every=2, verbose=0)
    assert PretrainingCheckpoint(run / "checkpoints").latest_step() == 2


def test_steps_per_execution_bfloat16_two_phases_lamb(tmp_path, capsys):
    # XLA is left off: `xla` only reaches `compile` (the XLA train step itself is
    # tests/models/test_encoder_and_pretrainer.py::test_fit_step_with_xla), and compiling
    # this mixed-precision step for a CPU takes most of a minute.
    result = pretrain(
        tmp_path / "run", config_overrides=TINY, dataset_fn=DATA, seq_len=16, batch_size=4,
        steps=4, phase2_steps=2, phase2_seq_len=32, checkpoint_every=2, steps_per_execution=2,
        precision="mixed_bfloat16", xla=False, optimizer="lamb", learning_rate=1e-3, verbose=0,
    )
    model, summary = result["model"], result["summary"]
    assert model.dtype_policy.name == "mixed_bfloat16"
    assert model.jit_compile is False
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 6
    # The position table is the preset's, untouched by the switch from 16 to 32 tokens.
    assert model.encoder.config.max_position_embeddings == 512
    assert np.isfinite(summary["loss"]) and summary["seq_per_s"] > 0
    assert keras.config.dtype_policy().name == "float32"  # restored afterwards
    assert "pretrain summary:" in capsys.readouterr().out
    assert (tmp_path / "run" / "pretrainer.keras").exists()
    # TensorBoard event files were written.
    assert any("tfevents" in p.name for p in (tmp_path / "run" / "logs").rglob("*"))


def test_mixed_float16_uses_loss_scaling_and_accumulates_gradients(tmp_path):
    result = pretrain(tmp_path / "run", config_overrides=TINY, dataset_fn=DATA, seq_len=16,
                      batch_size=4, steps=4, checkpoint_every=4, precision="mixed_float16",
                      gradient_accumulation_steps=2, verbose=0)
    optimizer = result["model"].optimizer
    assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
    assert np.isfinite(result["summary"]["loss"])
    # 4 batches, an update per 2: the schedule is 2 updates long and ran to its end
    inner = optimizer.inner_optimizer
    assert int(keras.ops.convert_to_numpy(inner.iterations)) == 2
    assert inner._learning_rate.decay_steps == 2


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"steps": 3, "checkpoint_every": 4, "steps_per_execution": 2}, ValueError,
         r"^steps \(3\) must be a multiple of steps_per_execution \(2\).*steps=4 \(--steps, "
         r"--steps-per-execution on the command line\)\.$"),
        ({"precision": "fp8"}, ValueError, "Unknown precision 'fp8'"),
        ({"seq_len": 80, "config_overrides": SHORT}, ValueError,
         r"^--seq-len 80 is longer than the 64 positions of the model \(max_position_embeddings"
         r"=64\); pass --seq-len 64 or less \(in Python: seq_len=\), or a model with more "
         r"positions\.$"),
        ({"phase2_steps": 2, "phase2_seq_len": 128, "config_overrides": SHORT}, ValueError,
         r"^--phase2-seq-len 128 is longer than the 64 positions of the model .*in Python: "
         r"phase2_seq_len=\)"),
        ({"checkpoint_every": 3, "steps": 3, "steps_per_execution": 2}, ValueError,
         "multiple of steps_per_execution"),
        ({"dataset_fn": None, "vocab": "/nonexistent/vocab.txt", "corpus": "x"},
         FileNotFoundError, "vocab.txt"),
        ({"dataset_fn": None}, ValueError, "exactly one of corpus"),
    ],
)
def test_bad_arguments_are_clear_errors(tmp_path, kwargs, error, match):
    arguments = dict(config_overrides=TINY, dataset_fn=DATA, seq_len=16, batch_size=4,
                     steps=2, checkpoint_every=2, verbose=0)
    arguments.update(kwargs)
    with pytest.raises(error, match=match):
        pretrain(tmp_path / "run", **arguments)
