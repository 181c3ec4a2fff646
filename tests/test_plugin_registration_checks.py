"""What a plugin registers is checked when it registers, and every command that shows plugins says so.

A: an option's default is checked against its own ``option_ranges`` rule of every kind (choices, a list's
elements), with the checker ``--set`` uses. B: a model whose declared input no preprocessor produces makes its
plugin's row not ``ok`` in ``merbench plugins`` (exit 2 when strict), and ``merbench info`` names the problem.
C: ``MERBENCH_DISABLE_PLUGINS`` takes ``DIST:NAME`` for one distribution's entry point, and says when a plain name
matches the entry points of several distributions.
"""

from __future__ import annotations

import pytest

from merbench.config import coerce
from merbench.errors import UsageError
from merbench.registry import Registry, reset_registry
from piped_rows import piped_row

PLUGIN = '''
from merbench.contracts import ModelPlugin
from merbench.hookspecs import hookimpl


def build(options, in_channels, n_classes, input_size):
    import torch
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(in_channels * input_size * input_size, n_classes))


def model(name, input="flow-uvs", **fields):
    return ModelPlugin(name=name, build=build, description="a throw-away test model", input=input, **fields)


@hookimpl
def merbench_register_models(register):
{registrations}
'''


def _plugin(*registrations: str) -> str:
    return PLUGIN.format(registrations="\n".join(f"    register({line})" for line in registrations))


def _problem(registry: Registry, *parts: str) -> str:
    found = [problem for problem in registry.problems if all(part in problem for part in parts)]
    assert len(found) == 1, f"one problem with {parts} expected in {registry.problems}"
    return found[0]


# ------------------------------------------------------------------------------ A: defaults against their rules

DEFAULTS = _plugin(
    'model("badopt-text", options={"attn": "cbam"}, option_ranges={"attn": ("se", "none")})',
    'model("badopt-list", options={"widths": [8, 0]}, option_ranges={"widths": ">= 1"})',
    'model("badopt-choices", options={"channels": ["u", "w"]}, option_ranges={"channels": ("u", "v", "s")})',
    'model("good-defaults", options={"attn": "SE", "widths": [8, 1], "channels": ["u", "v"], "mode": "", '
    '"depth": None, "weights": "not-there.pt"}, option_ranges={"attn": ("se", "none"), "widths": ">= 1", '
    '"channels": ("u", "v", "s"), "mode": ("a", "b"), "depth": ">= 1", "weights": "file"})',
)


def test_a_text_or_list_default_outside_its_own_rule_refuses_the_model_when_it_registers(install_plugin):
    install_plugin("merbench-badopt", "badopt", "merbench_badopt_plugin", DEFAULTS)
    registry = Registry()
    assert _problem(registry, "'badopt-text'") == (
        "model 'badopt-text' from plugin 'badopt' (merbench-badopt 0.1) refused: its default attn=cbam: choose one "
        "of se, none (default cbam), as its own option_ranges declare; change the default or the range")
    assert _problem(registry, "'badopt-list'").endswith(
        "refused: its default widths=8,0: every value must be an integer ≥ 1 (default 8,0), as its own option_ranges "
        "declare; change the default or the range")
    assert "refused: its default channels=w: choose one of u, v, s" in _problem(registry, "'badopt-choices'")
    assert not {"badopt-text", "badopt-list", "badopt-choices"} & set(registry.names("models"))
    assert "good-defaults" in registry.names("models"), \
        "defaults the rule accepts (any case), None and '' (unset) and a file rule's path are not refused"
    record = next(r for r in registry.records if r.provider.entry_point == "badopt")
    assert len(record.errors) == 3


def test_the_default_is_refused_with_the_words_set_uses_for_the_same_value():
    with pytest.raises(UsageError) as refused:
        coerce("attn", "cbam", "cbam", ("se", "none"))  # what --set model.attn=cbam is checked with
    assert str(refused.value) == "attn=cbam: choose one of se, none (default cbam)"


