"""The preprocessing cache: reuse, invalidation, damaged and interrupted entries, parallel runs, CLI."""

from __future__ import annotations

import dataclasses
import json
import re
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from merbench import preprocess as prep_module
from merbench.config import resolve_config
from merbench.errors import DataError
from merbench.preprocess import build_chain, index_dir, preprocess_dataset
from merbench.registry import get_registry
from merbench_plugins.datasets.synthetic import load as load_synthetic

TINY = {"dataset.subjects": 3, "dataset.clips_per_subject": 4, "dataset.size": 32, "dataset.frames": 8, "flow.method": "dis"}


def setup(cache: Path, **sets):
    registry = get_registry()
    config = resolve_config(registry, model="convmixer", dataset="synthetic", profile="quick", sets={**TINY, **sets})
    dataset = load_synthetic(None, dict(config.section("dataset")), cache)
    chain = build_chain([registry.get("preprocessors", n) for n in config.preprocess], config.sections)
    return dataset, chain


def run(dataset, chain, cache: Path, workers: int = 1):
    ticks: list[int] = []
    result = preprocess_dataset(dataset, chain, on_progress=ticks.append, cache_dir=cache, workers=workers)
    assert sum(ticks) == len(dataset.samples), "the progress callback must reach the number of clips"
    return result


def entries(cache: Path) -> list[Path]:
    return sorted((cache / "preprocess").glob("??/*.npy"))


def bundles(cache: Path) -> list[Path]:
    return sorted(index_dir(cache / "preprocess").glob("*.npy"))


def test_second_run_computes_nothing_and_gives_the_same_arrays(tmp_path):
    dataset, chain = setup(tmp_path)
    first = run(dataset, chain, tmp_path)
    assert (first.computed, first.cached) == (12, 0)
    assert len(entries(tmp_path)) == 12 and len(bundles(tmp_path)) == 1
    second = run(dataset, chain, tmp_path)
    assert (second.computed, second.cached) == (0, 12)
    np.testing.assert_array_equal(first.inputs, second.inputs)


@pytest.mark.parametrize("change", [{"flow.size": 24}, {"flow.channels": "u,v,strain"}, {"preprocess": "crop,flow"},
                                    {"preprocess": "magnify,flow"}, {"preprocess": "apex,flow", "apex.override": True}])
def test_a_changed_parameter_recomputes(tmp_path, change):
    dataset, chain = setup(tmp_path)
    run(dataset, chain, tmp_path)
    _, other = setup(tmp_path, **change)
    assert run(dataset, other, tmp_path).computed == 12


def test_magnify_and_crop_parameters_are_in_the_key(tmp_path):
    dataset, chain = setup(tmp_path, preprocess="crop,magnify,flow")
    run(dataset, chain, tmp_path)
    for change in ({"magnify.alpha": 4.0}, {"magnify.band": "0.1,0.3"}, {"crop.margin": 0.1}):
        _, other = setup(tmp_path, preprocess="crop,magnify,flow", **change)
        assert other.signature() != chain.signature()
        assert run(dataset, other, tmp_path).computed == 12, change


def test_a_moved_apex_recomputes_when_an_earlier_step_reads_the_whole_clip(tmp_path):
    """``magnify`` reads onset..offset, so the apex frame the next step reads is one of its files: the key must
    still say which frame that step reads, or the clip is served from its old apex."""
    dataset, chain = setup(tmp_path, preprocess="magnify,flow")
    run(dataset, chain, tmp_path)
    sample = dataset.samples[5]
    moved_apex = sample.onset + 1 if sample.apex != sample.onset + 1 else sample.onset + 2
    moved = dataclasses.replace(dataset, samples=tuple(
        dataclasses.replace(s, apex=moved_apex) if s is sample else s for s in dataset.samples))
    again = run(moved, chain, tmp_path)
    assert (again.computed, again.cached) == (1, 11)
    fresh = run(moved, chain, tmp_path / "fresh")
    np.testing.assert_array_equal(again.inputs, fresh.inputs)


