"""The training engine: honesty (test labels unused), NaN handling, device choice."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from merbench.contracts import Fold
from merbench.engine import TrainSettings, choose_device, cpu_has_bf16, train_fold
from merbench.errors import RunFailed, UsageError

SETTINGS = TrainSettings(epochs=3, batch_size=8, lr=0.01, weight_decay=0.0, label_smoothing=0.0, class_weighting="none")


def tiny_model() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))


def toy_data(n: int = 40):
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(n, 3, 8, 8, generator=generator)
    labels = torch.arange(n) % 3
    inputs[:, 0] += labels.view(-1, 1, 1).float()  # learnable signal in channel 0
    fold = Fold(index=0, train=np.arange(0, 30), test=np.arange(30, n))
    return inputs, labels, fold


def test_test_labels_are_never_used_for_training():
    inputs, labels, fold = toy_data()
    choice = choose_device("cpu")
    honest = train_fold(tiny_model, inputs, labels, fold, 3, SETTINGS, choice, seed=1)
    scrambled = labels.clone()
    scrambled[fold.test] = (scrambled[fold.test] + 1) % 3
    again = train_fold(tiny_model, inputs, scrambled, fold, 3, SETTINGS, choice, seed=1)
    np.testing.assert_array_equal(honest.predictions, again.predictions)
    assert honest.final_loss == again.final_loss


def test_test_inputs_do_not_change_the_normalisation():
    inputs, labels, fold = toy_data()
    choice = choose_device("cpu")
    reference = train_fold(tiny_model, inputs, labels, fold, 3, SETTINGS, choice, seed=1)
    shifted = inputs.clone()
    shifted[fold.test] += 100.0  # would move any statistic computed over test samples
    other = train_fold(tiny_model, shifted, labels, fold, 3, SETTINGS, choice, seed=1)
    assert reference.epoch_losses == other.epoch_losses


def test_same_seed_same_predictions_and_different_seed_differs():
    inputs, labels, fold = toy_data()
    choice = choose_device("cpu")
    first = train_fold(tiny_model, inputs, labels, fold, 3, SETTINGS, choice, seed=5)
    second = train_fold(tiny_model, inputs, labels, fold, 3, SETTINGS, choice, seed=5)
    third = train_fold(tiny_model, inputs, labels, fold, 3, SETTINGS, choice, seed=6)
    np.testing.assert_array_equal(first.predictions, second.predictions)
    assert first.epoch_losses == second.epoch_losses
    assert first.epoch_losses != third.epoch_losses


def test_training_learns_a_separable_signal():
    inputs, labels, fold = toy_data(90)
    fold = Fold(index=0, train=np.arange(0, 60), test=np.arange(60, 90))
    settings = TrainSettings(epochs=15, batch_size=16, lr=0.02, weight_decay=0.0, label_smoothing=0.0, class_weighting="balanced")
    output = train_fold(tiny_model, inputs, labels, fold, 3, settings, choose_device("cpu"), seed=0)
    assert (output.predictions == labels[fold.test].numpy()).mean() > 0.8
    assert output.epoch_losses[-1] < output.epoch_losses[0]


class NanModel(nn.Module):
    """Finite scores on its first batch (checked before training), NaN from the second on."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 3)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.linear(x.mean(dim=(2, 3))) * (float("nan") if self.calls > 1 else 1.0)


def test_nan_loss_stops_the_fold_with_a_clear_message():
    """The scores were NaN after a weight update: a diverging training or the model (tests/test_engine_plugin_faults.py)."""
    inputs, labels, fold = toy_data()
    with pytest.raises(RunFailed, match=r"fold 1, epoch 1, step 2: the training loss became nan; training diverged. "
                                        r"Lower the learning rate") as raised:
        train_fold(NanModel, inputs, labels, fold, 3, SETTINGS, choose_device("cpu"), seed=0)
    assert "the scores the model plugin returned at that step were NaN or infinite" in str(raised.value)


