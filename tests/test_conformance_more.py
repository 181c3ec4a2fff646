"""More of the plugin author's side: conformance checks that used to pass or mislabel broken models, plugin
names, the example package, ``info``/``list`` wording for third-party models, and the dataset and preprocessor
examples of CONTRIBUTING.md (run as written)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from merbench.contracts import ModelPlugin, ReportedScore
from merbench.errors import PluginError
from merbench.registry import Registry
from merbench.testing import check_metadata, check_model

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "merbench-plugin-example"


def _install(site: Path, dist: str, entry_points: dict[str, str], modules: dict[str, str]) -> None:
    """A fake distribution ``dist`` in ``site`` with ``[merbench]`` entry points and module sources."""
    info = site / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[merbench]\n" + "".join(f"{k} = {v}\n" for k, v in entry_points.items()))
    for module, source in modules.items():
        (site / f"{module}.py").write_text(textwrap.dedent(source))


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A folder on ``sys.path`` for fake distributions; the modules they add are forgotten afterwards."""
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    yield folder
    for name in list(sys.modules):
        if name.split(".")[0] in FAKE_MODULES:
            sys.modules.pop(name, None)


FAKE_MODULES = {"merbench_broken_more", "merbench_names", "merbench_plugin_example", "merbench_mycorpus",
                "merbench_motion", "merbench_motion_model"}
"""The modules the fake distributions of these tests add (forgotten after each test)."""


# ------------------------------------------------------------------ A. the model conformance suite

BROKEN = '''
import numpy as np
import torch
from merbench.contracts import ModelPlugin
from merbench.hookspecs import hookimpl


class Net(torch.nn.Module):
    def __init__(self, in_channels, n_classes, kind=""):
        super().__init__()
        self.kind = kind
        self.head = torch.nn.Linear(in_channels, n_classes)

    def forward(self, x):
        features = x.mean(dim=(2, 3))
        if self.kind == "batch-stats":  # standardises with the statistics of the (test) batch, also in eval mode
            features = features - features.mean(0, keepdim=True)
        out = self.head(features)
        if self.kind == "numpy":
            return out.detach().numpy()
        if self.kind == "nan":
            return out * float("nan")
        return out


def fine(options, in_channels, n_classes, input_size):
    return Net(in_channels, n_classes)


def numpy_out(options, in_channels, n_classes, input_size):
    return Net(in_channels, n_classes, "numpy")


def batch_stats(options, in_channels, n_classes, input_size):
    return Net(in_channels, n_classes, "batch-stats")


def nan_out(options, in_channels, n_classes, input_size):
    return Net(in_channels, n_classes, "nan")


def self_seeded(options, in_channels, n_classes, input_size):
    torch.manual_seed(1234)  # ignores the run's seed
    return Net(in_channels, n_classes)


def own_generator(options, in_channels, n_classes, input_size):
    net = Net(in_channels, n_classes)
    generator = torch.Generator().manual_seed(7)  # a seed of its own: every run starts from the same weights
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator))
    return net


KW = dict(input="flow-uvs", profiles={"quick": {}, "default": {}, "paper": {}}, citation="original work")


@hookimpl
def merbench_register_models(register):
    for name, build in (("fine", fine), ("numpy-out", numpy_out), ("batch-stats", batch_stats), ("nan-out", nan_out),
                        ("self-seeded", self_seeded), ("own-generator", own_generator)):
        register(ModelPlugin(name=name, build=build, description=f"test model {name}", **KW))
'''


@pytest.fixture
def broken(site):
    _install(site, "merbench-broken-more", {"broken": "merbench_broken_more"}, {"merbench_broken_more": BROKEN})
    return Registry()


def _findings(registry, name):
    return {f.check: f for f in check_model(name, registry, profiles=("quick",), run=False)}


def _failed(findings):
    return sorted(check for check, f in findings.items() if not f.passed)


def test_a_forward_returning_numpy_fails_the_output_shape_check(broken):
    findings = _findings(broken, "numpy-out")
    assert _failed(findings) == ["[quick] output shape"]
    assert findings["[quick] output shape"].detail.startswith(
        "forward returned a numpy.ndarray; return a torch.Tensor of shape (4, 3)")


