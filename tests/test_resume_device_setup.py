"""A resume compares the device a fold's arithmetic depends on (type, GPU, precision), not how its description came
about (before: a resume with ``--device cpu`` of an ``auto`` run, or under another ``OMP_NUM_THREADS``, warned
"resumed under other software … (device cpu (1 thread, float32; no CUDA device found) → cpu (2 threads, float32;
requested))", and its result kept that warning)."""

from __future__ import annotations

import json

from interrupting import stopped_after_folds
from merbench.environment import changed_setup

TINY = ["--profile", "quick", "--quiet", "--set", "dataset.subjects=4", "dataset.clips_per_subject=3",
        "dataset.size=32", "dataset.frames=8", "protocol.n_splits=2", "engine.epochs=1"]


def test_the_thread_count_and_the_reason_for_the_device_are_no_change_of_software():
    before = {"device": "cpu (1 thread, float32; no CUDA device found)", "torch": "2.4"}
    assert changed_setup(before, {**before, "device": "cpu (2 threads, float32; requested)"}) == ([], [])
    gpu = {"device": "cuda (NVIDIA H100, mixed precision bfloat16; CUDA found)"}
    assert changed_setup(gpu, {"device": "cuda (NVIDIA H100, mixed precision bfloat16; requested)"}) == ([], [])


def test_another_precision_or_gpu_is_still_other_software():
    before = {"device": "cpu (2 threads, float32; requested)"}
    now = {"device": "cpu (2 threads, mixed precision bfloat16; requested)"}
    assert changed_setup(before, now)[0] == [
        "device cpu (2 threads, float32; requested) → cpu (2 threads, mixed precision bfloat16; requested)"]
    h100 = {"device": "cuda (NVIDIA H100, float32; CUDA found)"}
    assert changed_setup(h100, {"device": "cuda (NVIDIA A100, float32; CUDA found)"})[0]
    assert changed_setup({"device": "cpu"}, {"device": "cuda"})[0] == ["device cpu → cuda"]


def test_resuming_an_auto_run_with_device_cpu_on_the_same_cpu_says_nothing_of_other_software(
        run_cli, monkeypatch, tmp_path):
    store = tmp_path / "s.sqlite"
    stopped, [run_id] = stopped_after_folds(run_cli, monkeypatch, [
        "run", "--model", "ststnet", "--dataset", "synthetic", *TINY, "--device", "auto", "--store", str(store)], 1)
    assert stopped.code == 130, stopped.err
    resumed = run_cli("run", "--resume", run_id, "--store", str(store), "--device", "cpu", "--json",
                      str(tmp_path / "r.json"))
    assert resumed.code == 0, resumed.err
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["environment"]["device"].endswith("; requested)")
    assert not [w for w in result["warnings"] if w.startswith("resumed")], result["warnings"]
    assert "other software" not in resumed.err and "earlier_software" not in result["environment"]
