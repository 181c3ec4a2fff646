"""The model zoo: model-declared preprocessing, LBP-TOP features, estimators, timm family, list/info."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from merbench.config import resolve_config
from merbench.contracts import Fold
from merbench.errors import UsageError
from merbench.registry import get_registry
from piped_rows import piped_row


def test_model_preprocess_options_sit_between_profile_and_set():
    registry = get_registry()
    quick = resolve_config(registry, model="ststnet", dataset="synthetic", profile="quick")
    assert quick.section("flow")["size"] == 28  # the flow profile says 16; STSTNet asks for 28
    assert resolve_config(registry, model="convmixer-256-8", dataset="synthetic", profile="quick").section("flow")["size"] == 16
    assert resolve_config(registry, model="convmixer", dataset="synthetic", profile="quick").section("flow")["size"] == 28
    user = resolve_config(registry, model="ststnet", dataset="synthetic", profile="quick", sets={"flow.size": "32"})
    assert user.section("flow")["size"] == 32
    two = resolve_config(registry, model="offapexnet", dataset="synthetic")
    assert two.section("flow")["channels"] == ["u", "v"] and two.section("flow")["size"] == 28


def test_model_default_chain_and_user_override():
    registry = get_registry()
    assert resolve_config(registry, model="lbptop-svm", dataset="synthetic").preprocess == ("lbptop",)
    assert resolve_config(registry, model="ststnet", dataset="synthetic").preprocess == ("flow",)
    assert resolve_config(registry, model="lbptop-svm", dataset="synthetic",
                          sets={"preprocess": "crop,lbptop"}).preprocess == ("crop", "lbptop")


def test_lbptop_codes_and_histograms():
    from merbench_plugins.models.lbptop import BINS, PLANES, UNIFORM, block_histograms, lbp_codes

    assert UNIFORM.max() == 58 and len(set(UNIFORM[UNIFORM < 58].tolist())) == 58  # 58 uniform patterns + 1
    flat = np.zeros((4, 6, 6), dtype=np.int16)
    for axes in PLANES.values():
        assert (lbp_codes(flat, axes) == 255).all()  # every neighbour >= centre
    # A bright spot at the centre of one frame: its code is 0 in every plane, neighbours' codes are not.
    spot = flat.copy()
    spot[2, 3, 3] = 9
    for axes in PLANES.values():
        codes = lbp_codes(spot, axes)
        assert codes[1, 2, 2] == 0
    # A vertical bar moving right over time shows in the XT plane but not in a static copy.
    moving = np.zeros((5, 8, 8), dtype=np.int16)
    for t in range(5):
        moving[t, :, 1 + t] = 9
    static = np.repeat(moving[:1], 5, axis=0)
    xt = PLANES["xt"]
    assert not np.array_equal(lbp_codes(moving, xt), lbp_codes(static, xt))
    hist = block_histograms(lbp_codes(moving, xt), 2)
    assert hist.shape == (4, BINS) and np.allclose(hist.sum(axis=1), 1.0)


def test_lbptop_preprocessor_output_shape(session_cache):
    from merbench_plugins.models.lbptop import LbpTopPreprocessor

    from merbench.contracts import Sample

    step = LbpTopPreprocessor({"size": 16, "frames": 4, "blocks": 2})
    rng = np.random.default_rng(0)
    frames = {i: rng.integers(0, 255, (20, 24), dtype=np.uint8) for i in range(6)}
    sample = Sample("c", "s", 0, "d", tuple(range(6)), 0, 3, 5)
    out = step(sample, lambda path: frames[path])
    assert out.shape == step.output_shape() == (3 * 4 * 59, 1, 1) and out.dtype == np.float32
    assert np.allclose(out.reshape(12, 59).sum(axis=1), 1.0)
    assert step.indices(sample) == [0, 2, 3, 5]
    with pytest.raises(UsageError, match="at least 3 frames"):
        LbpTopPreprocessor({"size": 16, "frames": 2, "blocks": 2})


class _Spy:
    """An estimator that records what it was fitted on and predicts class 0."""

    def __init__(self):
        self.fitted = None
        self.predicted = []

    def fit(self, features, labels):
        self.fitted = features.copy()
        return self

    def predict(self, features):
        self.predicted.append(features.copy())
        return np.zeros(len(features), dtype=np.int64)


def test_estimator_fold_standardises_with_training_rows_only():
    from merbench.estimator import fit_predict_fold

    inputs = torch.tensor(np.r_[np.ones((6, 2)), np.full((2, 2), 100.0)].reshape(8, 2, 1, 1) + np.arange(8).reshape(8, 1, 1, 1))
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    fold = Fold(0, np.arange(6), np.array([6, 7]))
    spy = _Spy()
    output = fit_predict_fold(spy, inputs, labels, fold, seed=3)
    assert np.allclose(spy.fitted.mean(axis=0), 0.0) and np.allclose(spy.fitted.std(axis=0), 1.0)
    # Test rows are scaled with the training statistics, so they stay far out (a test-fitted scaler would centre them).
    assert spy.predicted[-1].min() > 10
    assert output.predictions.tolist() == [0, 0] and "training samples only" in output.normalisation


def test_estimator_gets_the_seed():
    from sklearn.ensemble import RandomForestClassifier

    from merbench.estimator import seeded

    assert seeded(RandomForestClassifier(), 7).random_state == 7
    assert seeded(RandomForestClassifier(random_state=1), 7).random_state == 1


def test_timm_family_names_resolve_to_members():
    registry = get_registry()
    spec = registry.get("models", "timm:resnet18")
    assert spec.name == "timm:resnet18" and registry.provider("models", "timm:resnet18").builtin
    model = spec.build({"pretrained": False, "weights": "", "drop_rate": 0.0}, 2, 5, 32)
    assert model.eval()(torch.zeros(1, 2, 32, 32)).shape == (1, 5)
    with pytest.raises(UsageError, match="Did you mean timm:resnet18"):
        spec_bad = registry.get("models", "timm:resnet1")
        spec_bad.build({"pretrained": False, "weights": "", "drop_rate": 0.0}, 3, 3, 32)
    with pytest.raises(UsageError, match="unknown model 'timm'"):
        registry.get("models", "timm")


@pytest.mark.parametrize("command", [
    ("run", "--model", "timm:resnet1", "--dataset", "synthetic"),
    ("grid", "--models", "ststnet,timm:resnet1", "--datasets", "synthetic"),
], ids=["run", "grid"])
def test_a_timm_name_that_is_no_architecture_stops_before_anything_runs(command, run_cli, tmp_path):
    """The family's check_member runs when the configuration is resolved: a grid trains no other cell first, and no
    failed run is recorded."""
    store = tmp_path / "results.sqlite"
    result = run_cli(*command, "--profile", "quick", "--quiet", "--store", str(store))
    assert result.code == 2 and "'timm:resnet1' is not a timm architecture. Did you mean timm:resnet18" in result.err
    assert "Preprocessing" not in result.err and "Cell" not in result.err and not store.exists()


def test_timm_weights_only_from_local_files(tmp_path, monkeypatch):
    import huggingface_hub.constants
    import timm
    from safetensors.torch import save_file

    registry = get_registry()
    build = registry.get("models", "timm:resnet18").build
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    with pytest.raises(UsageError, match="no local pretrained weights for timm:resnet18 .merbench does not download"):
        build({"pretrained": True, "weights": "", "drop_rate": 0.0}, 3, 3, 32)
    with pytest.raises(UsageError, match="no such file"):
        build({"pretrained": False, "weights": str(tmp_path / "missing.pth"), "drop_rate": 0.0}, 3, 3, 32)
    torch.manual_seed(1)
    source = timm.create_model("resnet18", num_classes=3)
    save_file(source.state_dict(), tmp_path / "weights.safetensors")
    loaded = build({"pretrained": False, "weights": str(tmp_path / "weights.safetensors"), "drop_rate": 0.0}, 3, 3, 32)
    assert torch.equal(loaded.conv1.weight, source.conv1.weight)
    assert torch.equal(loaded.layer4[1].conv2.weight, source.layer4[1].conv2.weight)
    assert not torch.equal(loaded.fc.weight, source.fc.weight)  # the head is new, for the run's classes
    two = build({"pretrained": False, "weights": str(tmp_path / "weights.safetensors"), "drop_rate": 0.0}, 2, 3, 32)
    assert two.conv1.weight.shape == (64, 2, 7, 7)  # timm adapts the stem to 2 input channels


def test_attention_ablation_and_named_sizes():
    registry = get_registry()
    build = registry.get("models", "convmixer").build
    from merbench.contracts import resolve_factory

    options = dict(resolve_config(registry, model="convmixer", dataset="synthetic").section("model"))
    with_cbam = resolve_factory(build)(options, 3, 3, 32)
    without = resolve_factory(build)({**options, "attention": "none"}, 3, 3, 32)
    assert sum(p.numel() for p in without.parameters()) < sum(p.numel() for p in with_cbam.parameters())
    big = resolve_config(registry, model="convmixer-768-32", dataset="synthetic", profile="paper").section("model")
    assert (big["dim"], big["depth"], big["kernel"], big["patch"]) == (768, 32, 7, 7)


def test_flops_and_params_are_counted():
    from merbench.modelinfo import model_facts

    facts = model_facts(get_registry(), "ststnet", "default")
    assert facts.shape == (3, 28, 28)
    # 16 filters of 3x3x3 at 28x28 plus the 16*5*5 -> 3 classifier; a multiply-add is 2 FLOPs.
    assert facts.flops == 2 * (28 * 28 * 27 * 16 + 16 * 5 * 5 * 3)
    assert facts.params == 16 * 27 + 16 + 2 * 16 + 400 * 3 + 3
    svm = model_facts(get_registry(), "lbptop-svm", "default")
    assert svm.kind == "SVC" and svm.params is None and svm.shape == (3 * 16 * 59, 1, 1)


def test_list_models_shows_params_flops_and_families(run_cli):
    result = run_cli("list", "models")
    assert result.code == 0, result.err
    row = piped_row(result.out, "ststnet")
    assert "flow-uvs 3×28×28" in row and "1,683" in row and "680k" in row
    import timm

    resnet = sum(p.numel() for p in timm.create_model("resnet18", num_classes=3).parameters())
    timm_row = piped_row(result.out, "timm:<name>")
    assert f" {resnet:,} " in timm_row and "timm:<name>: figures of timm:resnet18" in " ".join(result.out.split())
    assert "lbptop-hist 2832×1×1" in result.out


def test_info_shows_citation_options_sizes_and_reported(run_cli):
    result = run_cli("info", "ststnet")
    assert result.code == 0, result.err
    text = " ".join(result.out.split())
    for expected in ("Liong", "filters", "flow-uvs 3×28×28", "1.68k", "680k", "UF1", "73.53", "UAR", "76.05", "HTNet"):
        assert expected in text, expected
    unknown = run_cli("info", "ststnt")
    assert unknown.code == 2 and "Did you mean 'ststnet'" in unknown.err
    member = run_cli("info", "timm:resnet1")
    assert member.code == 2 and "'timm:resnet1' is not a timm architecture" in member.err and not member.out


BASELINE_TEXT = """version: 1
defaults: {dataset: synthetic, protocol: subject-10fold, profile: default, seed: 0}
entries:
- model: convmixer
  metrics: {uf1: {expected: 0.6123, tolerance: 0.05}, uar: {expected: 0.6234, tolerance: 0.05},
            accuracy: {expected: 0.6346, tolerance: 0.05}}
  derived: {runs: 3, std: {uf1: 0.0211, uar: 0.0222, accuracy: 0.0233}, seconds_per_run: 98.7,
            date: '2031-01-02', machine: test box}
