"""What merbench checks of a dataset or preprocessor plugin, each mistake one line naming the plugin (exit 2).

A throw-away distribution ``merbench-contract`` registers the dataset ``contract-data`` (the tiny synthetic data,
spoilt as ``dataset.bad`` says), the preprocessor ``contract-diff`` (apex minus onset, with ``contract-diff.mode``
choosing a mistake), ``contract-boom`` (whose build raises) and the model ``contract-linear``.

* A loader that raises or returns no ``Dataset``: named with its distribution, in ``run`` and ``datasets check``;
  merbench's own ``DataError`` text passes unchanged.
* What a loader returns is checked once (labels, class names, unique ids, frames, onset/apex/offset) by the same
  function in both commands.
* A preprocessor whose build raises; one whose ``inputs(sample)`` lists nothing or leaves out a file it reads
  (every sample would share one cache entry); one that reads the sample's label (hidden from preprocessors).
* Subject ids that differ only in case or surrounding spaces: a warning in ``run`` and ``datasets check``.
"""

from __future__ import annotations

import json

import pytest

PLUGIN = '''
import dataclasses

import numpy as np

from merbench.contracts import DatasetPlugin, ModelPlugin, PreprocessorPlugin
from merbench.errors import DataError
from merbench.hookspecs import hookimpl

TINY = {"preset": "easy", "subjects": 4, "clips_per_subject": 3, "size": 32, "frames": 8, "seed": 0, "domains": 1}


def load(root, options, cache_dir):
    from merbench_plugins.datasets.synthetic import load as synthetic

    bad = options["bad"]
    if bad == "raise":
        return {}["label_column"]
    if bad == "data-error":
        raise DataError("annotations.csv row 3: the label 'x' is not one of the classes; fix the row")
    dataset = synthetic(None, dict(TINY), cache_dir)
    samples = list(dataset.samples)
    first, n = samples[0], len(samples[0].frames)
    changes = {
        "label": {"label": len(dataset.classes)},
        "text-label": {"label": "happy"},
        "noframes": {"frames": ()},
        "onset": {"onset": n},
        "apex": {"apex": -1},
        "order": {"onset": n - 1, "offset": 0, "apex": None},
        "dupid": {"id": samples[1].id},
    }
    if bad == "type":
        return samples
    if bad in changes:
        samples[0] = dataclasses.replace(first, **changes[bad])
    if bad == "dupclass":
        return dataclasses.replace(dataset, classes=(dataset.classes[0],) * len(dataset.classes))
    if bad in ("case", "space"):
        other = {"case": "S01", "space": " s01"}[bad]
        samples = [dataclasses.replace(s, subject=other) if s.subject == "s01" and i % 2 == 0 else s
                   for i, s in enumerate(samples)]
    return dataclasses.replace(dataset, samples=tuple(samples))


def apex_of(sample):
    return sample.apex if sample.apex is not None else (sample.onset + sample.offset) // 2


class Diff:
    def __init__(self, options):
        self.mode = options["mode"]

    def cache_params(self):
        return {"mode": self.mode}

    def inputs(self, sample):
        onset, apex = sample.frames[sample.onset], sample.frames[apex_of(sample)]
        if self.mode == "label-in-inputs":
            self.seen = int(sample.label)
        return {"no-inputs": [], "onset-only": [onset]}.get(self.mode, [onset, apex])

    def __call__(self, sample, read_frame, upstream=None):
        onset = read_frame(sample.frames[sample.onset]).astype(np.float32)
        apex = read_frame(sample.frames[apex_of(sample)]).astype(np.float32)
        out = np.stack([apex - onset] * 3)[:, :16, :16] / 255.0
        if self.mode == "leak":
            out[sample.label] += 1.0
        if self.mode == "quiet-leak":
            try:
                out += float(sample.label == 0)
            except Exception:
                pass
        return np.ascontiguousarray(out, dtype=np.float32)


def boom(options):
    raise RuntimeError("refuses to build (on purpose)")


def build(options, in_channels, n_classes, input_size):
    import torch
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(in_channels * input_size * input_size, n_classes))


@hookimpl
def merbench_register_datasets(register):
    register(DatasetPlugin(name="contract-data", load=load, description="tiny synthetic data, spoilt on demand",
                           options={"bad": "none"}, needs_root=False, reads_root=False))


@hookimpl
def merbench_register_preprocessors(register):
    register(PreprocessorPlugin(name="contract-diff", build=Diff, description="apex minus onset",
                                produces="flow-uvs", options={"mode": "ok"}))
    register(PreprocessorPlugin(name="contract-boom", build=boom, description="never builds", produces="flow-uvs"))


@hookimpl
def merbench_register_models(register):
    register(ModelPlugin(name="contract-linear", build=build, description="a throw-away test model",
                         input="flow-uvs"))
'''

