"""A third-party protocol whose ``split()`` raises ``ValueError`` is that plugin's error, named with its
distribution and the exception (kept as the cause for ``--debug``), exit 2; before, it read as the user's protocol
settings being unable to split the dataset, without the plugin's distribution, and ``--debug`` showed no cause.
merbench's own protocols keep that wording for scikit-learn's ``ValueError``."""

from __future__ import annotations

import pytest

from protocol_sources import HALVES

PROTOCOLS = HALVES + '''

def few(labels, subjects, seed, options, domains):
    raise ValueError("too few subjects")


@hookimpl
def merbench_register_protocols(register):
    register(ProtocolPlugin(name="p-few", split=few, description="d", subject_independent=True))
'''

TINY = ["--set", "dataset.subjects=4", "dataset.clips_per_subject=4", "dataset.size=32", "dataset.frames=8"]
RUN = ("run", "--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "quick", *TINY)


@pytest.fixture
def few_protocol(install_plugin):
    install_plugin("merbench-fewprotos", "fewprotos", "merbench_fewprotos_plugin", PROTOCOLS)


def test_a_value_error_from_a_third_party_split_names_the_plugin(few_protocol, run_cli, tmp_path):
    store = tmp_path / "s.sqlite"
    result = run_cli(*RUN, "--protocol", "p-few", "--store", str(store))
    assert result.code == 2, result.out + result.err
    errors = [line for line in result.err.splitlines() if line.startswith("merbench: error:")]
    assert len(errors) == 1 and "Traceback" not in result.err, result.err
    assert errors[0] == ("merbench: error: protocol plugin 'p-few' (merbench-fewprotos 0.1): its split() raised "
                         "ValueError: too few subjects; check the protocol.* settings given, or report it to the "
                         "plugin's author"), errors[0]
    assert not store.exists()  # refused before a run was recorded


def test_debug_shows_where_the_third_party_split_raised(few_protocol, run_cli):
    result = run_cli(*RUN, "--protocol", "p-few", "--no-store", "--debug")
    assert result.code == 2, result.out + result.err
    assert "The above exception was the direct cause" in result.err, result.err
    assert 'raise ValueError("too few subjects")' in result.err, result.err


def test_a_value_error_from_a_builtin_protocol_stays_a_usage_error(run_cli, monkeypatch):
    """scikit-learn's splitter refusing a split in merbench's own ``loso`` still blames the settings."""
    import sklearn.model_selection

    class Refusing:
        def split(self, X, y=None, groups=None):
            raise ValueError("The groups parameter should not be None.")

    monkeypatch.setattr(sklearn.model_selection, "LeaveOneGroupOut", Refusing)
    result = run_cli(*RUN, "--protocol", "loso", "--no-store")
    assert result.code == 2, result.out + result.err
    assert ("merbench: error: protocol 'loso' cannot split dataset 'synthetic' (16 samples, 4 subjects): The groups "
            "parameter should not be None.; change the protocol.* settings or the protocol") in result.err, result.err