- model: convmixer
  protocol: sample-10fold
  metrics: {uf1: {expected: 0.7001, tolerance: 0.05}}
  derived: {runs: 3, std: {uf1: 0.0101}, seconds_per_run: 87.6}
- model: convmixer
  set: {model.depth: 8}
  metrics: {uf1: {expected: 0.9999, tolerance: 0.05}}
- model: convmixer
  profile: quick
  metrics: {uf1: {expected: 0.3333, tolerance: 0.05}}
"""


def test_info_shows_what_merbench_measured_per_protocol_and_the_gap(run_cli, monkeypatch, tmp_path):
    from merbench import modelinfo

    baseline = tmp_path / "synthetic-default.yaml"
    baseline.write_text(BASELINE_TEXT)
    monkeypatch.setattr(modelinfo, "SYNTHETIC_BASELINE", baseline)
    result = run_cli("info", "convmixer")
    assert result.code == 0, result.err
    text = " ".join(result.out.split())
    assert "Measured by merbench on the synthetic data (default profile; pooled %, mean ± std over 3 runs)" in text
    assert "subject-10fold independent 61.2 ± 2.1 62.3 ± 2.2 63.5 ± 2.3 99" in text
    assert "sample-10fold shared 70.0 ± 1.0 — — 88" in text
    assert "2031-01-02, test box" in text
    assert "99.99" not in text and "33.3" not in text  # entries with set: or another profile are not the model as shipped
    assert ("The paper reports scores of 96.50–99.73 % (F1, accuracy, precision, recall, in no particular order) "
            "under sample-10fold ⚠ (inflated: "
            "sample-10fold has clips of one subject in training and test). On the synthetic "
            "data, merbench measures UF1 70.0 % under sample-10fold and 61.2 % under subject-10fold: sharing "
            "subjects between training and test changes UF1 by +8.8 points here.") in text


@pytest.mark.parametrize("content, line", [
    (None, "the stored baseline {path} not found in this installation."),
    ("entries: [unclosed", "the stored baseline {path} is not valid YAML (`merbench regress --baseline FILE` says where)."),
    ("entries: &a [1, *a]", "the stored baseline {path} is not valid YAML (`merbench regress --baseline FILE` says where)."),
    (b"\xff\xfe\x00", "the stored baseline {path} is not a text file."),
    ("just text", "the stored baseline {path} is not a baseline file (no 'entries:' list)."),
    ("entries: []", "no default-profile entry for convmixer in {path}."),
])
def test_info_says_in_one_line_when_no_measurement_is_stored(run_cli, monkeypatch, tmp_path, content, line):
    from merbench import modelinfo

    baseline = tmp_path / "synthetic-default.yaml"
    if isinstance(content, bytes):
        baseline.write_bytes(content)
    elif content is not None:
        baseline.write_text(content)
    monkeypatch.setattr(modelinfo, "SYNTHETIC_BASELINE", baseline)
    result = run_cli("info", "convmixer")
    assert result.code == 0, result.err
    expected = "Measured by merbench on the synthetic data: " + line.format(path=baseline)
    assert expected in " ".join(result.out.split())
    assert sum("Measured by merbench" in line for line in result.out.splitlines()) == 1
    assert "Reported by the paper" in result.out  # the rest of info is still there


def test_lbptop_svm_runs_through_the_cli(run_cli, tmp_path):
    target = tmp_path / "svm.json"
    result = run_cli("run", "--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "quick", "--quiet",
                     "--set", "dataset.subjects=4", "protocol.n_splits=2", "--json", str(target))
    assert result.code == 0, result.err
    stored = json.loads(target.read_text())
    assert stored["config"]["preprocess"] == ["lbptop"] and len(stored["folds"]) == 2
    assert {r["metric"] for r in stored["reported"]} == {"uf1", "uar"}
    assert all(0 <= p["prediction"] < 3 for p in stored["predictions"])
    assert "StandardScaler" in stored["leakage"]["normalisation"]
    assert "training samples only" in stored["leakage"]["normalisation"]
    assert stored["leakage"]["model_selection"].startswith("none: the model is fitted once, without epochs")


def test_an_estimators_progress_shows_one_fit_per_fold_not_epochs(run_cli):
    result = run_cli("run", "--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "quick",
                     "--set", "dataset.subjects=4", "protocol.n_splits=2", "engine.parallel_folds=1")
    assert result.code == 0, result.err
    assert "Fold 1/2 fit: 1/1" in result.err  # a plain log shows a restarted stage's lines every few seconds only
    assert "epochs" not in result.err and "training error" in result.err


def test_early_stopping_is_refused_for_an_estimator(run_cli):
    result = run_cli("run", "--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "quick", "--quiet",
                     "--set", "dataset.subjects=4", "protocol.n_splits=2", "engine.early_stopping=3")
    assert result.code == 2
    assert "use --set engine.early_stopping=0" in result.err and "Traceback" not in result.err


STRUCTURAL = ("dim", "depth", "kernel", "filters", "hidden", "size", "frames", "blocks")
"""Options that size a built-in network or feature (a huge value builds a model that never finishes)."""


def test_structural_sizes_of_the_built_in_models_have_upper_bounds_that_hold_every_profile():
    import math

    from merbench.config import Range, parse_rule

    registry = get_registry()
    specs = [registry.get("models", name) for name in registry.names("models")]
    specs = [s for s in specs if s.build.startswith("merbench_plugins.")] + [registry.get("preprocessors", "lbptop")]
    assert any(spec.name == "convmixer" for spec in specs)
    for spec in specs:
        for option in STRUCTURAL:
            if option not in spec.options or isinstance(spec.options[option], str):  # lbptop-svm's kernel is a name
                continue
            rule = parse_rule(spec.option_ranges.get(option))
            assert isinstance(rule, Range) and math.isfinite(rule.high), f"{spec.name}: {option} has no upper bound"
            for profile, values in {"": spec.options, **spec.profiles}.items():
                if option in values:
                    for value in values[option] if isinstance(values[option], list) else [values[option]]:
                        assert value in rule, f"{spec.name} {profile or 'options'}: {option}={value}"


def test_a_huge_convmixer_depth_is_refused():
    registry = get_registry()
    with pytest.raises(UsageError, match=r"model.depth=100000: must be an integer in \[1, 64\]"):
        resolve_config(registry, model="convmixer", dataset="synthetic", profile="quick", sets={"model.depth": "100000"})


def test_info_names_each_of_two_reported_scores_instead_of_a_range(run_cli):
    """STSTNet's paper reports UF1 73.53 and UAR 76.05: a range "73.53–76.05 % (UAR, UF1)" would read as UAR 73.53."""
    result = run_cli("info", "ststnet")
    assert result.code == 0, result.err
    assert "The paper reports UF1 73.53 % and UAR 76.05 % under megc2019" in " ".join(result.out.split())