def test_eval_outputs_that_depend_on_the_batch_are_caught(broken):
    findings = _findings(broken, "batch-stats")
    assert _failed(findings) == ["[quick] batch independence"]
    detail = findings["[quick] batch independence"].detail
    assert "as one batch and one by one agreed: False" in detail
    assert "no statistics of the test batch in eval mode" in detail


@pytest.mark.parametrize("variant, said", [
    ("self-seeded", "build() reseeds torch's generator (torch.manual_seed)"),
    ("own-generator", "seeds 0 and 1 gave the same initial weights and outputs"),
], ids=["build-seeds-torch", "weights-ignore-the-seed"])
def test_a_model_that_ignores_the_runs_seed_is_caught(broken, variant, said):
    findings = _findings(broken, variant)
    assert _failed(findings) == ["[quick] seed"]
    assert said in findings["[quick] seed"].detail


def test_a_nan_model_gets_only_the_nan_finding(broken):
    findings = _findings(broken, "nan-out")
    assert _failed(findings) == ["[quick] forward/backward"]
    assert "loss nan" in findings["[quick] forward/backward"].detail


def test_a_good_model_passes_every_check_and_passed_findings_give_no_advice(broken):
    findings = _findings(broken, "fine")
    for finding in findings.values():
        assert not re.search(r"must|Draw all|[Dd]eclare it|give percent", finding.detail), finding
    assert _failed(findings) == []
    assert {"[quick] output shape", "[quick] class count", "[quick] determinism", "[quick] batch independence",
            "[quick] seed"} <= set(findings)


def _spec(**fields) -> ModelPlugin:
    base = dict(name="m", build="x:y", description="a model", input="flow-uvs", citation="original work",
                profiles={"quick": {}, "default": {}, "paper": {}})
    return ModelPlugin(**{**base, **fields})


def test_reported_scores_must_name_merbench_datasets_and_protocols():
    registry = Registry()
    problems = check_metadata(_spec(reported=(ReportedScore("casme", "LOSO", "uf1", 75.1, "Paper, Table 3"),)), registry)
    text = " ".join(problems)
    assert "its dataset 'casme' is not a merbench dataset name" in text and "casme2" in text and "samm" in text
    assert "its protocol 'LOSO' is not a merbench protocol name; did you mean 'loso'?" in text
    assert "subject-10fold" in text


def test_a_fraction_is_not_taken_for_percent():
    problems = check_metadata(_spec(reported=(ReportedScore("megc2019", "megc2019", "uf1", 0.751, "Paper, Table 3"),)),
                              Registry())
    assert problems == ["reported score megc2019/megc2019 uf1=0.751: its value 0.751 looks like a fraction; "
                        "give percent, 75.1 (as the paper prints it)"]


def test_a_failing_reported_score_names_the_field_to_fix():
    problems = check_metadata(_spec(reported=(ReportedScore("samm", "loso", "uar", 70.0, ""),)), Registry())
    assert len(problems) == 1 and "its source is empty" in problems[0]
    assert "dataset" not in problems[0].split(":", 1)[1] and "metric" not in problems[0]
    assert check_metadata(_spec(reported=(ReportedScore("samm", "loso", "uar", 70.0, "Paper, Table 2"),)), Registry()) == []


def test_the_empty_description_hint_is_about_the_description():
    problems = check_metadata(_spec(description=" "), Registry())
    assert len(problems) == 1 and problems[0].startswith("ModelPlugin.description is empty: declare it (one line for")
    assert "citation" not in problems[0]


def test_the_suite_writes_nothing_into_merbench_cache(broken, tmp_path, monkeypatch):
    users = tmp_path / "users-cache"
    monkeypatch.setenv("MERBENCH_CACHE", str(users))
    findings = check_model("fine", broken, profiles=("quick",), run=True)
    assert all(f.passed for f in findings), findings
    assert os.environ["MERBENCH_CACHE"] == str(users)
    assert not users.exists() or not any(users.iterdir())


# ------------------------------------------------------------------ B. plugin names

