"""benchmarks/convmixer_study.py: development data only, resumable atomic storage, the selection rule, the table."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from merbench.errors import UsageError

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "convmixer_study.py"
DATA = {"generator_version": "test", "subjects": 16}


@pytest.fixture(scope="module")
def study():
    spec = importlib.util.spec_from_file_location("convmixer_study", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


class FakeRunner:
    """Scores from a table of configuration name -> UF1 per seed; counts calls; can fail after N runs."""

    def __init__(self, study, scores=None, fail_after=None):
        self.study, self.scores, self.fail_after, self.calls = study, scores or {}, fail_after, []

    def __call__(self, sets, seed, settings):
        if self.fail_after is not None and len(self.calls) >= self.fail_after:
            raise KeyboardInterrupt
        self.calls.append((self.study.config_name(sets), seed, dict(settings.common_sets())))
        uf1 = self.scores.get(self.study.config_name(sets), (0.70, 0.70))[seed]
        return {"pooled": {"uf1": uf1, "uar": uf1 + 0.01, "accuracy": uf1 + 0.02},
                "seconds": {"total": 10.0 + seed}, "n_samples": 192, "n_subjects": 16, "folds": [{}] * 5,
                "environment": {"git_commit": "abc"}}


def test_every_run_uses_the_development_data_never_the_evaluation_data(study, tmp_path):
    runner = FakeRunner(study)
    study.run_study(tmp_path / "s.json", ["attention"], study.Settings(), runner=runner, data=DATA, say=lambda _: None)
    assert runner.calls and all(sets["dataset.seed"] == 1 and sets["protocol.n_splits"] == 5
                                for _, _, sets in runner.calls)
    with pytest.raises(UsageError, match="evaluation data"):
        study.run_study(tmp_path / "t.json", ["attention"], study.Settings(dev_seed=0), runner=runner, data=DATA)
    with pytest.raises(UsageError, match="--dev-seed"):
        study.run_study(tmp_path / "t.json", ["attention"], study.Settings(extra=(("dataset.seed", "0"),)),
                        runner=runner, data=DATA)
    with pytest.raises(UsageError, match="two different training seeds"):
        study.run_study(tmp_path / "t.json", ["attention"], study.Settings(seeds=(0, 0)), runner=runner, data=DATA)
    assert not (tmp_path / "t.json").exists()


def test_levels_are_changes_against_the_reference(study):
    defaults = study.resolved_defaults(study.Settings())
    configs = study.factor_configs(list(study.FACTORS), defaults)
    for factor, levels in configs.items():
        assert levels.count({}) <= 1, f"{factor}: the reference is at most one level"
        assert len({json.dumps(s, sort_keys=True) for s in levels}) == len(study.FACTORS[factor])
        for level, sets in zip(study.FACTORS[factor], levels):
            assert all(defaults[key] != value for key, value in sets.items())  # only what differs
            assert {**{k: defaults[k] for k in level}, **sets} == level  # the level is the reference plus them
    old = {"model.attention": "cbam", "model.attention_every": 1, "flow.channels": ["u", "v", "strain"]}
    assert study.changes({"model.attention": "cbam", "model.attention_every": 2}, old) == {"model.attention_every": 2}
    assert study.changes({"flow.channels": ["u", "v"]}, old) == {"flow.channels": ["u", "v"]}
    assert study.config_name({"flow.channels": ["u", "v"], "model.patch": 1}) == "flow.channels=u,v model.patch=1"


def test_a_study_keeps_its_reference_and_passes_it_to_every_run(study, tmp_path):
    path = tmp_path / "pinned.json"
    pinned = {**study.resolved_defaults(study.Settings()), "model.kernel": 5, "model.attention": "cbam"}
    path.write_text(json.dumps({"format": study.FORMAT, "runs": [], "defaults": pinned}))
    runner = FakeRunner(study)
    seen = []
    runner_with_settings = lambda sets, seed, settings: (seen.append(dict(settings.reference)), runner(sets, seed, settings))[1]
    study.run_study(path, ["kernel"], study.Settings(), runner=runner_with_settings, data=DATA, say=lambda _: None)
    assert {name for name, _, _ in runner.calls} == {"reference", "model.kernel=3", "model.kernel=9"}
    assert all(reference["model.kernel"] == 5 and reference["model.attention"] == "cbam" for reference in seen)
    assert json.loads(path.read_text())["defaults"]["model.kernel"] == 5


def test_runs_are_stored_after_each_run_and_resumed(study, tmp_path):
    path = tmp_path / "studies" / "convmixer.json"
    settings = study.Settings()
    interrupted = FakeRunner(study, fail_after=3)
    with pytest.raises(KeyboardInterrupt):
        study.run_study(path, ["kernel"], settings, runner=interrupted, data=DATA, say=lambda _: None)
    stored = json.loads(path.read_text())
    assert len(stored["runs"]) == 3 and not list(path.parent.glob("*.tmp*"))
    resumed = FakeRunner(study)
    study.run_study(path, ["kernel"], settings, runner=resumed, data=DATA, say=lambda _: None)
    assert len(resumed.calls) == 3  # 3 levels x 2 seeds, 3 done before
    again = FakeRunner(study)
    study.run_study(path, ["kernel"], settings, runner=again, data=DATA, say=lambda _: None)
    assert again.calls == []
    other_data = FakeRunner(study)
    study.run_study(path, ["kernel"], settings, runner=other_data, data={**DATA, "generator_version": "next"},
                    say=lambda _: None)
    assert len(other_data.calls) == 6  # new data: nothing reused
    other_splits = FakeRunner(study)
    study.run_study(path, ["kernel"], study.Settings(splits=10), runner=other_splits, data=DATA, say=lambda _: None)
    assert len(other_splits.calls) == 6
    run = json.loads(path.read_text())["runs"][0]
    assert {"uf1", "uar", "accuracy", "seconds", "seed", "sets", "config", "data"} <= set(run)


def test_a_damaged_study_file_is_one_clear_error(study, tmp_path):
    path = tmp_path / "convmixer.json"
    path.write_text("{not json")
    with pytest.raises(UsageError, match="not a readable study file"):
        study.run_study(path, ["kernel"], study.Settings(), runner=FakeRunner(study), data=DATA)
    path.write_text('{"runs": []}')
    with pytest.raises(UsageError, match="not a convmixer-study-1 file"):
        study.run_study(path, ["kernel"], study.Settings(), runner=FakeRunner(study), data=DATA)


def _pin(study, path):
    """A new study file whose reference is fixed (kernel 5, CBAM after every block), whatever the plugin's default."""
    reference = {**study.resolved_defaults(study.Settings()), "model.kernel": 5, "model.attention": "cbam",
                 "model.attention_every": 1}
    path.write_text(json.dumps({"format": study.FORMAT, "runs": [], "defaults": reference}))