PLUGIN_NAME = "'contract-data' (merbench-contract 0.1)"
RUN = ("run", "--model", "contract-linear", "--dataset", "contract-data", "--profile", "quick", "--set",
       "protocol.n_splits=2", "engine.epochs=1")


@pytest.fixture
def contract(install_plugin, fresh_cache):
    install_plugin("merbench-contract", "contract", "merbench_contract_plugin", PLUGIN)


def _refused(result, *parts: str) -> str:
    """The one-line error of a refused command, checked for ``parts``."""
    assert result.code == 2, (result.code, result.out, result.err)
    assert "Traceback" not in result.err, result.err
    for part in parts:
        assert part in result.err, (part, result.err)
    return result.err


def _both(run_cli, bad: str) -> list:
    """``merbench run`` and ``merbench datasets check`` of ``contract-data`` spoilt by ``dataset.bad=BAD``."""
    return [run_cli(*RUN, f"dataset.bad={bad}"),
            run_cli("datasets", "check", "contract-data", "--set", f"dataset.bad={bad}")]


# ----------------------------------------------------------------------------------- 1: the loader fails


@pytest.mark.parametrize("bad, said", [
    ("raise", "its load() raised KeyError: 'label_column'"),
    ("type", "its load() returned a list, not a merbench.contracts.Dataset"),
])
def test_a_dataset_loader_that_fails_is_one_line_naming_the_plugin_in_run_and_check(contract, run_cli, bad, said):
    for result in _both(run_cli, bad):
        _refused(result, f"dataset plugin {PLUGIN_NAME}: {said}")


def test_merbench_errors_of_a_loader_pass_unchanged(contract, run_cli, tmp_path):
    for result in _both(run_cli, "data-error"):
        error = _refused(result, "annotations.csv row 3: the label 'x' is not one of the classes; fix the row")
        assert "dataset plugin" not in error
    built_in = run_cli("datasets", "check", "casme2", "--root", str(tmp_path))
    assert built_in.code == 2 and "dataset plugin" not in built_in.err and "Traceback" not in built_in.err


# ------------------------------------------------------------------------ 2: what the loader returns


@pytest.mark.parametrize("bad, said", [
    ("label", "its label 3 is outside 0..2 (3 classes"),
    ("text-label", "its label is 'happy', not a class index"),
    ("noframes", "it has no frames"),
    ("onset", "its onset 8 is not an index into its 8 frames (0..7)"),
    ("apex", "its apex -1 is not an index into its 8 frames (0..7)"),
    ("order", "its onset 7 is after its offset 0"),
    ("dupclass", "names the class"),
    ("dupid", "2 samples have the id 's01_c002'"),
])
def test_a_dataset_that_breaks_the_contract_is_refused_saying_what_and_which_sample(contract, run_cli, bad, said):
    for result in _both(run_cli, bad):
        error = _refused(result, f"dataset plugin {PLUGIN_NAME}: ", said,
                         "fix the dataset plugin or report it to its author")
        if bad not in ("dupclass", "dupid"):
            assert "sample s01_c001" in error
        assert "both training and test" not in error, "a repeated id is not clip leakage"


def test_the_unspoilt_dataset_passes_both_commands(contract, run_cli):
    checked = run_cli("datasets", "check", "contract-data")
    assert checked.code == 0 and "usable: 12 samples, 4 subjects" in checked.out, checked.err
    assert "Warning" not in checked.err


# ------------------------------------------------------------------------------ 3: the chain's build