NAMES = '''
from merbench.contracts import DatasetPlugin, ModelPlugin, PreprocessorPlugin, ProtocolPlugin
from merbench.hookspecs import hookimpl


@hookimpl
def merbench_register_models(register):
    for name in ("My Net [red]X[/red]", "ok-net_2.1", "fam:", "-dash"):
        register(ModelPlugin(name=name, build="x:y", description="d", input="flow-uvs"))


@hookimpl
def merbench_register_datasets(register):
    for name in ("MyData", "my-data", "fam:"):
        register(DatasetPlugin(name=name, load="x:y", description="d"))


@hookimpl
def merbench_register_preprocessors(register):
    for name in ("diff/grey", "diff-grey"):
        register(PreprocessorPlugin(name=name, build="x:y", description="d", produces="diff-grey"))


@hookimpl
def merbench_register_protocols(register):
    for name in ("LOSO2", "loso2"):
        register(ProtocolPlugin(name=name, split="x:y", description="d", subject_independent=True))
'''


def test_plugin_names_that_are_not_lower_case_words_are_refused(site, monkeypatch):
    _install(site, "merbench-names", {"names": "merbench_names"}, {"merbench_names": NAMES})
    registry = Registry()
    assert {"ok-net_2.1", "fam:"} <= set(registry.names("models"))
    assert not {"My Net [red]X[/red]", "-dash"} & set(registry.names("models"))
    assert "my-data" in registry.names("datasets") and not {"MyData", "fam:"} & set(registry.names("datasets"))
    assert "diff-grey" in registry.names("preprocessors") and "diff/grey" not in registry.names("preprocessors")
    assert "loso2" in registry.names("protocols") and "LOSO2" not in registry.names("protocols")
    refused = [p for p in registry.problems if "may hold only lower case letters" in p]
    assert len(refused) == 6, registry.problems
    assert any(p.startswith("model 'My Net [red]X[/red]' from plugin 'names' (merbench-names 0.1) refused: its name")
               and "rename it, e.g. to 'my-net-red-x-red'" in p for p in refused)
    assert any(p.startswith("dataset 'fam:' from plugin 'names'") for p in refused)
    monkeypatch.setenv("MERBENCH_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="may hold only lower case letters"):
        Registry()


def test_every_builtin_name_follows_the_rule(run_cli):
    registry = Registry()
    assert registry.problems == []
    assert len(registry.names("models")) >= 8 and "timm:" in registry.names("models")
    assert {"4dme", "casme2", "synthetic"} <= set(registry.names("datasets"))
    for kind in ("models", "datasets", "preprocessors", "protocols"):
        result = run_cli("list", kind, "--json")
        assert result.code == 0 and "plugin problem" not in result.err, result.err


# ------------------------------------------------------------------ C. the example package, info and list

def _example_lines() -> dict[str, list[str]]:
    """Lines of the example package (README aside) that say 'example', by file."""
    found = {}
    for path in sorted(EXAMPLE.rglob("*")):
        if not path.is_file() or path.name == "README.md" or "__pycache__" in path.parts or ".egg-info" in str(path):
            continue
        lines = [line.strip() for line in path.read_text().splitlines() if "example" in line.lower()]
        if lines:
            found[path.relative_to(EXAMPLE).as_posix()] = lines
    return found


def test_after_the_documented_renames_nothing_in_the_example_says_example():
    """Only the six renamed places say 'example'; the README, also named there, is to be rewritten."""
    assert _example_lines() == {
        "pyproject.toml": ['name = "merbench-plugin-example"', 'example = "merbench_plugin_example"'],
        "src/merbench_plugin_example/__init__.py": ['name="example-tinycnn",',
                                                    'build="merbench_plugin_example.network:build_model",'],
        "tests/test_conformance.py": ['NAMES = conformance_names(distribution="merbench-plugin-example")',
                                      'assert NAMES == ["example-tinycnn"]'],
    }
    contributing = (REPO / "CONTRIBUTING.md").read_text()
    rename = contributing[contributing.index("### Rename"):contributing.index("### Naming")]
    for text in ('`merbench-plugin-example`', '`example = "merbench_plugin_example"`',
                 '`"merbench_plugin_example.network:build_model"`', '`example-tinycnn`',
                 '`conformance_names(distribution="merbench-plugin-example")`', '`NAMES == ["example-tinycnn"]`',
                 "`description=`", "`citation=`", "`README.md`"):
        assert text in rename, text


@pytest.fixture
def example(site, tmp_path):
    """The example package importable from a copy (the source tree gets no bytecode), as if installed."""
    copy = tmp_path / "example"
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns("*.egg-info", "build", "__pycache__"))
    for item in (copy / "src").iterdir():
        shutil.move(str(item), str(site / item.name))
    _install(site, "merbench-plugin-example", {"example": "merbench_plugin_example"}, {})
    return copy


