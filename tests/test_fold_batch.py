"""Batched fold training (one vmap computation for several folds) gives what fold-by-fold training gives."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch
from sklearn.model_selection import KFold, LeaveOneGroupOut
from torch import nn

from merbench.contracts import Fold, resolve_factory
from merbench.engine import TrainSettings, choose_device, train_fold
from merbench.errors import RunFailed, UsageError
from merbench.engine import steps_per_epoch
from merbench.fold_batch import _LossScales, fold_group_size, train_folds_batched
from merbench.registry import get_registry

# Training sizes 41, 37, 33, 40, 45, 44 with batches of 8: a dropped batch of one (41, 33),
# ragged last batches (37, 45, 44), an exact one (40), and 5 or 6 steps per epoch.
GROUP_SIZES = [7, 11, 15, 8, 3, 4]
SETTINGS = TrainSettings(epochs=3, batch_size=8, lr=0.01, weight_decay=0.01, label_smoothing=0.1,
                         class_weighting="balanced")
CPU = choose_device("cpu")


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: both trainers then reduce in the same order."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def small_model() -> nn.Module:
    """Two convolutions with BatchNorm, no dropout."""
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3),
    )


def plugin_model(name: str):
    """The factory of a registered model at its quick size, dropout off, for 3×16×16 inputs and 3 classes."""
    spec = get_registry().get("models", name)
    options = {**spec.options, **spec.profiles.get("quick", {}), "dropout": 0.0}
    return lambda: resolve_factory(spec.build)(dict(options), 3, 3, 16)


def toy_data(group_sizes=GROUP_SIZES, unbalanced=True):
    """Inputs with a learnable signal, labels and leave-one-group-out folds of unequal sizes."""
    groups = np.repeat(np.arange(len(group_sizes)), group_sizes)
    n = len(groups)
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(n) % 3
    if unbalanced:
        labels[::5] = 0  # so that "balanced" class weights are not all one
    inputs = torch.randn(n, 3, 16, 16, generator=generator)
    inputs[:, 0] += labels.view(-1, 1, 1).float()
    splits = LeaveOneGroupOut().split(np.zeros(n), groups=groups)
    folds = [Fold(index, train, test) for index, (train, test) in enumerate(splits)]
    return inputs, labels, folds


def assert_same_as_fold_by_fold(build, inputs, labels, folds, settings):
    seeds = [1000 + fold.index for fold in folds]
    batched = train_folds_batched(build, inputs, labels, folds, seeds, 3, settings, CPU)
    assert len(batched) == len(folds)
    for fold, seed, output in zip(folds, seeds, batched):
        reference = train_fold(build, inputs, labels, fold, 3, settings, CPU, seed)
        np.testing.assert_array_equal(output.predictions, reference.predictions, err_msg=f"fold {fold.index}")
        assert output.final_loss == pytest.approx(reference.final_loss, rel=1e-4)
        assert output.epoch_losses == pytest.approx(reference.epoch_losses, rel=1e-4)
        assert output.normalisation == reference.normalisation
    return batched


def assert_close_to_fold_by_fold(build, inputs, labels, folds, settings, choice, tolerance):
    """Batched folds within ``tolerance`` of fold-by-fold training in losses, and at least 90 % of predictions the
    same (where kernels or BatchNorm differ between the two, exact equality is not expected)."""
    seeds = [1000 + fold.index for fold in folds]
    batched = train_folds_batched(build, inputs, labels, folds, seeds, 3, settings, choice)
    same = total = 0
    for fold, seed, output in zip(folds, seeds, batched):
        reference = train_fold(build, inputs, labels, fold, 3, settings, choice, seed)
        assert output.epoch_losses == pytest.approx(reference.epoch_losses, rel=tolerance), f"fold {fold.index}"
        same += int(np.sum(np.asarray(output.predictions) == np.asarray(reference.predictions)))
        total += len(reference.predictions)
    assert same >= 0.9 * total, f"{same} of {total} predictions agree"


def test_data_has_ragged_and_dropped_last_batches():
    _, _, folds = toy_data()
    sizes = [len(fold.train) for fold in folds]
    remainders = {n % SETTINGS.batch_size for n in sizes}
    assert {0, 1} <= remainders and remainders - {0, 1}
    assert len({steps_per_epoch(n, SETTINGS.batch_size) for n in sizes}) > 1


def test_same_predictions_and_losses_as_fold_by_fold_with_unequal_folds():
    inputs, labels, folds = toy_data()
    outputs = assert_same_as_fold_by_fold(small_model, inputs, labels, folds, SETTINGS)
    assert all(len(output.epoch_losses) == SETTINGS.epochs for output in outputs)
    assert len({tuple(output.predictions) for output in outputs}) > 1 or len(outputs) == 1


def test_same_without_class_weights_label_smoothing_or_weight_decay():
    inputs, labels, folds = toy_data()
    plain = dataclasses.replace(SETTINGS, weight_decay=0.0, label_smoothing=0.0, class_weighting="none", batch_size=16)
    assert_same_as_fold_by_fold(small_model, inputs, labels, folds, plain)


@pytest.mark.parametrize("name", ["convmixer", "ststnet"])
def test_same_as_fold_by_fold_for_plugin_models(name):
    inputs, labels, folds = toy_data([9, 6, 11, 8])
    assert_same_as_fold_by_fold(plugin_model(name), inputs, labels, folds, dataclasses.replace(SETTINGS, epochs=2))


class CountingModel(nn.Module):
    """``small_model`` that counts how often its forward runs (once per vmap call, whatever the fold count)."""

    calls = 0

    def __init__(self):
        super().__init__()
        self.net = small_model()

    def forward(self, x):
        CountingModel.calls += 1
        return self.net(x)


def test_folds_run_as_one_computation_per_step():
    n, n_folds = 40, 4  # four folds of 30 training samples: batches of 8, 8, 8, 6
    inputs = torch.randn(n, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    labels = torch.arange(n) % 3
    folds = [Fold(i, train, test) for i, (train, test) in enumerate(KFold(n_folds).split(np.zeros(n)))]
    CountingModel.calls = 0
    steps = []
    train_folds_batched(CountingModel, inputs, labels, folds, [1, 2, 3, 4], 3, SETTINGS, CPU,
                        on_step=lambda done, total: steps.append((done, total)))
    global_steps = SETTINGS.epochs * steps_per_epoch(30, SETTINGS.batch_size)
    assert steps[-1] == (global_steps, global_steps) and len(steps) == global_steps
    assert CountingModel.calls == global_steps + 1  # one call per step for all folds, one to predict
    assert CountingModel.calls < n_folds * global_steps


def test_unequal_folds_train_in_groups_of_equal_batch_length():
    inputs, labels, folds = toy_data()
    CountingModel.calls = 0
    train_folds_batched(CountingModel, inputs, labels, folds, range(len(folds)), 3, SETTINGS, CPU)
    fold_steps = sum(SETTINGS.epochs * steps_per_epoch(len(f.train), SETTINGS.batch_size) for f in folds)
    assert CountingModel.calls < fold_steps / 2


def test_early_stopping_is_refused():
    inputs, labels, folds = toy_data()
    with pytest.raises(UsageError, match="early_stopping=3.*batched"):
        train_folds_batched(small_model, inputs, labels, folds, range(len(folds)), 3,
                            dataclasses.replace(SETTINGS, early_stopping=3), CPU)


def test_estimators_are_refused():
    from sklearn.linear_model import LogisticRegression

    inputs, labels, folds = toy_data()
    with pytest.raises(UsageError, match="torch modules only.*LogisticRegression"):
        train_folds_batched(LogisticRegression, inputs, labels, folds, range(len(folds)), 3, SETTINGS, CPU)


def test_non_finite_loss_is_reported_like_fold_by_fold():
    inputs, labels, folds = toy_data()
    poisoned = inputs.clone()
    poisoned[folds[2].train[5]] = math.nan
    seeds = [1000 + fold.index for fold in folds]
    with pytest.raises(RunFailed, match=r"fold \d, first batch: the model inputs contain NaN") as batched:
        train_folds_batched(small_model, poisoned, labels, folds, seeds, 3, SETTINGS, CPU)
    failed = int(str(batched.value).split(",")[0].removeprefix("fold ")) - 1  # messages count folds from 1
    with pytest.raises(RunFailed) as alone:
        train_fold(small_model, poisoned, labels, folds[failed], 3, SETTINGS, CPU, seeds[failed])
    assert str(batched.value) == str(alone.value)


def test_fold_group_size_keeps_a_margin_and_stays_in_range():
    gib = 2**30
    assert fold_group_size(10 * gib, gib, 68) == 3  # 8 GiB usable, 2.5 GiB per fold
    assert fold_group_size(100 * gib, gib, 4) == 4
    assert fold_group_size(gib, 10 * gib, 4) == 1
    assert fold_group_size(0, 0, 3) == 1


def test_loss_scales_back_off_on_overflow_and_grow_after_good_steps():
    scales = _LossScales(2, init_scale=8.0, growth_interval=3)
    scales.update(0, finite=False)
    for _ in range(3):
        scales.update(1, finite=True)
    assert scales.scales == [4.0, 16.0] and scales.good_steps == [0, 0]
    scales.update(1, finite=True)
    scales.update(1, finite=False)
    assert scales.scales[1] == 8.0 and scales.good_steps[1] == 0


def test_predictions_in_chunks_keep_test_order(monkeypatch):
    import merbench.fold_batch as fold_batch

    monkeypatch.setattr(fold_batch, "PREDICT_CHUNK", 4)  # test parts of 3 to 15 samples: several chunk groups
    inputs, labels, folds = toy_data()
    assert_same_as_fold_by_fold(small_model, inputs, labels, folds, dataclasses.replace(SETTINGS, epochs=2))


def test_per_fold_loss_scaling_skips_only_the_overflowing_fold(monkeypatch):
    import merbench.fold_batch as fold_batch

    made = []

    def scales(choice, n_folds):  # what float16 autocast gets on CUDA, here on float32 CPU training
        made.append(_LossScales(n_folds, init_scale=2.0**12))
        made[0].scales[0] = 2.0**200  # fold 0's scaled loss overflows at every step: it never updates
        return made[0]

    monkeypatch.setattr(fold_batch, "_loss_scales", scales)
    inputs, labels, folds = toy_data([9, 6, 11, 8])
    seeds = [1000 + fold.index for fold in folds]
    outputs = train_folds_batched(small_model, inputs, labels, folds, seeds, 3, SETTINGS, CPU)
    steps = SETTINGS.epochs * steps_per_epoch(len(folds[0].train), SETTINGS.batch_size)
    assert made[0].scales == [2.0**(200 - steps)] + [2.0**12] * 3
    for fold, seed, output in zip(folds, seeds, outputs):
        reference = train_fold(small_model, inputs, labels, fold, 3, SETTINGS, CPU, seed)
        if fold.index == 0:
            assert output.epoch_losses != pytest.approx(reference.epoch_losses, rel=1e-3)
        else:  # power-of-two scaling without overflow is exact
            np.testing.assert_array_equal(output.predictions, reference.predictions)
            assert output.epoch_losses == pytest.approx(reference.epoch_losses, rel=1e-4)


def test_unscaling_divides_each_fold_by_its_scale_and_drops_folds_with_overflow():
    from types import SimpleNamespace

    from merbench.fold_batch import _FoldGroup

    group = SimpleNamespace(scales=_LossScales(3, init_scale=4.0), device=torch.device("cpu"))
    group.scales.scales[2] = 8.0
    grads = {"w": torch.tensor([[4.0, 8.0], [4.0, math.inf], [8.0, 16.0]]), "unused": None}
    members, unscaled = _FoldGroup._unscale(group, [0, 1, 2], grads)
    assert members == [0, 2] and unscaled["unused"] is None
    torch.testing.assert_close(unscaled["w"], torch.tensor([[1.0, 2.0], [1.0, 2.0]]))
    assert group.scales.scales == [4.0, 2.0, 8.0] and group.scales.good_steps == [1, 0, 1]


def _cli_predictions(run_cli, tmp_path, name: str, *sets: str) -> tuple[dict, str]:
    target = tmp_path / f"{name}.json"
    result = run_cli("run", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--no-store",
                     "--json", str(target), "--set", "engine.threads=1", *sets)
    assert result.code == 0, result.err
    return json.loads(target.read_text()), " ".join((result.out + result.err).split())


def test_a_vmap_run_predicts_as_fold_by_fold_without_dropout_and_says_so_with_it(run_cli, tmp_path):
    batched, said = _cli_predictions(run_cli, tmp_path, "vmap", "engine.parallel_mode=vmap", "engine.parallel_folds=4",
                                     "model.dropout=0")
    sequential, _ = _cli_predictions(run_cli, tmp_path, "sequential", "engine.parallel_folds=1", "model.dropout=0")
    assert batched["engine_plan"]["executor"] == "BatchedFolds"
    assert [(r["id"], r["prediction"]) for r in batched["predictions"]] == \
        [(r["id"], r["prediction"]) for r in sequential["predictions"]]
    assert "dropout masks" not in said and not any("dropout masks" in w for w in batched["warnings"])
    with_dropout, said = _cli_predictions(run_cli, tmp_path, "vmap-dropout", "engine.parallel_mode=vmap",
                                          "engine.parallel_folds=4", "model.dropout=0.5")
    note = "batched folds (4 at a time) draw their dropout masks inside one computation"
    assert note in said and "engine.parallel_mode=processes" in said
    assert "and from a run that batches another number of folds" in said  # the batch size changes the masks too
    assert [w for w in with_dropout["warnings"] if note in w], "the result keeps the note"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (benchmarks/gpu/device_checks.sh runs it)")
@pytest.mark.parametrize("amp", ["off", "auto"])
@pytest.mark.parametrize("name", ["convmixer", "ststnet"])
def test_same_as_fold_by_fold_on_cuda_within_cudnn_tolerance(name, amp):
    """On a GPU batched and single-fold convolutions may take other cuDNN kernels, summing in another order:
    losses agree within a tolerance (wider in mixed precision) and nearly every prediction is the same."""
    cuda = choose_device("cuda", amp=amp)
    tolerance = 1e-3 if amp == "off" else 2e-2
    inputs, labels, folds = toy_data([9, 6, 11, 8])
    inputs, labels = inputs.to(cuda.device), labels.to(cuda.device)
    settings, build = dataclasses.replace(SETTINGS, epochs=2), plugin_model(name)
    assert_close_to_fold_by_fold(build, inputs, labels, folds, settings, cuda, tolerance)


@pytest.mark.parametrize("failure, expected", [
    (RuntimeError("Expected running_mean to have type BFloat16 but got Float\nmore lines"),
     "batched training (engine.parallel_mode=vmap) failed on cpu: training or predicting with model plugin 'ststnet' "
     "(merbench 0.1.0) raised RuntimeError: Expected running_mean to have type BFloat16 but got Float (at "),
    (torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
     "ran out of GPU memory (cpu) training 4 folds as one batched computation; --set engine.parallel_folds=N "
     "with a smaller N"),
])
def test_a_batched_training_failure_is_one_message_with_the_way_around_it(run_cli, monkeypatch, failure, expected):
    """On an H200 the batched trainer once failed inside torch's backward (a raw traceback, exit 1): now one line
    names the folds, the failure and the setting that avoids the batched trainer."""
    import merbench.folds.batched as batched

    def fail(*args, **kwargs):
        raise failure

    monkeypatch.setattr(batched, "train_folds_batched", fail)
    result = run_cli("run", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--no-store",
                     "--set", "engine.parallel_mode=vmap", "engine.parallel_folds=4")
    said = " ".join(result.err.split())
    assert result.code == 1 and "Traceback" not in result.err
    assert "merbench: error: folds 1-4: " in said and expected in said, said
    if not isinstance(failure, torch.cuda.OutOfMemoryError):
        assert said.endswith("; --set engine.parallel_mode=processes trains the folds one after another")


def test_a_failure_in_merbenchs_own_training_code_is_reported_as_merbenchs():
    """Which code raised decides whom the message asks to fix it: the innermost frame outside torch."""
    import merbench.fold_batch
    from merbench.engine import code_failure

    def raised_in(filename: str) -> BaseException:
        try:
            exec(compile("raise RuntimeError('Expected running_mean to have type BFloat16')", filename, "exec"))
        except RuntimeError as exc:
            return exc
        raise AssertionError("not raised")

    ours = code_failure(raised_in(merbench.fold_batch.__file__), "model plugin 'm' (x 1)")
    assert ours.startswith("merbench's training code raised RuntimeError: Expected running_mean to have type BFloat16 "
                           f"(at {merbench.fold_batch.__file__}:1 in <module>) with model plugin 'm' (x 1); please "
                           "report it to merbench")
    theirs = code_failure(raised_in("/site-packages/my_plugin/net.py"), "model plugin 'm' (x 1)")
    assert theirs.startswith("training or predicting with model plugin 'm' (x 1) raised RuntimeError") and \
        "(at /site-packages/my_plugin/net.py:1 in <module>); if that is the model's code, fix it" in theirs


def test_a_batched_first_forward_failure_names_what_vmap_cannot_batch_and_that_merbench_may_be_at_fault():
    from merbench.engine import first_forward
    from merbench.errors import PluginError

    def forward():
        raise RuntimeError("Expected input->is_contiguous(input->suggest_memory_format()) to be true")

    x = torch.zeros(2, 8, 3, 16, 16)
    with pytest.raises(PluginError) as batched:
        first_forward(forward, x, 3, "the model plugin", [0, 1])
    assert "report it to the plugin's author" in str(batched.value)
    assert "a model that calls .item(), .tolist() or .numpy()" in str(batched.value)
    assert "--set engine.parallel_mode=processes trains such a model fold by fold" in str(batched.value)
    assert "If the model does none of these, report it to merbench" in str(batched.value)
    with pytest.raises(PluginError) as single:
        first_forward(forward, x[0], 3, "the model plugin", 0)
    assert "parallel_mode" not in str(single.value), "fold by fold the plugin alone ran"


def test_a_fold_failure_is_named_except_what_is_not_the_codes_fault():
    """Host memory, a full disk and torch.compile's own errors keep their messages (and a full disk its resumable
    stop); any other exception becomes one line naming the fold."""
    import errno

    from merbench.engine import failures_named
    from merbench.errors import RunFailed

    for passing, compiled in ((MemoryError(), False), (OSError(errno.ENOSPC, "No space left on device"), False),
                              (RuntimeError("inductor: no C compiler"), True)):
        with pytest.raises(type(passing)):
            with failures_named("model plugin 'm' (x 1)", 2, compiled=compiled):
                raise passing
    with pytest.raises(RunFailed, match=r"^fold 3: training or predicting with model plugin 'm' \(x 1\) raised "
                                        r"KeyError: 'k' \(at "):
        with failures_named("model plugin 'm' (x 1)", 2):
            raise KeyError("k")