def _selection(study, path, factors, scores):
    _pin(study, path)
    runner = FakeRunner(study, scores)
    study.run_study(path, factors, study.Settings(), runner=runner, data=DATA, say=lambda _: None)
    return json.loads(path.read_text())["selection"], runner


def test_selection_changes_the_default_only_beyond_the_seed_noise(study, tmp_path):
    scores = {"reference": (0.70, 0.72), "model.kernel=3": (0.69, 0.71), "model.kernel=9": (0.72, 0.74)}
    selection, _ = _selection(study, tmp_path / "a.json", ["kernel"], scores)
    assert selection["noise_uf1"] == pytest.approx(0.0141, abs=1e-4)  # every configuration's seeds differ by 0.02
    assert selection["chosen"] == {"model.kernel": 9}  # +2 points > the noise
    scores["model.kernel=9"] = (0.71, 0.73)
    selection, _ = _selection(study, tmp_path / "b.json", ["kernel"], scores)
    assert selection["chosen"] == {} and selection["candidates"] == {}  # +1 point is within the noise


def test_the_no_attention_ablation_is_measured_but_never_chosen(study, tmp_path):
    scores = {"reference": (0.60, 0.62), "model.attention=none": (0.80, 0.82), "model.attention=spatial": (0.64, 0.66),
              "model.attention_every=2": (0.60, 0.62), "model.attention=channel": (0.60, 0.62)}
    selection, runner = _selection(study, tmp_path / "n.json", ["attention"], scores)
    assert ("model.attention=none", 1) in [(name, seed) for name, seed, _ in runner.calls]
    assert selection["chosen"] == {"model.attention": "spatial"}
    assert study.eligible({"model.attention": "channel"}) and not study.eligible({"model.attention": "none"})


def test_engine_settings_are_measured_but_never_chosen(study, tmp_path):
    scores = {"reference": (0.60, 0.62), "engine.lr=0.004": (0.80, 0.82), "engine.lr=0.001": (0.60, 0.62)}
    selection, runner = _selection(study, tmp_path / "lr.json", ["lr"], scores)
    assert ("engine.lr=0.004", 0) in [(name, seed) for name, seed, _ in runner.calls]
    assert selection["chosen"] == {} and selection["candidates"] == {}


