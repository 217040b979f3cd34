"""The shared training loop: resume at the batch level, best model, early stopping, time budget, reports."""

from __future__ import annotations

import io
import json
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from seqtasks.errors import CheckpointError, ConfigError, DataError
from seqtasks.runtime import commands, trainer
from tests.runtime.toy import ToyTask  # noqa: F401 - registers toy_regression

TINY = ["train.batch_size=16", "train.learning_rate=0.05", "train.verbose=none", "train.log_every_steps=1",
        "train.early_stopping_patience=0", "export.after_train=false"]


def final_weights(run_dir):
    _, model = commands.load_trained(run_dir, prefer_latest=True)
    return [w.numpy() for w in model.weights]


def train_killed_at_step(monkeypatch, step: int, *args, **kwargs) -> None:
    """`commands.train(*args, **kwargs)` interrupted right after `step`, as if the process were killed there."""
    original = trainer._LoopCallback.on_train_batch_end

    def crash(self, batch, logs=None):
        original(self, batch, logs)
        if int(self.loop.step_var.numpy()) == step:
            raise KeyboardInterrupt

    monkeypatch.setattr(trainer._LoopCallback, "on_train_batch_end", crash)
    with pytest.raises(KeyboardInterrupt):
        commands.train(*args, **kwargs)
    monkeypatch.setattr(trainer._LoopCallback, "on_train_batch_end", original)