def test_the_example_refuses_a_width_of_zero_before_preprocessing(example, run_cli, fresh_cache):
    result = run_cli("run", "--model", "example-tinycnn", "--dataset", "synthetic", "--profile", "quick",
                     "--set", "model.width=0")
    assert result.code == 2
    assert result.err.strip() == "merbench: error: model.width=0: must be an integer ≥ 1 (default 8)"
    assert not (fresh_cache / "preprocess").exists(), "the bad value was noticed only after preprocessing"


def test_the_example_tests_use_a_temporary_cache(example, tmp_path):
    users = tmp_path / "users-cache"
    tests = example / "tests" / "test_conformance.py"
    tests.write_text(tests.read_text() + textwrap.dedent(f'''

        def test_probe_cache_is_not_the_users():
            import os
            assert os.environ["MERBENCH_CACHE"] != {str(users)!r}
        '''))
    env = {**os.environ, "MERBENCH_CACHE": str(users), "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONPATH": os.pathsep.join([str(example.parent / "site"), *sys.path])}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(example),
                           str(example / "tests")], capture_output=True, text=True, env=env, cwd=example, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "3 passed" in done.stdout
    assert not users.exists() or not any(users.iterdir())


def test_info_of_a_third_party_model_does_not_offer_merbenchs_baseline_file(example, run_cli):
    result = run_cli("info", "example-tinycnn")
    assert result.code == 0, result.err
    text = " ".join(result.out.split())
    assert "baselines" not in text and "synthetic-default.yaml" not in text
    assert ("Measured by merbench on the synthetic data: nothing on record for example-tinycnn (merbench's stored "
            "baseline covers its built-in models). Measure it with `merbench run --model example-tinycnn --dataset "
            "synthetic` (the default profile); `merbench compare --model example-tinycnn` then shows your stored "
            "runs.") in text
    assert "Citation: original work (no paper)" in text


def test_info_of_a_builtin_model_still_quotes_the_baseline(run_cli):
    result = run_cli("info", "ststnet")
    assert result.code == 0 and "nothing on record" not in result.out


FORWARD_RAISES = '''
import torch
from merbench.contracts import ModelPlugin
from merbench.hookspecs import hookimpl


class Broken(torch.nn.Module):
    def __init__(self, in_channels, n_classes):
        super().__init__()
        self.head = torch.nn.Linear(in_channels, n_classes)

    def forward(self, x):
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied (plugin bug)")


def build(options, in_channels, n_classes, input_size):
    return Broken(in_channels, n_classes)


def unbuildable(options, in_channels, n_classes, input_size):
    raise ValueError("width must divide 7")


@hookimpl
def merbench_register_models(register):
    register(ModelPlugin(name="forward-raises", build=build, description="d", input="flow-uvs"))
    register(ModelPlugin(name="build-raises", build=unbuildable, description="d", input="flow-uvs"))
'''


def test_list_models_says_when_the_forward_failed_not_the_build(site, run_cli):
    _install(site, "merbench-broken-more", {"broken": "merbench_broken_more"}, {"merbench_broken_more": FORWARD_RAISES})
    result = run_cli("list", "models")
    assert result.code == 0
    err = " ".join(result.err.split())
    assert ("model 'forward-raises' was built, but its forward pass on one sample failed: RuntimeError: mat1 and mat2 "
            "shapes cannot be multiplied (plugin bug)") in err
    assert "model 'forward-raises' cannot be built" not in err
    assert "model 'build-raises' cannot be built: ValueError: width must divide 7" in err
    listing = json.loads(run_cli("list", "models", "--json").out)["models"]
    stages = {record["name"]: record["error_stage"] for record in listing}
    assert stages["forward-raises"] == "forward" and stages["build-raises"] == "build" and stages["ststnet"] is None


