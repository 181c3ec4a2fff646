"""A run records the content of the files its options name (``environment.files``: a timm backbone's
``model.weights``), so its result says which weights trained it; a re-run from that result, or a resume, with other
bytes under the same name says so. Before, only the path was kept: a file replaced under the same name left no trace."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch

from merbench.environment import FILES_KEY, changed_setup, with_earlier_setups
from merbench.registry import get_registry
from merbench_plugins.models.timm_backbone import build_model

TINY = ("dataset.subjects=4", "dataset.clips_per_subject=3", "protocol.n_splits=2", "engine.epochs=1")


def _weights(path, seed: int) -> str:
    options = {**get_registry().get("models", "timm:").options, "weights": "", "pretrained": False}
    torch.manual_seed(seed)
    torch.save(build_model("mobilenetv3_small_050", options, 3, 3, 28).state_dict(), path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def recorded(run_cli, tmp_path, monkeypatch):
    """A stored run of timm:mobilenetv3_small_050 from a weights file, its result file and the file's digest."""
    monkeypatch.setenv("MERBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MERBENCH_STORE", str(tmp_path / "results.sqlite"))
    weights = tmp_path / "weights.pth"
    digest = _weights(weights, 0)
    ran = run_cli("run", "--model", "timm:mobilenetv3_small_050", "--dataset", "synthetic", "--profile", "quick",
                  "--set", f"model.weights={weights}", *TINY, "--json", str(tmp_path / "result.json"))
    assert ran.code == 0, ran.err
    return weights, digest, tmp_path / "result.json", ran


def test_a_run_records_the_weights_files_content_and_shows_it(recorded):
    weights, digest, result, ran = recorded
    files = json.loads(result.read_text())["environment"][FILES_KEY]
    assert files == {"model.weights": {"path": str(weights.resolve()), "sha256": digest,
                                       "bytes": weights.stat().st_size}}
    assert f"model.weights sha256 {digest[:12]}" in " ".join(ran.out.split())


def test_a_rerun_with_other_weights_under_the_same_name_warns_and_keeps_the_warning(recorded, run_cli, tmp_path):
    weights, digest, result, _ = recorded
    same = run_cli("run", "--config", str(result), "--no-store", "--json", str(tmp_path / "same.json"))
    assert same.code == 0, same.err
    assert "the files the options name differ" not in same.err + same.out
    other = _weights(weights, 1)
    again = run_cli("run", "--config", str(result), "--no-store", "--json", str(tmp_path / "again.json"))
    assert again.code == 0, again.err
    said = f"recorded → now: file model.weights sha256 {digest[:12]} → {other[:12]}"
    assert said in " ".join((again.err + again.out).split())
    kept = json.loads((tmp_path / "again.json").read_text())
    assert any(said in warning for warning in kept["warnings"])
    assert kept["environment"][FILES_KEY]["model.weights"]["sha256"] == other


def test_a_resume_with_other_weights_records_the_mix_and_one_without_records_is_not_flagged():
    def environment(sha: str | None) -> dict:
        base = {"merbench": "0.1.0", "torch": "2.14.1", "device": "cpu (float32)", "plugins": {}}
        return {**base, FILES_KEY: {"model.weights": {"path": "/w.pth", "sha256": sha, "bytes": 1}}} if sha else base

    software, _ = changed_setup(environment("a" * 64), environment("b" * 64))
    assert software == [f"file model.weights sha256 {'a' * 12} → {'b' * 12}"]
    assert changed_setup(environment("a" * 64), environment("a" * 64)) == ([], [])
    assert changed_setup(environment(None), environment("b" * 64)) == ([], [])  # recorded by a merbench that kept none
    resumed = with_earlier_setups(environment("a" * 64), environment("b" * 64), [(0, 0)])
    assert resumed["earlier_setups"]["software"] == software
    assert resumed["earlier_setups"]["earlier_software"][FILES_KEY]["model.weights"]["sha256"] == "a" * 64


def test_trials_of_a_tune_made_with_other_weights_under_the_same_name_are_named_when_reused():
    from merbench.environment import other_tune_software

    def made(sha: str | None) -> dict:
        base = {"merbench": "0.1.0", "torch": "2.14.1", "optuna": "4.0", "threads_per_fold": 1, "plugins": {}}
        return {**base, FILES_KEY: {"model.weights": {"path": "/w.pth", "sha256": sha, "bytes": 1}}} if sha else base

    assert other_tune_software(made("a" * 64), made("b" * 64)) == [f"file model.weights sha256 {'a' * 12} → {'b' * 12}"]
    assert other_tune_software(made("a" * 64), made("a" * 64)) == []
    assert other_tune_software(made(None), made("b" * 64)) == []  # stored by a merbench that recorded no files


def _cached_pretrained(hub, seed: int) -> tuple[str, object]:
    """ImageNet-shaped weights of mobilenetv3_small_050 where timm's fetch keeps them (a Hugging Face cache)."""
    import timm
    from safetensors.torch import save_file

    snapshot = hub / "models--timm--mobilenetv3_small_050.lamb_in1k" / "snapshots" / "abc"
    snapshot.mkdir(parents=True, exist_ok=True)
    (snapshot.parent.parent / "refs").mkdir(exist_ok=True)
    (snapshot.parent.parent / "refs" / "main").write_text("abc")
    torch.manual_seed(seed)
    save_file(timm.create_model("mobilenetv3_small_050").state_dict(), snapshot / "model.safetensors")
    return hashlib.sha256((snapshot / "model.safetensors").read_bytes()).hexdigest(), snapshot / "model.safetensors"


def test_pretrained_weights_from_the_download_cache_are_recorded_and_a_change_is_said(run_cli, tmp_path, monkeypatch):
    """``model.pretrained=true`` names no file, yet the run reads one (timm's download cache, which a later fetch or
    another release replaces): the run records it as ``model.pretrained``; before, nothing said which weights."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("MERBENCH_CACHE", str(tmp_path / "cache"))
    digest, cached = _cached_pretrained(tmp_path / "hub", 0)
    first = run_cli("run", "--model", "timm:mobilenetv3_small_050", "--dataset", "synthetic", "--profile", "quick",
                    "--no-store", "--set", "model.pretrained=true", "engine.parallel_folds=1", *TINY,
                    "--json", str(tmp_path / "first.json"))
    assert first.code == 0, first.err
    files = json.loads((tmp_path / "first.json").read_text())["environment"][FILES_KEY]
    assert files == {"model.pretrained": {"path": str(cached.resolve()), "sha256": digest, "bytes": cached.stat().st_size}}
    assert f"model.pretrained sha256 {digest[:12]}" in " ".join(first.out.split())
    other, _ = _cached_pretrained(tmp_path / "hub", 1)
    again = run_cli("run", "--config", str(tmp_path / "first.json"), "--no-store", "--json", str(tmp_path / "again.json"))
    assert again.code == 0, again.err
    assert f"file model.pretrained sha256 {digest[:12]} → {other[:12]}" in " ".join((again.err + again.out).split())


def test_a_run_without_pretrained_weights_records_no_file(tmp_path, monkeypatch):
    import huggingface_hub.constants

    from merbench.config import resolve_config
    from merbench.recorded_files import files_record

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    _cached_pretrained(tmp_path / "hub", 0)
    registry = get_registry()
    for pretrained, recorded in ((False, set()), (True, {"model.pretrained"})):
        config = resolve_config(registry, model="timm:mobilenetv3_small_050", dataset="synthetic",
                                sets={"model.pretrained": pretrained})
        assert set(files_record(config, registry).get(FILES_KEY, {})) == recorded
