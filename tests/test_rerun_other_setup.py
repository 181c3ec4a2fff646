"""A re-run of a recorded result (``run --config result.json``) recorded under other software, on another device or
on another machine warns before training, naming what differs, and the result keeps the warning (before: nothing
said, ``"warnings": []``); one recorded here says nothing. A relative ``MERBENCH_CACHE`` is recorded as an absolute
folder (before: ``relcache/synthetic/…``)."""

from __future__ import annotations

import json
import os
from pathlib import Path

TINY = ["--profile", "quick", "--quiet", "--no-store", "--set", "dataset.subjects=4", "dataset.clips_per_subject=3",
        "dataset.size=32", "dataset.frames=8", "protocol.n_splits=2", "engine.epochs=1"]


def said(text: str) -> str:
    return " ".join(text.split())


def test_a_rerun_of_a_result_from_another_setup_warns_before_training_and_keeps_the_warning(run_cli, tmp_path):
    recorded = tmp_path / "a.json"
    ran = run_cli("run", "--model", "ststnet", "--dataset", "synthetic", *TINY, "--json", str(recorded))
    assert ran.code == 0, ran.err
    same = run_cli("run", "--config", str(recorded), "--quiet", "--no-store", "--json", str(tmp_path / "b.json"))
    assert same.code == 0, same.err
    assert "recorded run ran" not in said(same.err)
    assert not any("recorded run ran" in w for w in json.loads((tmp_path / "b.json").read_text())["warnings"])
    result = json.loads(recorded.read_text())
    torch_now = result["environment"]["torch"]
    result["environment"].update(torch="2.4.0+cu121", machine="Intel Xeon, 64 cores, x86_64, AVX512",
                                 device="cuda (NVIDIA H100 80GB HBM3, mixed precision bfloat16; no --device given)")
    other = tmp_path / "other.json"
    other.write_text(json.dumps(result))
    again = run_cli("run", "--config", str(other), "--quiet", "--no-store", "--json", str(tmp_path / "c.json"))
    assert again.code == 0, again.err
    warning = (f"--config {other}: the recorded run ran under other software, on another device and on another "
               "machine than this re-run: its scores may differ for that reason (recorded → now: torch 2.4.0+cu121 → "
               f"{torch_now}; device cuda (NVIDIA H100 80GB HBM3, mixed precision bfloat16; no --device given) → cpu (")
    assert f"Warning: {warning}" in said(again.err)
    assert "machine Intel Xeon, 64 cores, x86_64, AVX512 → " in said(again.err)
    assert said(again.err).index("Warning: --config") < said(again.err).index("Note: 2 folds")  # before training
    [kept] = [w for w in json.loads((tmp_path / "c.json").read_text())["warnings"] if "recorded run ran" in w]
    assert kept.startswith(warning), kept


def test_a_relative_merbench_cache_is_recorded_as_an_absolute_folder(run_cli, tmp_path, monkeypatch):
    from merbench.cache import cache_root

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MERBENCH_CACHE", "relcache")
    assert cache_root(create=False) == tmp_path / "relcache"  # every caller's path, not only the dataset loader's
    ran = run_cli("run", "--model", "ststnet", "--dataset", "synthetic", *TINY, "--json", "rel.json")
    assert ran.code == 0, ran.err
    folder = json.loads((tmp_path / "rel.json").read_text())["dataset_summary"]["folder"]
    assert os.path.isabs(folder), folder
    assert Path(folder).is_relative_to(tmp_path / "relcache"), folder