def test_a_preprocessor_whose_build_raises_is_one_line_naming_it(contract, run_cli):
    said = ("preprocessor plugin 'contract-boom' (merbench-contract 0.1): its build(options) raised "
            "RuntimeError: refuses to build (on purpose)")
    _refused(run_cli(*RUN, "preprocess=contract-boom"), said)
    _refused(run_cli("preprocess", "--dataset", "contract-data", "--quiet", "--set", "preprocess=contract-boom"), said)


# ------------------------------------------------------------------------------- 4: the cache key


def _preprocess(run_cli, mode: str):
    return run_cli("preprocess", "--dataset", "contract-data", "--quiet", "--json", "-", "--set",
                   "preprocess=contract-diff", f"contract-diff.mode={mode}")


def test_a_chain_whose_inputs_list_no_file_is_refused_not_served_one_cache_entry(contract, run_cli):
    honest = _preprocess(run_cli, "ok")
    assert honest.code == 0, honest.err
    assert '"computed": 12' in honest.out
    _refused(_preprocess(run_cli, "no-inputs"),
             "preprocessor plugin 'contract-diff' (merbench-contract 0.1): its inputs(sample) lists no file for sample",
             "every sample would share one cached output")
    _refused(run_cli(*RUN, "preprocess=contract-diff", "contract-diff.mode=no-inputs"), "lists no file for sample")


def test_reading_a_frame_that_inputs_does_not_list_is_refused_naming_file_and_plugin(contract, run_cli, fresh_cache):
    error = _refused(_preprocess(run_cli, "onset-only"),
                     "preprocessor plugin 'contract-diff' (merbench-contract 0.1) read frame ",
                     "which inputs(sample) of preprocess=contract-diff does not list")
    assert str(fresh_cache) in error and ".png" in error, "the message names the file"


def test_builtin_chains_read_only_what_they_list(contract, run_cli):
    for chain in ("flow", "crop,flow", "apex,flow", "magnify,flow", "apex-frame", "lbptop"):
        extra = ["apex.override=true"] if chain == "apex,flow" else []
        result = run_cli("preprocess", "--dataset", "contract-data", "--quiet", "--set", f"preprocess={chain}", *extra)
        assert result.code == 0, (chain, result.err)