def test_several_candidates_are_confirmed_together_on_dev(study, tmp_path):
    scores = {"reference": (0.70, 0.72), "model.kernel=9": (0.73, 0.75), "model.dim=96": (0.74, 0.76),
              "model.dim=96 model.kernel=9": (0.69, 0.71)}
    selection, runner = _selection(study, tmp_path / "c.json", ["kernel", "dim"], scores)
    assert ("model.dim=96 model.kernel=9", 0) in [(name, seed) for name, seed, _ in runner.calls]
    assert selection["candidates"] == {"kernel": {"model.kernel": 9}, "dim": {"model.dim": 96}}
    assert selection["chosen"] == {"model.dim": 96}  # the combination did worse than the best single change
    scores["model.dim=96 model.kernel=9"] = (0.77, 0.79)
    selection, _ = _selection(study, tmp_path / "d.json", ["kernel", "dim"], scores)
    assert selection["chosen"] == {"model.dim": 96, "model.kernel": 9}


def test_table_shows_every_configuration_whole_at_80_columns(study, tmp_path):
    import io

    from rich.console import Console

    from merbench.tables import print_table

    scores = {"reference": (0.70, 0.72), "model.attention=spatial": (0.651, 0.702)}
    _pin(study, tmp_path / "e.json")
    stored, per_factor = study.run_study(tmp_path / "e.json", ["attention"], study.Settings(),
                                         runner=FakeRunner(study, scores), data=DATA, say=lambda _: None)
    table = study.study_table(per_factor, study.Settings(), stored["selection"])
    buffer = io.StringIO()
    print_table(Console(file=buffer, width=80, force_terminal=True, color_system=None), table)
    text = buffer.getvalue()
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= 80
    flat = " ".join(text.split())
    assert "model.attention=spatial" in flat and "65.1 70.2" in flat and "67.7" in flat
    assert "model.attention=none" in flat and "Chosen: reference" in flat
    markdown = study.markdown_table(per_factor, study.Settings())
    reference = json.loads((tmp_path / "e.json").read_text())["defaults"]
    pinned = study.Settings(reference=tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in reference.items()))
    params, flops = study.model_cost({"model.attention": "spatial"}, pinned)
    row = (f"| attention | `model.attention=spatial` | 65.1 / 70.2 | 67.7 | 68.7 | 69.7 | {params / 1e3:.1f}k | "
           f"{flops / 1e6:.1f} | 10 |")
    assert row in markdown


def test_model_cost_follows_the_configuration(study):
    settings = study.Settings()
    params, flops = study.model_cost({}, settings)
    assert study.model_cost({"model.attention": "none"}, settings)[0] < params
    assert study.model_cost({"flow.size": 24}, settings)[1] < flops  # fewer tokens
    assert study.model_cost({"model.patch": 1}, settings)[1] > 3 * flops  # four times the tokens


def test_cli_runner_runs_merbench_and_returns_its_result(study):
    settings = study.Settings(profile="quick", splits=2, extra=(("dataset.subjects", "4"), ("engine.epochs", "1")))
    result = study.cli_runner({"model.attention": "channel"}, 0, settings)
    assert result["config"]["options"]["model"]["attention"] == "channel"
    assert result["config"]["options"]["dataset"]["seed"] == 1 and len(result["folds"]) == 2
    with pytest.raises(UsageError, match="model.attention=se"):  # merbench's refusal, exit 2 as the study's own
        study.cli_runner({"model.attention": "se"}, 0, settings)


def test_post_hoc_configs_add_the_apex_frame_to_the_chosen_flow(study):
    defaults = {"flow.channels": ["u", "v", "strain"], "flow.size": 32, "model.kernel": 5}
    chosen = {"flow.channels": ["u", "v"], "model.kernel": 9}
    assert study.post_hoc_configs(chosen, defaults) == [{"flow.channels": ["u", "v", "apex"], "model.kernel": 9}]
    assert study.post_hoc_configs({}, defaults) == [{"flow.channels": ["u", "v", "strain", "apex"]}]
    assert study.post_hoc_configs({"flow.channels": ["u", "v", "strain", "apex"]}, defaults) == []


def test_post_hoc_rows_run_only_when_asked_and_never_change_the_selection(study, tmp_path):
    # The post-hoc row scores far above everything, with a wide seed spread: were it eligible or in the
    # seed noise, the chosen configuration or the noise would change.
    scores = {"reference": (0.70, 0.72), "model.kernel=3": (0.69, 0.71), "model.kernel=9": (0.72, 0.74),
              "flow.channels=u,v,strain,apex model.kernel=9": (0.80, 0.99)}
    path = tmp_path / "p.json"
    reference = {**study.resolved_defaults(study.Settings()), "model.kernel": 5, "flow.channels": ["u", "v", "strain"]}
    path.write_text(json.dumps({"format": study.FORMAT, "runs": [], "defaults": reference}))
    runner = FakeRunner(study, scores)
    before = study.run_study(path, ["kernel"], study.Settings(), runner=runner, data=DATA, say=lambda _: None)[0][
        "selection"]
    assert before["chosen"] == {"model.kernel": 9}
    assert all("apex" not in name for name, _, _ in runner.calls)  # not without --post-hoc
    asked = FakeRunner(study, scores)
    stored, per_factor = study.run_study(path, ["kernel"], study.Settings(), runner=asked, data=DATA,
                                         say=lambda _: None, post_hoc=True)
    assert [(name, seed) for name, seed, _ in asked.calls] == [
        ("flow.channels=u,v,strain,apex model.kernel=9", 0), ("flow.channels=u,v,strain,apex model.kernel=9", 1)]
    assert stored["selection"] == before
    assert [s.uf1 for s in per_factor["post-hoc"]] == [(0.80, 0.99)]
    _, shown = study.run_study(path, ["kernel"], study.Settings(), runner=FakeRunner(study), data=DATA,
                               table_only=True)
    assert "| post-hoc | `flow.channels=u,v,strain,apex model.kernel=9` | 80.0 / 99.0 |" in study.markdown_table(
        shown, study.Settings())