def test_changed_frame_bytes_recompute_only_that_clip(tmp_path):
    dataset, chain = setup(tmp_path)
    first = run(dataset, chain, tmp_path)
    sample = dataset.samples[5]
    onset = sample.frames[sample.onset]
    frame = cv2.imread(str(onset), cv2.IMREAD_GRAYSCALE)
    frame[10:20, 10:20] = 255 - frame[10:20, 10:20]
    cv2.imwrite(str(onset), frame)
    again = run(dataset, chain, tmp_path)
    assert (again.computed, again.cached) == (1, 11)
    assert not np.array_equal(again.inputs[5], first.inputs[5])
    np.testing.assert_array_equal(np.delete(again.inputs, 5, axis=0), np.delete(first.inputs, 5, axis=0))


def test_truncated_entries_and_bundles_are_never_used(tmp_path):
    dataset, chain = setup(tmp_path)
    first = run(dataset, chain, tmp_path)
    bundle = bundles(tmp_path)[0]
    bundle.write_bytes(bundle.read_bytes()[:-100])  # header intact, data short
    reused = run(dataset, chain, tmp_path)
    assert reused.computed == 0, "a damaged bundle falls back to the entries"
    np.testing.assert_array_equal(reused.inputs, first.inputs)
    bundle.unlink()
    victim = entries(tmp_path)[3]
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
    repaired = run(dataset, chain, tmp_path)
    assert (repaired.computed, repaired.cached) == (1, 11)
    np.testing.assert_array_equal(repaired.inputs, first.inputs)


def test_an_interrupted_run_leaves_a_cache_the_next_run_uses(tmp_path, monkeypatch):
    dataset, chain = setup(tmp_path)
    step = chain.steps[0]
    original = type(step).__call__
    calls = {"n": 0}

    def dies_on_the_fifth(self, sample, read_frame, upstream=None):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return original(self, sample, read_frame, upstream)

    monkeypatch.setattr(type(step), "__call__", dies_on_the_fifth)
    with pytest.raises(KeyboardInterrupt):
        run(dataset, chain, tmp_path)
    monkeypatch.undo()
    assert len(entries(tmp_path)) == 4 and not bundles(tmp_path)
    # a writer killed mid-write leaves only a temporary file, which is never read
    stray = entries(tmp_path)[0].parent / f".{entries(tmp_path)[0].name}.abc.tmp"
    stray.write_bytes(b"\x93NUMPY half")
    resumed = run(dataset, chain, tmp_path)
    assert (resumed.computed, resumed.cached) == (8, 4)
    assert np.isfinite(resumed.inputs).all()


def test_parallel_output_equals_serial_output(tmp_path, monkeypatch):
    monkeypatch.setattr(prep_module, "PARALLEL_WORTH_S", 0.0)
    monkeypatch.setattr(prep_module, "MIN_PARALLEL", 1)
    monkeypatch.setattr(prep_module, "PROBE_CLIPS", 1)
    dataset, chain = setup(tmp_path / "data", preprocess="crop,apex,flow", **{"apex.rule": "motion-peak", "apex.override": True})
    serial = run(dataset, chain, tmp_path / "serial", workers=1)
    parallel = run(dataset, chain, tmp_path / "parallel", workers=2)
    assert parallel.workers == 2 and serial.workers == 1
    assert parallel.computed == serial.computed == 12
    assert serial.inputs.tobytes() == parallel.inputs.tobytes()
    assert parallel.details["apex_frames"] == serial.details["apex_frames"]
    names = sorted(p.name for p in entries(tmp_path / "serial"))
    assert names == sorted(p.name for p in entries(tmp_path / "parallel"))
    for name in names:
        a = next((tmp_path / "serial" / "preprocess").glob(f"??/{name}"))
        b = next((tmp_path / "parallel" / "preprocess").glob(f"??/{name}"))
        assert a.read_bytes() == b.read_bytes()