def test_nan_loss_exits_1_from_the_cli(run_cli, monkeypatch):
    import merbench_plugins.models.convmixer.network as network

    monkeypatch.setattr(network, "build_model", lambda options, c, n, s: NanModel())
    result = run_cli("run", "--model", "convmixer", "--dataset", "synthetic", "--profile", "quick", "--quiet",
                     "--set", "flow.channels=u,v,strain")  # NanModel takes 3 channels
    assert result.code == 1
    assert "training loss became nan" in " ".join(result.err.split())
    assert "Traceback" not in result.err


def test_device_choice_on_this_machine():
    auto = choose_device("auto")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert auto.device.type == expected
    assert auto.description.startswith(expected)
    assert choose_device("cpu").amp_dtype is None
    if not torch.cuda.is_available():
        with pytest.raises(UsageError, match="no CUDA device"):
            choose_device("cuda")
    if cpu_has_bf16():  # bfloat16 autocast on the CPU only when asked: auto stays float32 (docs/scale.md)
        assert choose_device("cpu", amp="on").amp_dtype == torch.bfloat16
        assert "bfloat16" in choose_device("cpu", amp="on").description
    else:
        with pytest.raises(UsageError, match="engine.amp=on on the CPU needs bfloat16 support"):
            choose_device("cpu", amp="on")


def test_cpu_bf16_autocast_trains_a_fold(monkeypatch):
    import merbench.engine as engine

    monkeypatch.setattr(engine, "cpu_has_bf16", lambda: True)
    inputs, labels, fold = toy_data()
    choice = choose_device("cpu", amp="on")
    seen = []
    original = tiny_model()
    original.register_forward_hook(lambda module, args, output: seen.append(output.dtype))
    output = train_fold(lambda: original, inputs, labels, fold, 3, SETTINGS, choice, seed=1)
    assert seen and all(dtype == torch.bfloat16 for dtype in seen), "forward passes run under bf16 autocast"
    assert all(p.dtype == torch.float32 for p in original.parameters()), "master weights stay float32"
    assert len(output.predictions) == len(fold.test)


def early_stopping_fold(epochs: int, patience: int):
    """60 toy samples of 6 subjects, one fold testing the last subject, and settings with early stopping on a
    quarter of the training subjects: (inputs, labels, subjects, fold, settings)."""
    inputs, labels, _ = toy_data(60)
    subjects = np.repeat([f"s{i}" for i in range(6)], 10)
    fold = Fold(index=0, train=np.arange(0, 50), test=np.arange(50, 60))
    settings = TrainSettings(epochs=epochs, batch_size=8, lr=0.01, weight_decay=0.0, label_smoothing=0.0,
                             class_weighting="none", early_stopping=patience, validation_fraction=0.25)
    return inputs, labels, subjects, fold, settings


def test_early_stopping_selects_on_training_subjects_only():
    inputs, labels, subjects, fold, settings = early_stopping_fold(epochs=12, patience=2)
    choice = choose_device("cpu")
    output = train_fold(tiny_model, inputs, labels, fold, 3, settings, choice, seed=3, subjects=subjects)
    validation_subjects = set(subjects[output.validation])
    assert validation_subjects and validation_subjects <= set(subjects[fold.train])
    assert not validation_subjects & set(subjects[fold.test])
    assert 1 <= output.selected_epoch <= len(output.epoch_losses) <= 12

    scrambled = labels.clone()
    scrambled[fold.test] = (scrambled[fold.test] + 1) % 3
    again = train_fold(tiny_model, inputs, scrambled, fold, 3, settings, choice, seed=3, subjects=subjects)
    np.testing.assert_array_equal(output.predictions, again.predictions)
    assert again.selected_epoch == output.selected_epoch


def test_early_stopping_needs_two_training_subjects():
    inputs, labels, fold = toy_data()
    settings = TrainSettings(epochs=2, batch_size=8, lr=0.01, weight_decay=0.0, label_smoothing=0.0,
                             class_weighting="none", early_stopping=1)
    with pytest.raises(UsageError, match="at least 2 training subjects"):
        train_fold(tiny_model, inputs, labels, fold, 3, settings, choose_device("cpu"), seed=0, subjects=np.array(["s1"] * 40))