def test_the_committed_study_prints_the_table_docs_show(study):
    """`convmixer_study.py --table --markdown` on the committed results: every row of docs/models.md's table,
    from runs that match today's development data (a new key in the data's summary once hid them all)."""
    root = SCRIPT.parent.parent
    stored, per_factor = study.run_study(root / "benchmarks" / "studies" / "convmixer.json", list(study.FACTORS),
                                         study.Settings(), table_only=True, say=lambda _: None)
    rows = [line for line in study.markdown_table(per_factor, study.Settings()).splitlines()
            if line.startswith("| ") and "`" in line]
    docs = (root / "docs" / "models.md").read_text(encoding="utf-8")
    assert len(rows) >= 20
    assert all(row in docs for row in rows), [row for row in rows if row not in docs]


def test_a_table_of_runs_made_on_other_data_is_an_error_naming_the_difference(study, tmp_path):
    _pin(study, tmp_path / "e.json")
    study.run_study(tmp_path / "e.json", ["attention"], study.Settings(), runner=FakeRunner(study), data=DATA,
                    say=lambda _: None)
    with pytest.raises(UsageError, match=r"none of its \d+ stored runs .*subjects: 16 -> 8"):
        study.run_study(tmp_path / "e.json", ["attention"], study.Settings(), data={**DATA, "subjects": 8},
                        table_only=True)


def test_the_data_difference_names_a_key_recorded_on_one_side_only(study):
    assert study.data_difference({"subjects": 16, "annotation": None}, {"subjects": 16}) == \
        "annotation: None -> (not recorded)"


def test_a_table_of_other_settings_or_seeds_is_an_error_naming_the_difference(study, tmp_path):
    """--table with another --splits/--set or other --seeds than the stored runs once printed an empty table."""
    _pin(study, tmp_path / "o.json")
    study.run_study(tmp_path / "o.json", ["attention"], study.Settings(), runner=FakeRunner(study), data=DATA,
                    say=lambda _: None)
    with pytest.raises(UsageError, match=r"none of its \d+ stored runs on this data .*\(--splits: 5 -> 3\)"):
        study.run_study(tmp_path / "o.json", ["attention"], study.Settings(splits=3), data=DATA, table_only=True)
    with pytest.raises(UsageError, match=r"--profile: default -> quick"):
        study.run_study(tmp_path / "o.json", ["attention"], study.Settings(profile="quick"), data=DATA,
                        table_only=True)
    with pytest.raises(UsageError, match=r"no stored run has training seed 5 \(stored: 0, 1\); pass --seeds 0,1"):
        study.run_study(tmp_path / "o.json", ["attention"], study.Settings(seeds=(0, 5)), data=DATA,
                        table_only=True)
    with pytest.raises(UsageError, match="no stored runs yet"):
        study.run_study(tmp_path / "none.json", ["attention"], study.Settings(), data=DATA, table_only=True)
    _, per_factor = study.run_study(tmp_path / "o.json", ["attention"], study.Settings(), data=DATA, table_only=True)
    assert per_factor["attention"]


def test_rows_stored_for_fewer_seeds_than_asked_are_named(study, tmp_path):
    """An interrupted study: a configuration with one of its two seeds stored prints as a one-seed row."""
    _pin(study, tmp_path / "p.json")
    with pytest.raises(KeyboardInterrupt):  # stopped after three runs: the second configuration has one seed
        study.run_study(tmp_path / "p.json", ["attention"], study.Settings(), runner=FakeRunner(study, fail_after=3),
                        data=DATA, say=lambda _: None)
    _, per_factor = study.run_study(tmp_path / "p.json", ["attention"], study.Settings(), data=DATA, table_only=True)
    partial = study.partial_rows(per_factor, study.Settings())
    shown = {study.config_name(s.sets): len(s.uf1) for rows in per_factor.values() for s in rows}
    assert partial and partial == [name for name, seeds in shown.items() if seeds < 2]
