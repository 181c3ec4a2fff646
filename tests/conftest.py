"""Shared fixtures: an isolated cache, a fresh plugin registry, and a CLI runner; a bare ``pytest`` runs on several
workers."""

from __future__ import annotations

import json
import signal
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from merbench.cli import main
from merbench.registry import reset_registry
from merbench.testing import cache_at, store_at
import parallel_suite

pytest_cmdline_main = parallel_suite.pytest_cmdline_main
"""A bare ``pytest`` runs the suite on several pytest-xdist workers (tests/parallel_suite.py)."""


@pytest.fixture(scope="session", autouse=True)
def session_cache(tmp_path_factory) -> Path:
    """Every test shares one throw-away cache, so the synthetic data is generated once."""
    with cache_at(tmp_path_factory.mktemp("merbench-cache")) as cache:
        yield cache


@pytest.fixture(scope="session", autouse=True)
def session_store(tmp_path_factory) -> Path:
    """Every test records runs in one throw-away results store, never the user's."""
    with store_at(tmp_path_factory.mktemp("merbench-store") / "results.sqlite") as store:
        yield store


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch) -> Path:
    """An empty cache for tests that count what gets computed."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("MERBENCH_CACHE", str(cache))
    return cache


@pytest.fixture(autouse=True)
def fresh_registry():
    """Each test sees the plugins installed at that moment."""
    reset_registry()
    yield
    reset_registry()


FOREGROUND_SIGNAL_HANDLERS = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL}
"""The Ctrl-C and SIGTERM handlers Python gives a command started in the foreground of a terminal."""


@pytest.fixture(autouse=True)
def foreground_signal_handlers():
    """Each test starts and ends with the handlers of a command run in the foreground, however the suite was started:
    a shell starts a background job (``pytest &``, a CI step run as one) with Ctrl-C ignored, which Python keeps, so
    the tests that send themselves a Ctrl-C saw it ignored; and no test's handlers reach the next test."""
    for number, handler in FOREGROUND_SIGNAL_HANDLERS.items():
        signal.signal(number, handler)
    yield
    for number, handler in FOREGROUND_SIGNAL_HANDLERS.items():
        signal.signal(number, handler)


@dataclass
class CliResult:
    """Exit code and captured output of one in-process ``merbench`` call."""

    code: int
    out: str
    err: str


@pytest.fixture
def resolve_as_on_python_3_13(monkeypatch):
    """``Path.resolve`` as Python 3.13 has it: a symbolic link loop is returned as it is, not a RuntimeError."""
    real = Path.resolve

    def resolve(self, strict=False):
        try:
            return real(self, strict)
        except RuntimeError:
            return self.absolute()

    monkeypatch.setattr(Path, "resolve", resolve)


@pytest.fixture
def run_cli(capsys, monkeypatch):
    """Call ``merbench`` in-process with a wide terminal; returns a ``CliResult``."""
    monkeypatch.setenv("COLUMNS", "200")

    def invoke(*args: str) -> CliResult:
        capsys.readouterr()
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse exits on usage errors and --help
            code = exc.code if isinstance(exc.code, int) else 2
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return invoke


@pytest.fixture
def quick_run(run_cli, tmp_path):
    """Run the quick profile through the CLI and return the parsed ``--json`` result."""

    def invoke(*extra: str) -> dict:
        target = tmp_path / f"result-{len(list(tmp_path.glob('result-*.json')))}.json"
        result = run_cli("run", "--model", "convmixer", "--dataset", "synthetic", "--profile", "quick",
                         "--quiet", "--json", str(target), *extra)
        assert result.code == 0, result.err
        assert target.read_text().endswith("}\n"), "a --json file ends with a newline, as text files do"
        return json.loads(target.read_text())

    return invoke


@pytest.fixture
def install_plugin(tmp_path, monkeypatch):
    """Make a fake distribution with one ``merbench`` entry point importable."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    added_modules: list[str] = []

    def install(dist: str, entry_point: str, module: str, source: str) -> None:
        info = site / f"{dist}-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
        (info / "entry_points.txt").write_text(f"[merbench]\n{entry_point} = {module}\n")
        (site / f"{module}.py").write_text(textwrap.dedent(source))
        added_modules.append(module)

    yield install
    for module in added_modules:
        sys.modules.pop(module, None)


@pytest.fixture
def audited(run_cli, tmp_path):
    """Audit a result dict through the CLI; returns (exit code, output on one line, checks by name)."""
    import copy

    from merbench.audit import audit_result
    from merbench.result import RunResult

    def audit(result: dict):
        path = tmp_path / f"audited-{len(list(tmp_path.glob('audited-*')))}.json"
        path.write_text(json.dumps(result))
        cli = run_cli("audit", str(path))
        checks = {check.name: check for check in audit_result(RunResult.from_dict(copy.deepcopy(result)))}
        return cli.code, " ".join(cli.out.split()), checks

    return audit


@pytest.fixture
def compile_cache(monkeypatch):
    """A fresh process cache of compiled models (``merbench.compiled_models``) and dynamo state, compiling with
    ``aot_eager`` (no C compiler needed)."""
    import torch

    from merbench import compiled_models, engine

    fresh = compiled_models.CompiledModels()
    monkeypatch.setattr(compiled_models, "BACKEND", "aot_eager")
    monkeypatch.setattr(engine, "COMPILED", fresh)
    torch._dynamo.reset()
    yield fresh
    torch._dynamo.reset()