def test_this_process_computes_clips_while_the_workers_start(tmp_path, monkeypatch):
    monkeypatch.setattr(prep_module, "PARALLEL_WORTH_S", 0.0)
    monkeypatch.setattr(prep_module, "MIN_PARALLEL", 1)
    monkeypatch.setattr(prep_module, "PROBE_CLIPS", 1)
    dataset, chain = setup(tmp_path / "data")
    serial = run(dataset, chain, tmp_path / "serial", workers=1)
    here = []
    original = prep_module.compute_and_store

    def slow_here(*args):  # only this process sees the patch: the workers compute at full speed
        here.append(args[1].id)
        time.sleep(0.2)
        return original(*args)

    monkeypatch.setattr(prep_module, "compute_and_store", slow_here)
    parallel = run(dataset, chain, tmp_path / "parallel", workers=2)
    assert serial.inputs.tobytes() == parallel.inputs.tobytes()
    assert parallel.computed == 12 and parallel.workers == 2
    assert 1 < len(here) < 12, f"this process computed {len(here)} of 12 clips: beyond the probe, not all"
    assert here[1] == dataset.samples[-1].id, "after the probe this process works from the back"


def test_two_runs_at_once_share_the_cache_safely(tmp_path):
    dataset, chain = setup(tmp_path)
    _, chain2 = setup(tmp_path)
    results: dict[int, object] = {}
    errors: list[BaseException] = []

    def go(i, c):
        try:
            results[i] = preprocess_dataset(dataset, c, cache_dir=tmp_path, workers=1)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(i, c)) for i, c in enumerate((chain, chain2))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    np.testing.assert_array_equal(results[0].inputs, results[1].inputs)
    assert not list(tmp_path.rglob("*.tmp"))
    assert run(dataset, chain, tmp_path).computed == 0


def test_a_corrupt_frame_names_the_file(tmp_path):
    dataset, chain = setup(tmp_path)
    sample = dataset.samples[2]
    bad = sample.frames[sample.apex]
    bad.write_bytes(b"not a png")
    with pytest.raises(DataError, match=f"cannot decode frame {bad}"):
        run(dataset, chain, tmp_path)


# ---------------------------------------------------------------------------- CLI


def test_cli_preprocess_then_cache_info_and_clear(run_cli, fresh_cache, tmp_path):
    sets = ["--set", *(f"{k}={v}" for k, v in TINY.items())]
    result = run_cli("preprocess", "--dataset", "synthetic", "--profile", "quick", "--quiet", "--json", str(tmp_path / "p.json"), *sets)
    assert result.code == 0, result.err
    summary = json.loads((tmp_path / "p.json").read_text())
    assert (summary["computed"], summary["cached"], summary["chain"], summary["produces"]) == (12, 0, "flow", "flow-uvs")
    again = run_cli("preprocess", "--dataset", "synthetic", "--profile", "quick", "--quiet", *sets)
    assert "computed 0, cached 12" in " ".join(again.out.split())
    first, second = again.out.splitlines()[:2]  # each under 80 columns: no figure wrapped in two
    assert re.fullmatch(r"synthetic: 12 clips through flow → 'flow-uvs' \d+×\d+×\d+", first), first
    assert second.startswith("  computed 0, cached 12 in ") and len(second) < 80, second

    info = run_cli("cache", "info", "--json", str(tmp_path / "info.json"))
    assert info.code == 0, info.err
    described = json.loads((tmp_path / "info.json").read_text())
    assert described["root"] == str(fresh_cache)
    [row] = described["chains"]
    assert (row["dataset"], row["chain"], row["entries"], row["samples"]) == ("synthetic", "flow", 12, 12)
    assert row["bytes"] > 0 and "method=dis" in row["params"]
    assert "synthetic" in info.out and "12/12" in info.out

    refused = run_cli("cache", "clear")
    assert refused.code == 2 and "--yes" in refused.err
    assert len(entries(fresh_cache)) == 12, "nothing is removed without --yes"
    (fresh_cache / "results.db").write_text("someone else's")
    cleared = run_cli("cache", "clear", "--yes")
    assert cleared.code == 0, cleared.err
    assert not (fresh_cache / "preprocess").exists() and not (fresh_cache / "synthetic").exists()
    assert (fresh_cache / "results.db").exists(), "clear removes only merbench's cache parts"