# ------------------------------------------------------------------ D. CONTRIBUTING's dataset and preprocessor blocks

MOTION_MODEL = '''
import torch
from merbench.contracts import ModelPlugin
from merbench.hookspecs import hookimpl


def build(options, in_channels, n_classes, input_size):
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(in_channels * input_size * input_size, n_classes))


@hookimpl
def merbench_register_models(register):
    register(ModelPlugin(name="motion-linear", build=build, description="d", input="motion-grey",
                         preprocess=("motion-sum",)))
'''


def _block(section: str) -> str:
    """The plugin module under the CONTRIBUTING.md heading ``section``: its first python block."""
    text = (REPO / "CONTRIBUTING.md").read_text()
    start = text.index(f"\n### {section}\n")
    body = text[start:text.index("\n##", start + 5)]
    blocks = re.findall(r"```python\n(.*?)```", body, re.S)
    assert blocks and "@hookimpl" in blocks[0], f"{section}: no plugin module block"
    return blocks[0]


def _corpus(root: Path) -> None:
    """4 subjects x 3 clips of 8 grey 32x32 PNG frames, with labels.csv as the dataset block reads it."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(0)
    rows = ["subject,clip,emotion,onset,apex,offset"]
    for s in range(4):
        for c, emotion in enumerate(("negative", "positive", "surprise")):
            clip = root / f"s{s:02d}" / f"clip{c}"
            clip.mkdir(parents=True)
            for f in range(8):
                cv2.imwrite(str(clip / f"img{f:03d}.png"), rng.integers(0, 256, (32, 32), dtype=np.uint8))
            rows.append(f"s{s:02d},clip{c},{emotion},0,4,7")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")


def _test_block(section: str) -> str:
    """The test module under the CONTRIBUTING.md heading ``section``: its python block that defines a test."""
    text = (REPO / "CONTRIBUTING.md").read_text()
    start = text.index(f"\n### {section}\n")
    body = text[start:text.index("\n##", start + 5)]
    blocks = [block for block in re.findall(r"```python\n(.*?)```", body, re.S) if "\ndef test_" in block]
    assert len(blocks) == 1, f"{section}: no test block"
    return blocks[0]


def test_the_contributing_dataset_and_preprocessor_examples_run_as_written(site, tmp_path, run_cli, monkeypatch):
    _install(site, "merbench-docs", {"mycorpus": "merbench_mycorpus", "motion": "merbench_motion",
                                     "motionnet": "merbench_motion_model"},
             {"merbench_mycorpus": _block("A dataset plugin"), "merbench_motion": _block("A preprocessor plugin"),
              "merbench_motion_model": MOTION_MODEL})
    root = tmp_path / "tests" / "data" / "mycorpus"  # beside the section's test file, where it looks
    _corpus(root)
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    registry = Registry()
    assert registry.problems == []
    assert "mycorpus" in registry.names("datasets") and "motion-sum" in registry.names("preprocessors")
    check = run_cli("datasets", "check", "mycorpus", "--root", str(root))
    assert check.code == 0, check.err
    test_module = {"__file__": str(tmp_path / "tests" / "test_mycorpus.py"), "__name__": "test_mycorpus"}
    exec(compile(_test_block("A dataset plugin"), test_module["__file__"], "exec"), test_module)
    monkeypatch.chdir(tmp_path.parent)  # pytest run from another folder than the plugin's own
    test_module["test_mycorpus_conforms"]()  # the section's test as written: same order in other processes
    monkeypatch.chdir(tmp_path)
    for model in ("motion-linear", "ststnet"):
        target = tmp_path / f"{model}.json"
        run = run_cli("run", "--model", model, "--dataset", "mycorpus", "--root", str(root), "--protocol", "loso",
                      "--profile", "quick", "--quiet", "--json", str(target))
        assert run.code == 0, run.err
        result = json.loads(target.read_text())
        assert len(result["folds"]) == 4 and result["n_samples"] == 12
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before, "a plugin wrote inside --root"
