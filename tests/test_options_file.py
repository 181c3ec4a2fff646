"""A command's ``--config`` file is parsed once per process while its bytes stay the same (``config.options_file``):
a run's result read as ``--config`` is consulted in several places, and parsing a large one takes seconds."""

from __future__ import annotations

import pytest

import merbench.config as config
from merbench.errors import UsageError


@pytest.fixture
def parses(monkeypatch) -> list[str]:
    """The paths ``read_yaml`` parses from now on."""
    seen: list[str] = []
    read = config.read_yaml

    def counted(path, *args, **kwargs):
        seen.append(str(path))
        return read(path, *args, **kwargs)

    monkeypatch.setattr(config, "read_yaml", counted)
    monkeypatch.setattr(config, "_OPTIONS_FILES", {})
    return seen


def test_a_config_file_is_parsed_once_while_unchanged_and_each_caller_gets_its_own_copy(tmp_path, parses):
    path = tmp_path / "run.yaml"
    path.write_text("engine:\n  lr: 0.01\n  epochs: 3\n")
    first = config.options_file(path)
    first["engine"]["lr"] = 99
    assert config.options_file(path) == {"engine": {"lr": 0.01, "epochs": 3}}, "a caller's change is its own"
    assert config.load_config_file(path) == {"engine.lr": 0.01, "engine.epochs": 3}
    assert parses == [str(path)]

    path.write_text("engine:\n  lr: 0.02\n  epochs: 3\n")  # the same size, possibly the same modification time
    assert config.options_file(path) == {"engine": {"lr": 0.02, "epochs": 3}}
    assert parses == [str(path)] * 2


def test_a_file_that_cannot_be_parsed_still_says_why_every_time(tmp_path, parses):
    path = tmp_path / "bad.yaml"
    path.write_text("engine: [unclosed\n")
    for _ in range(2):
        with pytest.raises(UsageError, match=r"--config .*bad.yaml: not valid YAML"):
            config.options_file(path)
    with pytest.raises(UsageError, match="is a folder"):
        config.options_file(tmp_path)
    with pytest.raises(UsageError, match="file not found"):
        config.options_file(tmp_path / "gone.yaml")