def test_a_model_refused_for_its_default_is_explained_by_plugins_and_run(install_plugin, run_cli, monkeypatch):
    install_plugin("merbench-badopt", "badopt", "merbench_badopt_plugin", DEFAULTS)
    shown = run_cli("plugins")
    assert shown.code == 0 and "error" in piped_row(shown.out, "badopt").split()
    assert "error: model 'badopt-text' from plugin 'badopt' (merbench-badopt 0.1) refused: its default attn=cbam" \
        in " ".join(shown.out.split())

    run = run_cli("run", "--model", "badopt-text", "--dataset", "synthetic", "--profile", "quick", "--no-store")
    assert run.code == 2
    assert "merbench: error: model 'badopt-text' was refused when plugin 'badopt' (merbench-badopt 0.1) registered " \
           "it: its default attn=cbam: choose one of se, none" in " ".join(run.err.split())

    monkeypatch.setenv("MERBENCH_STRICT_PLUGINS", "1")
    strict = run_cli("plugins")
    assert strict.code == 2 and "3 plugin problems (MERBENCH_STRICT_PLUGINS is set)" in strict.err


def test_a_default_of_a_kind_no_option_holds_refuses_the_model_when_it_registers(install_plugin, run_cli):
    """A ``Path`` default ran, then broke ``run --json`` after the run was stored (and ``info --json``) with a
    traceback: a run's record holds options as JSON."""
    install_plugin("merbench-pathy", "pathy", "merbench_pathy_plugin", "from pathlib import Path\n" + _plugin(
        'model("pathy", options={"vocab": Path("/tmp/vocab.txt"), "scale": 1.0})',
        'model("setty", options={"names": {"a", "b"}})',
        'model("profiled", options={"vocab": ""}, profiles={"quick": {"vocab": Path("v.txt")}})',
        'model("wishful", preprocess_options={"flow": {"method": Path("farneback")}})',
        'model("numpyish", options={"width": __import__("numpy").int64(16)}, option_ranges={"width": ">= 1"})'))
    registry = Registry()
    assert _problem(registry, "model 'pathy'").endswith(
        "refused: its option 'vocab' defaults to PosixPath('/tmp/vocab.txt'), a PosixPath; an option's value is a "
        "number, text, true or false, none, or a list of them (what --set gives and a run's record holds): write it "
        "as '/tmp/vocab.txt'")
    assert "its option 'names' defaults to" in _problem(registry, "model 'setty'")
    assert _problem(registry, "model 'profiled'").endswith(
        "its profile 'quick' sets vocab=PosixPath('v.txt'), a PosixPath; an option's value is a number, text, true or "
        "false, none, or a list of them: write it as 'v.txt'")
    # a model's wishes for its preprocessor go into the run's record too (before: `run --json` ended in a traceback)
    assert "its preprocess_options['flow']['method'] is PosixPath('farneback')" in _problem(registry, "model 'wishful'")
    assert _problem(registry, "model 'numpyish'").endswith("write it as 16"), "advice that registers, not '16'"
    assert not {"pathy", "setty", "profiled", "wishful", "numpyish"} & set(registry.names("models"))
    reset_registry()
    run = run_cli("run", "--model", "pathy", "--dataset", "synthetic", "--profile", "quick", "--no-store")
    assert run.code == 2 and "its option 'vocab' defaults to PosixPath" in " ".join(run.err.split()), run.err


# ------------------------------------------------------------------------------ B: a model's input

TYPO_INPUT = _plugin('model("typo-input", input="flow-uvw", options={"width": 1})',
                     'model("fine-input", options={"width": 1})')
INPUT_PROBLEM = ("model 'typo-input' declares input 'flow-uvw', which no registered preprocessor produces (they "
                 "produce ")


def test_a_model_whose_input_nothing_produces_is_its_plugins_problem(install_plugin):
    from merbench.testing import conformance_names

    install_plugin("merbench-typo", "typo", "merbench_typo_plugin", TYPO_INPUT)
    registry = Registry()
    record = next(r for r in registry.records if r.provider.entry_point == "typo")
    assert record.errors == [] and not record.ok
    assert len(record.problems) == 1 and record.problems[0].startswith(INPUT_PROBLEM)
    assert record.problems[0].endswith("(from plugin 'typo' (merbench-typo 0.1))")
    assert record.problems == [_problem(registry, "'typo-input'")]
    assert {"typo-input", "fine-input"} <= set(registry.names("models")), "the plugin loaded"
    # Its models are still named for the conformance suite, whose check_input fails typo-input with the reason.
    assert conformance_names(registry, distribution="merbench-typo") == ["fine-input", "typo-input"]