@pytest.mark.parametrize("dropout", [0.0, 0.5])
def test_resume_after_interrupt_matches_uninterrupted_run(tmp_path, monkeypatch, dropout):
    # 5 steps per epoch; with dropout the masks after the resume must be those of the uninterrupted run.
    sets = [*TINY, "train.epochs=3", "train.checkpoint_every_steps=3", f"model.dropout={dropout}"]
    straight = commands.train("toy_regression", tmp_path / "straight", overrides=sets)
    assert straight.fit.step == 15

    train_killed_at_step(monkeypatch, 8, "toy_regression", tmp_path / "resumed", overrides=sets)
    assert tf.train.latest_checkpoint(str(tmp_path / "resumed" / "checkpoints")).endswith("ckpt-6")

    resumed = commands.train("toy_regression", tmp_path / "resumed", resume=True)  # config.yaml is reused
    assert resumed.fit.step == 15 and resumed.fit.epochs_done == 3
    for a, b in zip(final_weights(tmp_path / "straight"), final_weights(tmp_path / "resumed"), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    metrics = json.loads((tmp_path / "resumed" / "metrics.json").read_text())
    assert [e["epoch"] for e in metrics["epochs"]] == [1, 2, 3]  # epoch 2 recorded once, after the resume
    assert [s["step"] for s in metrics["steps"]] == list(range(1, 16))
    assert "mse" in metrics["evaluation"]["validation"]
    assert (tmp_path / "resumed" / "curves.png").stat().st_size > 1000
    assert list((tmp_path / "resumed" / "tensorboard" / "train").glob("events.out.tfevents.*"))


def test_best_model_and_early_stopping(tmp_path):
    # With a zero learning rate the validation loss never improves after the first epoch.
    out = commands.train(
        "toy_regression", tmp_path / "run",
        overrides=[*TINY, "train.epochs=10", "train.learning_rate=1e-12", "train.early_stopping_patience=2"],
    )
    assert out.fit.stopped == "early_stopping" and out.fit.epochs_done == 3
    assert tf.train.latest_checkpoint(str(tmp_path / "run" / "best")).endswith("ckpt-5")  # best: epoch 1
    assert out.fit.best == pytest.approx(json.loads((tmp_path / "run" / "metrics.json").read_text())["epochs"][0]["val_loss"])


def test_time_budget_stops_mid_epoch_and_resume_continues(tmp_path):
    out = commands.train("toy_regression", tmp_path / "run", overrides=[*TINY, "train.epochs=2", "train.max_minutes=1e-9"])
    assert out.fit.stopped == "time_budget" and out.fit.step == 1
    again = commands.train("toy_regression", tmp_path / "run", overrides=["train.max_minutes=0"])
    assert again.fit.step == 10 and again.fit.stopped == "epochs"


def test_resume_flags_and_task_mismatch(tmp_path):
    with pytest.raises(CheckpointError, match="has no checkpoint to resume from"):
        commands.train("toy_regression", tmp_path / "new", overrides=TINY, resume=True)
    commands.train("toy_regression", tmp_path / "run", overrides=[*TINY, "train.epochs=1"])
    with pytest.raises(CheckpointError, match="already holds a trained run"):
        commands.train("toy_regression", tmp_path / "run", resume=False)
    with pytest.raises(ConfigError, match="belongs to task 'toy_regression', not 'text_generation'"):
        commands.train("text_generation", tmp_path / "run")
    # A model that does not fit the checkpoint: a one-line error, not a TF traceback.
    with pytest.raises(CheckpointError, match="does not fit the model"):
        commands.train("toy_regression", tmp_path / "run", overrides=["model.units=3", "train.epochs=2"])


def test_commands_on_a_trained_run(tmp_path):
    commands.train("toy_regression", tmp_path / "run", overrides=[*TINY, "train.epochs=1"])
    out = io.StringIO()
    values = commands.predict(tmp_path / "run", ["1,0,0,0", "0,1,0,0"], out=out)
    assert len(values) == 2 and len(out.getvalue().splitlines()) == 2
    export_dir = commands.export(tmp_path / "run")
    assert (export_dir / "saved_model.pb").is_file()
    with pytest.raises(CheckpointError, match="does not exist"):
        commands.load_trained(tmp_path / "missing", "toy_regression")


def test_epoch_dataset_uses_the_task_resume_hook(tmp_path, monkeypatch):
    from seqtasks.config import load_config
    from seqtasks.runtime.run_dir import RunDir
    from tests.runtime.toy import ToyConfig

    task = ToyTask(load_config(ToyConfig, overrides=TINY), RunDir.at(tmp_path / "run"))
    task.prepare_data()
    expected = [x for x, _ in task.train_dataset(1).skip(2).as_numpy_iterator()]
    ds, n = trainer.epoch_dataset(task, 1, 2)  # default: tf.data skip
    got = [x for x, _ in ds.as_numpy_iterator()]
    assert n == 5 and len(got) == len(expected) == 3
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_array_equal(a, b)
    calls = []

    def resumed(self, epoch, skip):
        calls.append((epoch, skip))
        return self.train_dataset(epoch).skip(skip)

    monkeypatch.setattr(ToyTask, "resumed_train_dataset", resumed, raising=False)
    ds, n = trainer.epoch_dataset(task, 1, 2)
    assert calls == [(1, 2)] and n == 5
    assert len([x for x, _ in ds.as_numpy_iterator()]) == len(expected)


def test_seqtasks_errors_from_the_input_pipeline_are_unwrapped(tmp_path, monkeypatch):
    def broken(self, epoch):
        def generate():
            yield np.zeros((2, 4), "float32"), np.zeros((2, 1), "float32")
            raise DataError("Bad audio x.wav: cannot decode. Fix: replace it, or set data.on_bad_audio=skip.")

        spec = (tf.TensorSpec([None, 4], tf.float32), tf.TensorSpec([None, 1], tf.float32))
        return tf.data.Dataset.from_generator(generate, output_signature=spec)

    monkeypatch.setattr(ToyTask, "train_dataset", broken)
    with pytest.raises(DataError, match=r"^Bad audio x\.wav: cannot decode\. Fix: replace it, or set "
                                        r"data\.on_bad_audio=skip\.$"):
        commands.train("toy_regression", tmp_path / "run", overrides=[*TINY, "train.epochs=1"])


def test_finetune_refuses_other_model_settings_before_reading_data(tmp_path, monkeypatch):
    commands.train("toy_regression", tmp_path / "src", overrides=[*TINY, "train.epochs=1"])
    prepared = []
    monkeypatch.setattr(ToyTask, "prepare_data", lambda self, source=None: prepared.append(1))
    with pytest.raises(ConfigError, match=r"model\.units \(8 -> 4\) differ from the source run"):
        commands.finetune("toy_regression", tmp_path / "src", tmp_path / "ft", overrides=["model.units=4"],
                          data_paths=["unused.csv"])
    assert prepared == []


def test_curves_show_every_validation_metric_and_mark_the_monitored_one(tmp_path):
    from seqtasks.runtime.reporting import History
    from seqtasks.runtime.run_dir import RunDir

    run = RunDir.at(tmp_path)
    history = History(run, writer=False)
    history.info["monitor"] = "val_cer"
    for epoch in range(3):
        history.log_step(10 * epoch + 5, {"loss": 2.0 - epoch})
        history.log_epoch(epoch, 10 * epoch + 10, {"loss": 2.0 - epoch, "cer": 0.5, "val_loss": 2.5 - epoch,
                                                   "val_cer": 0.4, "val_infeasible": 0.0})
    panels = {title: [label for label, *_ in series] for title, series in history.panels()}
    assert panels == {
        "loss": ["train loss", "train loss (epoch mean)", "val_loss"],
        "val_cer (monitored)": ["train cer", "val_cer"],
        "val_infeasible": ["val_infeasible"],
    }
    history.plot(tmp_path / "curves.png")
    assert (tmp_path / "curves.png").stat().st_size > 1000


def test_a_non_finite_loss_stops_the_run_in_one_line(tmp_path, monkeypatch, capsys):
    from seqtasks import cli
    from tests.runtime.toy import ToyTask

    commands.train("toy_regression", tmp_path / "run", overrides=[*TINY, "train.epochs=1"])
    original = ToyTask.prepare_data

    def poisoned(self, source=None):
        original(self, source)
        self.y[self.y.size // 2:] = np.nan

    monkeypatch.setattr(ToyTask, "prepare_data", poisoned)
    code = cli.main(["train", "--task", "toy_regression", "--workdir", str(tmp_path / "run"),
                     "--set", "train.epochs=2"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "the training loss became nan at step" in err and "keeps its last checkpoint ckpt-5" in err
    assert tf.train.latest_checkpoint(str(tmp_path / "run" / "checkpoints")).endswith("ckpt-5")
    monkeypatch.setattr(ToyTask, "prepare_data", original)
    assert all(np.isfinite(w).all() for w in final_weights(tmp_path / "run"))


def test_disk_full_during_a_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch):
    import errno

    sets = [*TINY, "train.epochs=3", "train.checkpoint_every_steps=3"]
    original = trainer.Checkpoints.save

    def full_at_step_6(self, step):
        if step == 6:
            (self.run.checkpoints / "ckpt-6.data-00000-of-00001").write_bytes(b"half a checkpoint")
            raise OSError(errno.ENOSPC, "No space left on device")
        original(self, step)

    monkeypatch.setattr(trainer.Checkpoints, "save", full_at_step_6)
    with pytest.raises(CheckpointError, match=r"^no space left on the disk of .* checkpoint of step 6 \(the "
                                              r"previous checkpoint ckpt-5 is intact\)\. Fix: free disk space"):
        commands.train("toy_regression", tmp_path / "run", overrides=sets)
    monkeypatch.setattr(trainer.Checkpoints, "save", original)
    assert tf.train.latest_checkpoint(str(tmp_path / "run" / "checkpoints")).endswith("ckpt-5")
    resumed = commands.train("toy_regression", tmp_path / "run")
    assert resumed.fit.step == 15


def test_a_truncated_latest_checkpoint_falls_back_to_the_previous_one(tmp_path, capsys):
    run = tmp_path / "run"
    sets = [*TINY, "train.epochs=2", "train.checkpoint_every_steps=3"]
    commands.train("toy_regression", run, overrides=sets)  # checkpoints 6, 9, 10

    def truncate(path):
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])

    truncate(run / "checkpoints" / "ckpt-10.data-00000-of-00001")
    capsys.readouterr()
    again = commands.train("toy_regression", run, overrides=["train.epochs=3"])
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning")]
    assert err == [f"warning: checkpoint ckpt-10 in {run / 'checkpoints'} is unreadable (Read less bytes than "
                   "requested); using ckpt-9 instead"]
    assert again.fit.step == 15
    truncate(Path(tf.train.latest_checkpoint(str(run / "best")) + ".data-00000-of-00001"))
    commands.load_trained(run)  # the best model is unreadable: the latest checkpoint is used, with a warning
    assert "is unreadable" in capsys.readouterr().err
    for path in (run / "checkpoints").glob("*.data-*"):
        truncate(path)
    with pytest.raises(CheckpointError, match=r"^no checkpoint of .*checkpoints is readable \(newest: ckpt-15, "):
        commands.train("toy_regression", run, overrides=["train.epochs=4"])


def test_resume_with_recurrent_dropout_matches_uninterrupted_run(tmp_path, monkeypatch):
    # seqtasks' own cells: input and recurrent dropout masks come from their SeedGenerator, checkpointed too.
    text = tmp_path / "t.txt"
    text.write_text("to be or not to be, that is the question, whether tis nobler\n" * 40)
    sets = ["model.units=8", "model.embedding_dim=4", "data.seq_len=16", "train.epochs=2", "train.verbose=none",
            "export.after_train=false", "train.max_minutes=0", "train.batch_size=8", "train.checkpoint_every_steps=4",
            "model.dropout=0.3", "model.recurrent_dropout=0.3", "train.mixed_precision='off'",
            "train.early_stopping_patience=0"]
    commands.train("text_generation", tmp_path / "a", overrides=sets, data_paths=[str(text)])
    train_killed_at_step(monkeypatch, 6, "text_generation", tmp_path / "b", overrides=sets, data_paths=[str(text)])
    commands.train("text_generation", tmp_path / "b")
    for a, b in zip(final_weights(tmp_path / "a"), final_weights(tmp_path / "b"), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


class _WeightTrace(keras.callbacks.Callback):
    """Records the model's training weights after every step (before any swap)."""

    def __init__(self, trace):
        super().__init__()
        self.trace = trace

    def on_train_batch_end(self, batch, logs=None):
        self.trace.append([w.numpy().copy() for w in self.model.trainable_weights])


def test_weight_average_is_validated_and_kept_as_the_best_model(tmp_path, monkeypatch):
    # The reference: the exponential moving average of the recorded training weights, computed here in numpy.
    trace = []
    original_fit = keras.Model.fit

    def traced_fit(self, *args, callbacks=None, **kwargs):
        return original_fit(self, *args, callbacks=[*(callbacks or []), _WeightTrace(trace)], **kwargs)

    monkeypatch.setattr(keras.Model, "fit", traced_fit)
    momentum = 0.8
    out = commands.train("toy_regression", tmp_path / "run",
                         overrides=[*TINY, "train.epochs=4", f"train.ema_momentum={momentum}"])
    assert out.fit.step == 20 and len(trace) == 20
    average = [w.copy() for w in trace[0]]
    averages = [average]
    for weights in trace[1:]:
        average = [momentum * a + (1 - momentum) * w for a, w in zip(average, weights, strict=True)]
        averages.append(average)

    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    val_losses = [e["val_loss"] for e in metrics["epochs"]]
    best_epoch = int(np.argmin(val_losses))
    _, model = commands.load_trained(tmp_path / "run")  # the best checkpoint
    for got, want in zip([w.numpy() for w in model.trainable_weights], averages[5 * best_epoch + 4], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # The validation loss of each epoch is the averaged weights' loss.
    task, _ = commands.load_trained(tmp_path / "run")
    task.prepare_data()
    x, y = task.x[80:], task.y[80:]
    for epoch, val_loss in enumerate(val_losses):
        model.set_weights(averages[5 * epoch + 4])
        assert val_loss == pytest.approx(float(np.mean((model.predict(x, verbose=0) - y) ** 2)), rel=1e-4)
    assert not np.allclose(trace[-1][0], averages[-1][0])
    # Training went on from the raw weights (not from the average after each epoch), which checkpoints/ holds.
    _, latest = commands.load_trained(tmp_path / "run", prefer_latest=True)
    np.testing.assert_allclose(latest.trainable_weights[0].numpy(), trace[-1][0], rtol=1e-5, atol=1e-6)


def test_resume_with_a_weight_average_matches_uninterrupted_run(tmp_path, monkeypatch):
    sets = [*TINY, "train.epochs=3", "train.checkpoint_every_steps=3", "train.ema_momentum=0.9"]
    commands.train("toy_regression", tmp_path / "straight", overrides=sets)
    train_killed_at_step(monkeypatch, 8, "toy_regression", tmp_path / "resumed", overrides=sets)
    commands.train("toy_regression", tmp_path / "resumed", resume=True)
    for kind in (False, True):
        _, a = commands.load_trained(tmp_path / "straight", prefer_latest=kind)
        _, b = commands.load_trained(tmp_path / "resumed", prefer_latest=kind)
        for x, y in zip(a.weights, b.weights, strict=True):
            np.testing.assert_allclose(x.numpy(), y.numpy(), rtol=1e-5, atol=1e-6)
    straight = json.loads((tmp_path / "straight" / "metrics.json").read_text())["epochs"]
    resumed = json.loads((tmp_path / "resumed" / "metrics.json").read_text())["epochs"]
    assert [e["val_loss"] for e in resumed] == pytest.approx([e["val_loss"] for e in straight], rel=1e-5)


def test_resume_refuses_to_switch_the_weight_average_or_the_optimizer(tmp_path):
    commands.train("toy_regression", tmp_path / "run", overrides=[*TINY, "train.epochs=1"])
    before = sorted(p.name for p in (tmp_path / "run").rglob("*"))
    with pytest.raises(CheckpointError, match=r"train\.ema_momentum \(0\.0 -> 0\.9"):
        commands.train("toy_regression", tmp_path / "run", overrides=["train.epochs=2", "train.ema_momentum=0.9"])
    with pytest.raises(CheckpointError, match=r"train\.optimizer \(adam -> sgd\)"):
        commands.train("toy_regression", tmp_path / "run", overrides=["train.epochs=2", "train.optimizer=sgd"])
    assert sorted(p.name for p in (tmp_path / "run").rglob("*")) == before


def test_weight_average_momentum_is_checked_in_the_schema(tmp_path):
    with pytest.raises(ConfigError, match="ema_momentum"):
        commands.train("toy_regression", tmp_path / "run", overrides=[*TINY, "train.ema_momentum=1.0"])
    assert not (tmp_path / "run").exists()