def test_cli_preprocess_refuses_a_bad_chain(run_cli, fresh_cache):
    result = run_cli("preprocess", "--dataset", "synthetic", "--set", "preprocess=flow,crop")
    assert result.code == 2 and "'crop' takes 'frames' but 'flow' gives 'flow-uvs'" in " ".join(result.err.split())
    mismatch = run_cli("preprocess", "--dataset", "synthetic", "--model", "convmixer", "--set", "preprocess=apex-frame")
    assert mismatch.code == 2
    assert "model 'convmixer' expects input 'flow-uvs' but the preprocessing chain apex-frame produces 'apex-grey'" in " ".join(mismatch.err.split())


def test_run_uses_what_preprocess_filled(run_cli, quick_run, fresh_cache):
    sets = ["--set", *(f"{k}={v}" for k, v in TINY.items())]
    assert run_cli("preprocess", "--dataset", "synthetic", "--model", "convmixer", "--profile", "quick", "--quiet",
                   *sets).code == 0
    result = quick_run(*sets, "protocol.n_splits=3", "engine.epochs=1")
    assert result["preprocess"]["computed"] == 0 and result["preprocess"]["cached"] == 12


def test_unreadable_clips_are_skipped_with_a_count_when_not_strict(tmp_path):
    dataset, chain = setup(tmp_path)
    bad = dataset.samples[4].frames[dataset.samples[4].onset]
    bad.write_bytes(b"broken")
    missing = dataset.samples[7].frames[dataset.samples[7].apex]
    missing.unlink()
    for attempt in range(2):  # the second run reuses the cache and reports the same skips
        result = preprocess_dataset(dataset, chain, cache_dir=tmp_path, workers=1, skip_unreadable=True)
        assert result.inputs.shape[0] == 10 and len(result.dataset.samples) == 10
        assert [s.id for s in result.dataset.samples] == [s.id for i, s in enumerate(dataset.samples) if i not in (4, 7)]
        skipped = result.details["skipped"]
        assert skipped["count"] == 2
        assert str(bad) in skipped["clips"][dataset.samples[4].id]
        assert str(missing) in skipped["clips"][dataset.samples[7].id]
        assert result.computed == (10 if attempt == 0 else 0)


def test_unchanged_frames_are_not_read_again(tmp_path, monkeypatch):
    import os

    dataset, chain = setup(tmp_path)
    old = 1_600_000_000
    for sample in dataset.samples:
        for frame in sample.frames:
            os.utime(frame, (old, old))
    first = run(dataset, chain, tmp_path)
    reads: list[Path] = []
    original = prep_module.read_bytes
    monkeypatch.setattr(prep_module, "read_bytes", lambda path, sample: reads.append(path) or original(path, sample))
    second = run(dataset, chain, tmp_path)
    assert second.computed == 0 and reads == [], "a warm run should stat, not read, unchanged frames"
    sample = dataset.samples[0]
    frame = sample.frames[sample.apex]
    image = cv2.imread(str(frame), cv2.IMREAD_GRAYSCALE)
    cv2.imwrite(str(frame), 255 - image)
    third = run(dataset, chain, tmp_path)
    assert third.computed == 1 and frame in reads
    assert not np.array_equal(third.inputs[0], first.inputs[0])


KILLED_RUN = """
import sys, time
from pathlib import Path
sys.path.insert(0, {tests!r})
import test_preprocess_cache as t
from merbench_plugins.preprocessors.flow import FlowPreprocessor
original = FlowPreprocessor.__call__
def slow(self, *args):
    time.sleep(0.15)
    return original(self, *args)
FlowPreprocessor.__call__ = slow
dataset, chain = t.setup(Path({cache!r}))
t.preprocess_dataset(dataset, chain, cache_dir=Path({cache!r}), workers=1)
"""