def test_plugins_shows_a_model_whose_input_nothing_produces_and_strict_mode_exits_2(install_plugin, run_cli,
                                                                                   monkeypatch):
    install_plugin("merbench-typo", "typo", "merbench_typo_plugin", TYPO_INPUT)
    shown = run_cli("plugins")
    assert shown.code == 0
    row = piped_row(shown.out, "typo")
    assert "error" in row.split() and "ok" not in row.split(), row
    assert "error: " + INPUT_PROBLEM in " ".join(shown.out.split())

    monkeypatch.setenv("MERBENCH_STRICT_PLUGINS", "1")
    for flags in ([], ["--json"]):
        strict = run_cli("plugins", *flags)
        assert strict.code == 2, strict.out
        assert "merbench: error: 1 plugin problem (MERBENCH_STRICT_PLUGINS is set)" in strict.err
    assert '"problems": [' in strict.out and "typo-input" in strict.out


def test_info_names_the_problem_of_a_model_whose_input_nothing_produces(install_plugin, run_cli):
    install_plugin("merbench-typo", "typo", "merbench_typo_plugin", TYPO_INPUT)
    shown = run_cli("info", "typo-input")
    assert shown.code == 0, shown.err
    assert "plugin problem: " + INPUT_PROBLEM in " ".join(shown.err.split())
    said = " ".join(shown.out.split())
    assert "merbench run --model typo-input" not in said, "a run that fails is not recommended"
    assert "nothing on record for typo-input, and it cannot run until its input is fixed" in said


# ------------------------------------------------------------------------------ C: MERBENCH_DISABLE_PLUGINS

EPCLASH = _plugin('model("epmodel", options={"width": 1})')


def _disabled(monkeypatch, value: str) -> Registry:
    monkeypatch.setenv("MERBENCH_DISABLE_PLUGINS", value)
    reset_registry()
    return Registry()


def test_dist_colon_name_disables_one_distributions_entry_point(install_plugin, monkeypatch):
    install_plugin("merbench-epclash", "models", "merbench_epclash_plugin", EPCLASH)
    for value in ("merbench-epclash:models", "Merbench_Epclash:models"):
        registry = _disabled(monkeypatch, value)
        assert "epmodel" not in registry.names("models") and "ststnet" in registry.names("models"), value
        assert registry.problems == [] and registry.disabled_shared == []
    registry = _disabled(monkeypatch, "merbench:models")
    assert "epmodel" in registry.names("models") and "ststnet" not in registry.names("models")
    assert registry.problems == []
    registry = _disabled(monkeypatch, "merbench-nope:models")
    assert registry.disabled_unknown == ["merbench-nope:models"]
    assert {"epmodel", "ststnet"} <= set(registry.names("models"))


def test_a_plain_name_of_entry_points_of_two_distributions_is_said(install_plugin, run_cli, monkeypatch):
    install_plugin("merbench-epclash", "models", "merbench_epclash_plugin", EPCLASH)
    registry = _disabled(monkeypatch, "models")
    assert not {"epmodel", "ststnet"} & set(registry.names("models"))
    note = ("MERBENCH_DISABLE_PLUGINS names 'models', the entry point of 2 distributions ('merbench 0.1.0' and "
            "'merbench-epclash 0.1'), so all of them are skipped; to skip one, write DIST:NAME, e.g. "
            "merbench-epclash:models")
    assert registry.disabled_shared == [note] and note in registry.problems

    shown = run_cli("plugins")
    assert shown.code == 0 and note in " ".join(shown.out.split())
    listed = run_cli("list", "models")
    assert listed.code == 0 and "plugin problem: " + note in " ".join(listed.err.split())