@pytest.mark.parametrize("fraction, subjects, allowed", [(0.6, 2, "0.5"), (0.99, 3, "0.66"), (0.7, 3, "0.66")])
def test_a_validation_fraction_that_leaves_no_training_subject_is_one_error(fraction, subjects, allowed):
    inputs, labels, fold = toy_data()
    settings = TrainSettings(epochs=2, batch_size=8, lr=0.01, weight_decay=0.0, label_smoothing=0.0,
                             class_weighting="none", early_stopping=1, validation_fraction=fraction)
    owners = np.array([f"s{i % subjects}" for i in range(len(inputs))])
    with pytest.raises(UsageError, match=f"leaving none to train on; lower it to at most {allowed} or use more"):
        train_fold(tiny_model, inputs, labels, fold, 3, settings, choose_device("cpu"), seed=0, subjects=owners)
    ok = dataclasses.replace(settings, validation_fraction=float(allowed))
    train_fold(tiny_model, inputs, labels, fold, 3, ok, choose_device("cpu"), seed=0, subjects=owners)


@pytest.mark.parametrize("epochs, n_train", [(5, 8), (1, 40), (3, 8), (10, 9)])
def test_every_schedule_length_trains(epochs, n_train):
    """OneCycleLR divides by zero for exactly 5 total steps; the engine's schedule must not."""
    inputs, labels, _ = toy_data(n_train + 4)
    fold = Fold(index=0, train=np.arange(n_train), test=np.arange(n_train, n_train + 4))
    settings = TrainSettings(epochs=epochs, batch_size=8, lr=0.01, weight_decay=0.0, label_smoothing=0.0,
                             class_weighting="none")
    output = train_fold(tiny_model, inputs, labels, fold, 3, settings, choose_device("cpu"), seed=0)
    assert len(output.epoch_losses) == epochs and np.isfinite(output.final_loss)


def test_early_stopping_keeps_the_later_of_tied_epochs_and_spends_no_patience_during_the_warm_up():
    """While the warming-up model predicts the same classes, the validation UF1 is flat: the old rule kept the
    epoch-1 model and stopped after `patience` epochs (the default job fell from ~70 to 29 % UF1). Ties now keep
    the model trained longer, and patience counts from the end of the warm-up at the earliest."""
    from merbench.engine import EpochSelection

    scores = [0.2] * 6 + [0.35, 0.5, 0.45, 0.5, 0.41, 0.4, 0.39, 0.38]
    selection = EpochSelection(patience=3, warm_up_epochs=8, later_on_ties=True)
    stopped = None
    for epoch, score in enumerate(scores):
        selection.improves(epoch, score)
        if selection.stops_after(epoch):
            stopped = epoch
            break
    assert (selection.best_epoch, selection.best_score) == (9, 0.5), "the later of two tied bests"
    assert stopped == 12, "3 epochs without a better or equal score after epoch 9"
    warming = EpochSelection(patience=3, warm_up_epochs=8, later_on_ties=True)
    warming.improves(0, 0.5)
    assert not any(warming.stops_after(epoch) for epoch in range(1, 10) if not warming.improves(epoch, 0.1))
    assert warming.stops_after(10), "patience counts from the warm-up's last epoch (7)"
    flat = EpochSelection(patience=3, warm_up_epochs=8, later_on_ties=False)
    flat.improves(0, 0.2)
    assert not any(flat.stops_after(epoch) for epoch in range(1, 10) if not flat.improves(epoch, 0.2)), \
        "no stop before warm-up end + patience (epoch 10)"
    assert flat.stops_after(10) and flat.best_epoch == 0, "select_on=test keeps the first of tied epochs"


def test_early_stopping_on_a_flat_start_does_not_keep_the_first_epoch():
    """A real fold: early stopping with patience 1 trains past the end of the warm-up (4 of 20 epochs)."""
    inputs, labels, subjects, fold, settings = early_stopping_fold(epochs=20, patience=1)
    output = train_fold(tiny_model, inputs, labels, fold, 3, settings, choose_device("cpu"), seed=3, subjects=subjects)
    assert len(output.epoch_losses) >= 5, "patience 1 stops no earlier than the end of the warm-up plus 1 epoch"