def test_a_changed_frame_chosen_by_apex_override_recomputes_its_clip(contract, run_cli, fresh_cache):
    """``apex.override`` makes flow read the middle frame, not the annotated apex that flow lists: the apex step lists
    it, so a changed middle frame is a new cache entry (it used to be served the stale one)."""
    import json

    import cv2

    from merbench.contracts import resolve_factory
    from merbench.registry import get_registry

    args = ("preprocess", "--dataset", "contract-data", "--quiet", "--json", "-", "--set", "preprocess=apex,flow",
            "apex.override=true")
    first = run_cli(*args)
    assert first.code == 0, first.err
    dataset = resolve_factory(get_registry().get("datasets", "contract-data").load)(None, {"bad": "none"}, fresh_cache)
    sample = next(s for s in dataset.samples if s.apex != (s.onset + s.offset) // 2)
    middle = sample.frames[(sample.onset + sample.offset) // 2]
    cv2.imwrite(str(middle), 255 - cv2.imread(str(middle), cv2.IMREAD_GRAYSCALE))
    second = run_cli(*args)
    assert second.code == 0, second.err
    assert json.loads(second.out)["computed"] == 1, second.out


# -------------------------------------------------------------------------------- 5: the label


@pytest.mark.parametrize("mode, where", [("leak", "__call__"), ("quiet-leak", "__call__"),
                                         ("label-in-inputs", "inputs(sample)")])
def test_a_preprocessor_that_uses_the_label_is_refused(contract, run_cli, mode, where):
    _refused(run_cli(*RUN, "preprocess=contract-diff", f"contract-diff.mode={mode}"),
             f"preprocessor plugin 'contract-diff' (merbench-contract 0.1) used the label of sample s01_c001 in its {where}",
             "preprocessors get samples without their label")


def test_preprocessors_see_no_label_and_merbench_keeps_it():
    from merbench.contracts import Sample
    from merbench.preprocess import without_label

    sample = Sample("a", "s1", 2, "d", (), 0, None, 0)
    blind, hidden = without_label(sample)
    assert sample.label == 2 and blind.id == "a" and "hidden" in repr(blind)
    for use in (int, float, str, bool, lambda label: label == 2, lambda label: [0, 1, 2][label]):
        with pytest.raises(Exception):
            use(blind.label)
    assert hidden.used


# --------------------------------------------------------------------------------- 6: subject ids


@pytest.mark.parametrize("bad, other", [("case", "'S01'"), ("space", "' s01'")])
def test_subject_ids_that_differ_only_in_case_or_spaces_are_a_warning(contract, run_cli, bad, other, tmp_path):
    said = "differ only in case or surrounding whitespace"
    run = run_cli(*RUN, f"dataset.bad={bad}", "--json", str(tmp_path / "run.json"))
    assert run.code == 0, run.err
    assert "Warning:" in run.err and said in run.err and "'s01'" in run.err and other in run.err, run.err
    assert run.err.count(said) == 1, run.err
    recorded = json.loads((tmp_path / "run.json").read_text())["warnings"]  # before: printed, never recorded
    assert any(said in warning and other in warning for warning in recorded), recorded
    checked = run_cli("datasets", "check", "contract-data", "--set", f"dataset.bad={bad}")
    assert checked.code == 0, checked.err
    shown = " ".join(checked.err.split())  # a pipe wraps the warning at spaces
    assert "Warning:" in shown and said in shown and other in shown, checked.err


def test_the_label_text_in_extra_is_hidden_too():
    """The spreadsheet loaders keep the emotion text in ``extra`` (``emotion``, 4DME's ``emotions``, MMEW's
    ``emotion_folder``, SAMM's ``objective_class``): a preprocessor reading it learns the label just the same."""
    from merbench.contracts import Sample
    from merbench.preprocess import LABEL_EXTRAS, without_label

    extra = {"emotion": "happiness", "emotions": ("surprise", "positive"), "emotion_folder": "happiness",
             "objective_class": "1", "shown": "positive", "variant": 4, "action_units": "12", "row": 7}
    sample = Sample("a", "s1", 2, "d", (), 0, None, 0, extra)
    for key in LABEL_EXTRAS:
        for use in (str, lambda text: text.lower(), lambda text: text == "happiness", lambda text: list(text),
                    lambda text: {"happiness": 0}[text], len):
            blind, hidden = without_label(sample)
            with pytest.raises(Exception):
                use(blind.extra[key])
            assert hidden.used, (key, use)
    blind, hidden = without_label(sample)
    assert (blind.extra["action_units"], blind.extra["row"]) == ("12", 7) and not hidden.used
    assert sample.extra["emotion"] == "happiness", "merbench's own sample keeps its extra"


def test_a_preprocessor_that_reads_the_emotion_text_is_refused(tmp_path):
    import cv2
    import numpy as np

    from merbench.contracts import Dataset, PreprocessorPlugin, Sample
    from merbench.errors import PluginError
    from merbench.preprocess import build_chain, preprocess_dataset

    def clip(i: int) -> tuple:  # each clip its own frames: one clip given twice is refused before any step runs
        frames = []
        for number in range(2):
            path = tmp_path / f"c{i}f{number}.png"
            cv2.imwrite(str(path), np.full((8, 8), 40 * number + i, np.uint8))
            frames.append(path)
        return tuple(frames)

    samples = tuple(Sample(f"c{i}", f"s{i}", i % 2, "d", clip(i), 0, 1, 1,
                           {"emotion": ("happiness", "surprise")[i % 2]}) for i in range(4))

    class ReadsEmotion:
        def __init__(self, options):
            pass

        def cache_params(self):
            return {}

        def inputs(self, sample):
            return list(sample.frames)

        def __call__(self, sample, read_frame, upstream=None):
            read_frame(sample.frames[0])
            return np.full((1, 2, 2), float(sample.extra["emotion"] == "happiness"), np.float32)

    spec = PreprocessorPlugin(name="reads-emotion", build=ReadsEmotion, description="x", produces="flow-uvs",
                              options={})
    chain = build_chain([spec], {"reads-emotion": {}})
    with pytest.raises(PluginError, match="used the label of sample c0 in its __call__"):
        preprocess_dataset(Dataset("toy", ("happiness", "surprise"), samples), chain, cache_dir=tmp_path / "cache",
                           workers=1)