def test_timm_pretrained_weights_fetched_from_a_url_are_found_and_a_model_without_weights_is_named(tmp_path, monkeypatch):
    """timm keeps weights it fetches from a URL (legacy_seresnet18, gcvit_*) in torch's hub folder, not the Hugging
    Face cache: merbench looked only there and refused them, advising the fetch just made; for an architecture timm
    has no weights of (botnet50ts_256) that advice could not work."""
    import huggingface_hub.constants
    import timm

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    hub = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    try:
        build = get_registry().get("models", "timm:legacy_seresnet18").build
        options = {"pretrained": True, "weights": "", "drop_rate": 0.0}
        with pytest.raises(UsageError, match="no local pretrained weights for timm:legacy_seresnet18"):
            build(options, 3, 3, 32)
        (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
        torch.manual_seed(2)
        fetched = timm.create_model("legacy_seresnet18", num_classes=1000)
        torch.save(fetched.state_dict(), tmp_path / "hub" / "checkpoints" / "seresnet18-4bb0ce65.pth")
        loaded = build(options, 3, 3, 32)
        assert torch.equal(loaded.layer0.conv1.weight, fetched.layer0.conv1.weight)
        with pytest.raises(UsageError, match="timm has no pretrained weights for timm:botnet50ts_256; give a file"):
            get_registry().get("models", "timm:botnet50ts_256").build(options, 3, 3, 32)
    finally:
        torch.hub.set_dir(hub)
