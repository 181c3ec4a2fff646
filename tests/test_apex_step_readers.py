"""A chain whose ``apex`` step no later step reads is refused before any work: ``lbptop`` samples frames evenly
from onset to offset and never reads the apex, so ``preprocess=apex,lbptop`` ran the motion-peak search and
recorded an apex rule and per-clip apex frames that changed nothing (before: exit 0, ``preprocess.apex_frames`` in
the stored run). Plugins declare it with ``PreprocessorPlugin.sets_apex`` and ``reads_apex``."""

from __future__ import annotations

import pytest

from merbench.contracts import PreprocessorPlugin
from merbench.errors import UsageError
from merbench.preprocess import build_chain, check_chain_order
from merbench.registry import Registry, get_registry


def chain(names: str):
    registry = get_registry()
    specs = [registry.get("preprocessors", name) for name in names.split(",")]
    return build_chain(specs, {spec.name: dict(spec.options) for spec in specs})


def test_apex_before_lbptop_is_refused_naming_the_fix(run_cli, tmp_path):
    store = tmp_path / "store.db"
    result = run_cli("run", "--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "quick", "--store",
                     str(store), "--set", "preprocess=apex,lbptop", "apex.rule=motion-peak")
    assert result.code == 2, result.err
    assert ("preprocess=apex,lbptop: 'apex' chooses the apex, but no step after it reads one ('lbptop' does not), "
            "so it would change nothing; leave it out (--set preprocess=lbptop) or end the chain in a step that "
            "reads the apex (e.g. flow)") in " ".join(result.err.split())
    assert "Traceback" not in result.err and not store.exists()


def test_frame_steps_between_apex_and_lbptop_do_not_read_it_either():
    with pytest.raises(UsageError, match=r"\('magnify', 'lbptop' do not\).*--set preprocess=crop,magnify,lbptop\)"):
        chain("crop,apex,magnify,lbptop")


@pytest.mark.parametrize("names", ["apex,flow", "crop,apex,magnify,flow", "apex,apex-frame", "lbptop", "crop,lbptop"])
def test_chains_whose_apex_is_read_or_absent_still_build(names):
    assert chain(names).names == names


def step(name: str, produces: str, **fields) -> PreprocessorPlugin:
    return PreprocessorPlugin(name=name, build=dict, description="d", produces=produces, **fields)


def test_a_plugin_step_that_does_not_say_it_ignores_the_apex_is_taken_as_reading_it():
    chooser = step("peak", "frames", sets_apex=True, reads_apex=False)
    check_chain_order([chooser, step("mine", "mine-input")])
    with pytest.raises(UsageError, match="'peak' chooses the apex, but no step after it reads one \\('blind' does"):
        check_chain_order([chooser, step("blind", "mine-input", reads_apex=False)])


PLUGIN = '''
from merbench.contracts import PreprocessorPlugin
from merbench.hookspecs import hookimpl


@hookimpl
def merbench_register_preprocessors(register):
    register(PreprocessorPlugin(name="textflag", build=dict, description="d", produces="x", reads_apex="no"))
'''


def test_a_reads_apex_that_is_not_true_or_false_is_refused_when_it_registers(install_plugin):
    install_plugin("merbench-apexflag", "apexflag", "merbench_apexflag_plugin", PLUGIN)
    registry = Registry()
    assert "textflag" not in registry.names("preprocessors")
    assert ("its reads_apex is 'no' (a str), not True or False; write reads_apex=True or reads_apex=False"
            in "\n".join(registry.problems)), registry.problems
