"""A re-run of a recorded result (``run --config result.json``) whose configuration lacks an option that changes scores
(written by a merbench before the option existed) warns before training that it runs today's default, and the result
keeps the warning (before: run at today's default silently, ``"warnings": []``). An option the command gives with
``--set``, and one that only says where the folds ran (``engine.threads``, ``executor.*``), is not warned about."""

from __future__ import annotations

import json

TINY = ["--profile", "quick", "--quiet", "--no-store", "--set", "dataset.subjects=4", "dataset.clips_per_subject=3",
        "dataset.size=32", "dataset.frames=8", "protocol.n_splits=2", "engine.epochs=1"]
NOT_RECORDED = "the recorded run does not record"


def said(text: str) -> str:
    return " ".join(text.split())


def recorded_without(run_cli, tmp_path, *dropped: tuple[str, str]):
    """A tiny run's result with ``model.dropout=0.5``, and a copy whose configuration lacks the ``dropped`` options."""
    complete = tmp_path / "complete.json"
    ran = run_cli("run", "--model", "ststnet", "--dataset", "synthetic", *TINY, "--set", "model.dropout=0.5",
                  "--json", str(complete))
    assert ran.code == 0, ran.err
    result = json.loads(complete.read_text())
    for section, key in dropped:
        del result["config"]["options"][section][key]
    old = tmp_path / "old.json"
    old.write_text(json.dumps(result))
    return complete, old


def rerun(run_cli, tmp_path, config, *extra: str):
    """``run --config config`` (``extra`` added): the command's stderr and its result's warnings."""
    target = tmp_path / f"rerun-{len(list(tmp_path.glob('rerun-*.json')))}.json"
    ran = run_cli("run", "--config", str(config), "--quiet", "--no-store", "--json", str(target), *extra)
    assert ran.code == 0, ran.err
    return said(ran.err), json.loads(target.read_text())["warnings"]


def test_an_unrecorded_option_is_warned_about_before_training_and_kept(run_cli, tmp_path):
    complete, old = recorded_without(run_cli, tmp_path, ("model", "dropout"), ("engine", "threads"),
                                     ("executor", "num_cpus"))
    err, warnings = rerun(run_cli, tmp_path, old)
    warning = (f"--config {old}: the recorded run does not record model.dropout; this re-run uses today's default "
               "model.dropout=0.2, so its scores may differ from the recorded ones; give --set model.dropout=VALUE to "
               "run another value")
    assert f"Warning: {warning}" in err
    assert err.index(f"Warning: --config {old}") < err.index("Note: 2 folds")  # before training
    assert [w for w in warnings if NOT_RECORDED in w] == [warning]  # engine.threads, executor.num_cpus: not named

    err, warnings = rerun(run_cli, tmp_path, old, "--set", "model.dropout=0.5")
    assert NOT_RECORDED not in err
    assert not any(NOT_RECORDED in w for w in warnings)

    err, warnings = rerun(run_cli, tmp_path, complete)
    assert NOT_RECORDED not in err
    assert not any(NOT_RECORDED in w for w in warnings)


def test_several_unrecorded_options_are_named_in_one_warning(run_cli, tmp_path):
    _, old = recorded_without(run_cli, tmp_path, ("model", "dropout"), ("engine", "lr"))
    err, warnings = rerun(run_cli, tmp_path, old)
    warning = (f"--config {old}: the recorded run does not record engine.lr, model.dropout; this re-run uses today's "
               "defaults engine.lr=0.005, model.dropout=0.2, so its scores may differ from the recorded ones; give "
               "--set engine.lr=VALUE model.dropout=VALUE to run other values")
    assert f"Warning: {warning}" in err
    assert [w for w in warnings if NOT_RECORDED in w] == [warning]