def test_a_killed_run_leaves_a_cache_the_next_run_uses(tmp_path):
    import subprocess
    import sys
    import time

    dataset, chain = setup(tmp_path)  # generate the data before the race
    script = KILLED_RUN.format(tests=str(Path(__file__).parent), cache=str(tmp_path))
    child = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 60
    while len(entries(tmp_path)) < 3 and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.02)
    child.kill()
    child.wait()
    done = len(entries(tmp_path))
    assert 3 <= done < 12, "the child should have been killed in the middle of the run"
    assert not bundles(tmp_path)
    resumed = run(dataset, chain, tmp_path)
    assert (resumed.computed, resumed.cached) == (12 - done, done)
    clean = run(dataset, chain, tmp_path / "clean")
    np.testing.assert_array_equal(resumed.inputs, clean.inputs)


def test_cli_corrupt_frame_exits_2_naming_the_file(run_cli, fresh_cache):
    sets = ["--set", *(f"{k}={v}" for k, v in TINY.items())]
    dataset, _ = setup(fresh_cache)
    bad = dataset.samples[1].frames[dataset.samples[1].onset]
    bad.write_bytes(b"\x89PNG broken")
    result = run_cli("preprocess", "--dataset", "synthetic", "--profile", "quick", "--quiet", *sets)
    assert result.code == 2
    assert f"cannot decode frame {bad}" in "".join(result.err.split("\n"))


def test_a_run_records_the_chain_choices(quick_run, fresh_cache):
    sets = ["--set", *(f"{k}={v}" for k, v in TINY.items()), "preprocess=crop,apex,flow", "apex.rule=motion-peak",
            "apex.override=true", "crop.detector=centre", "protocol.n_splits=3", "engine.epochs=1"]
    result = quick_run(*sets)
    details = result["preprocess"]
    assert details["apex_rule"] == "motion-peak (flow) for 12 of 12 clips (all)"
    assert details["apex_rule_counts"] == {"motion-peak (flow)": 12}
    assert len(details["apex_frames"]) == 12
    assert details["crop_detector"] == "centre" and details["crop_counts"] == {"centre": 12}
    assert [step["name"] for step in details["chain"]] == ["crop", "apex", "flow"]
    assert result["config"]["preprocess"] == ["crop", "apex", "flow"]


def test_a_run_starts_the_fold_workers_server_before_it_loads_the_dataset(tmp_path, monkeypatch):
    import merbench.preflight
    import merbench.runner
    from merbench.preflight import preflight

    monkeypatch.setenv("MERBENCH_CACHE", str(tmp_path))
    events = []
    monkeypatch.setattr(merbench.preflight, "start_worker_server", lambda: events.append("fork server"))
    loading = merbench.runner.load_dataset
    monkeypatch.setattr(merbench.runner, "load_dataset", lambda *a, **k: events.append("load") or loading(*a, **k))
    registry = get_registry()
    tiny = {"dataset.subjects": 4, "dataset.clips_per_subject": 4, "dataset.size": 32, "dataset.frames": 6,
            "protocol.n_splits": 2}
    config = resolve_config(registry, model="ststnet", dataset="synthetic", profile="quick", device="cpu", sets=tiny)
    preflight(config, registry, start_workers=True)
    assert events == ["fork server", "load"], "its torch imports overlap with loading and preprocessing"
    events.clear()
    one_at_a_time = resolve_config(registry, model="ststnet", dataset="synthetic", profile="quick", device="cpu",
                                   sets={**tiny, "engine.parallel_folds": 1})
    preflight(one_at_a_time, registry, start_workers=True)
    assert events == ["load"], "no fold workers, no server"


