"""What a dataset loader returns beyond the per-sample fields: a class it declares that no sample has is left out
(with a note in ``run`` and a warning in ``datasets check``), since a model would get an output for it and macro
averages would count it as a zero; an apex outside the sample's onset..offset is refused, naming the sample."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from merbench.contracts import Dataset, Sample
from merbench.dataset_check import check_samples, declared_class_note, drop_classes_without_samples
from merbench.errors import PluginError

PLUGIN = '''
import dataclasses

from merbench.contracts import DatasetPlugin
from merbench.hookspecs import hookimpl
from merbench_plugins.datasets.synthetic import load as load_synthetic


def load(root, options, cache_dir):
    dataset = load_synthetic(None, {"preset": "easy", "subjects": 10, "clips_per_subject": 4, "size": 32,
                                    "frames": 8, "seed": 0, "domains": 1}, cache_dir)
    return dataclasses.replace(dataset, name="widecorpus", classes=dataset.classes + ("fear",))


@hookimpl
def merbench_register_datasets(register):
    register(DatasetPlugin(name="widecorpus", load=load, description="synthetic clips, four classes declared",
                           needs_root=False))
'''


def _sample(label: int, onset: int = 0, apex: int | None = 2, offset: int = 4) -> Sample:
    return Sample(id=f"s{label}/c", subject=f"s{label}", label=label, domain="d",
                  frames=tuple(Path(f"f{i}.png") for i in range(6)), onset=onset, apex=apex, offset=offset)


def test_a_declared_class_without_samples_is_dropped_and_the_labels_follow():
    dataset = Dataset("d", ("negative", "fear", "positive", "surprise"), (_sample(0), _sample(2), _sample(3)))
    trimmed = drop_classes_without_samples(dataset)
    assert trimmed.classes == ("negative", "positive", "surprise")
    assert [sample.label for sample in trimmed.samples] == [0, 1, 2]
    assert [trimmed.classes[s.label] for s in trimmed.samples] == [dataset.classes[s.label] for s in dataset.samples]
    assert trimmed.summary["declared_classes_without_samples"] == ["fear"]
    assert "classes_without_samples" not in trimmed.summary  # that key names classes lost to skipped clips
    assert declared_class_note(trimmed, "mine") == ("the mine loader declares class fear, which no sample has: left "
                                                    "out, so the run classifies 3 classes (negative, positive, surprise)")


def test_a_dataset_whose_classes_all_have_samples_is_returned_as_it_is():
    dataset = Dataset("d", ("a", "b"), (_sample(0), _sample(1)))
    assert drop_classes_without_samples(dataset) is dataset and declared_class_note(dataset, "mine") is None


@pytest.mark.parametrize("apex", [0, 2, 4, None])
def test_an_apex_from_onset_to_offset_or_none_is_accepted(apex):
    check_samples(Dataset("d", ("a", "b"), (_sample(0, onset=0, apex=apex, offset=4), _sample(1))), "plugin 'p'")


@pytest.mark.parametrize("onset, apex, offset", [(3, 1, 5), (1, 5, 4)])
def test_an_apex_outside_onset_to_offset_is_refused_naming_the_sample(onset, apex, offset):
    dataset = Dataset("d", ("a", "b"), (_sample(0, onset=onset, apex=apex, offset=offset), _sample(1)))
    with pytest.raises(PluginError, match=rf"^plugin 'p': sample s0/c: its apex {apex} is outside its onset "
                                          rf"{onset}\.\.offset {offset}"):
        check_samples(dataset, "plugin 'p'")


def test_run_and_datasets_check_say_a_declared_class_is_left_out(install_plugin, run_cli, tmp_path):
    """Before, the class stayed: the model got a fourth output, predicted it, and macro P/R/F1 fell by its zero."""
    install_plugin("merbench-widecorpus", "widecorpus", "merbench_widecorpus_plugin", PLUGIN)
    check = run_cli("datasets", "check", "widecorpus")
    assert check.code == 0, check.out + check.err
    said = " ".join(check.err.split())
    assert "Warning: the widecorpus loader declares class fear, which no sample has: left out, so the run classifies " \
           "3 classes (negative, positive, surprise)" in said
    run = run_cli("run", "--model", "lbptop-svm", "--dataset", "widecorpus", "--profile", "quick", "--quiet",
                  "--no-store", "--json", str(tmp_path / "r.json"))
    assert run.code == 0, run.out + run.err
    assert "declares class fear, which no sample has: left out" in " ".join((run.out + run.err).split())
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["classes"] == ["negative", "positive", "surprise"]
    assert len(result["confusion_matrix"]) == 3 and {row["prediction"] for row in result["predictions"]} <= {0, 1, 2}


def test_a_dataset_that_gives_something_merbench_does_not_know_is_refused():
    """gives='video' was accepted silently and its clips read as frames."""
    dataset = dataclasses.replace(Dataset("d", ("a", "b"), (_sample(0), _sample(1))), gives="video")
    with pytest.raises(PluginError, match=r"^plugin 'p': its dataset gives 'video'; merbench knows 'frames' .* and "
                                          r"'image'"):
        check_samples(dataset, "plugin 'p'")