BEFORE_SCIKIT_LEARN = """
import sys
import merbench.preflight
from merbench.config import resolve_config
from merbench.registry import get_registry
seen = []
merbench.preflight.start_worker_server = lambda: seen.append("sklearn" in sys.modules)
registry = get_registry()
config = resolve_config(registry, model="ststnet", dataset="synthetic", profile="quick", device="cpu",
                        sets={"dataset.subjects": 4, "dataset.clips_per_subject": 4, "dataset.size": 32,
                              "dataset.frames": 6, "protocol.n_splits": 2})
merbench.preflight.preflight(config, registry, start_workers=True)
print(seen, "sklearn" in sys.modules)
"""


def test_the_fold_workers_server_starts_before_this_process_imports_scikit_learn(tmp_path):
    """The server imports torch for seconds on another core: scikit-learn's import here (~1 s) is one more to overlap."""
    import os
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", BEFORE_SCIKIT_LEARN], capture_output=True, text=True,
                          env={**os.environ, "MERBENCH_CACHE": str(tmp_path)}, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[False]", "True"], "started once, before scikit-learn was imported (it is by the end)"


def _memo_files(cache: Path) -> list[Path]:
    return sorted((cache / "preprocess" / "hashes").glob("*.json"))


@pytest.mark.parametrize("workers", [1, 2])
def test_a_stale_remembered_digest_is_hashed_again_not_a_skipped_clip(tmp_path, monkeypatch, workers):
    """A frame rewritten in place with its size, time and inode kept (or a damaged memo record): the next run
    whose key differs recomputes the clip from its real bytes instead of calling it changed, every time."""
    import os

    monkeypatch.setattr(prep_module, "MIN_PARALLEL", 1)
    monkeypatch.setattr(prep_module, "PARALLEL_WORTH_S", 0.0)
    dataset, chain = setup(tmp_path)
    old = 1_600_000_000
    for sample in dataset.samples:
        for frame in sample.frames:
            os.utime(frame, (old, old))
    run(dataset, chain, tmp_path)
    [memo] = _memo_files(tmp_path)
    records = json.loads(memo.read_text())
    sample = dataset.samples[-1]
    onset = str(sample.frames[sample.onset])
    records[onset][3] = "0" * 64  # as if the file had changed under an unchanged stamp
    memo.write_text(json.dumps(records))
    _, other = setup(tmp_path, **{"flow.size": 24})
    result = preprocess_dataset(dataset, other, cache_dir=tmp_path, workers=workers, skip_unreadable=True)
    assert "skipped" not in result.details and (result.computed, result.cached) == (12, 0)
    assert json.loads(memo.read_text())[onset][3] != "0" * 64, "the stale record is replaced by the real digest"
    fresh = tmp_path / "fresh"
    np.testing.assert_array_equal(result.inputs, run(dataset, other, fresh).inputs)


@pytest.mark.parametrize("record", [5, [1, 2], "x", [1, 2, 3, None], None])
def test_a_malformed_remembered_digest_is_ignored(tmp_path, record):
    import os

    dataset, chain = setup(tmp_path)
    for sample in dataset.samples:
        for frame in sample.frames:
            os.utime(frame, (1_600_000_000, 1_600_000_000))
    first = run(dataset, chain, tmp_path)
    [memo] = _memo_files(tmp_path)
    memo.write_text(json.dumps({str(frame): record for sample in dataset.samples for frame in sample.frames}))
    again = run(dataset, chain, tmp_path)
    assert again.computed == 0
    np.testing.assert_array_equal(again.inputs, first.inputs)


def test_an_entrys_checksum_is_written_before_its_array(tmp_path, monkeypatch):
    """A run killed between the two writes leaves a checksum without an array (recomputed), never an array without
    its checksum (reported as damaged)."""
    written: list[str] = []
    original = prep_module.write_cache_file
    monkeypatch.setattr(prep_module, "write_cache_file", lambda path, data: written.append(Path(path).suffix)
                        or original(path, data))
    prep_module.save_checked(tmp_path / "entry.npy", np.zeros(3, dtype=np.float32))
    assert written == [".sha256", ".npy"]
