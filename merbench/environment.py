"""What a run records about the software and machine it ran on."""

from __future__ import annotations

import functools
import hashlib
import platform
import re
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any, Sequence

import merbench
from merbench.wording import number_spans, plural


def package_version(name: str) -> str | None:
    """Installed version of a distribution, or ``None``."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def git_commit() -> str | None:
    """The git commit of merbench's source tree when it is a checkout, else ``None``.

    ``-dirty.<digest>`` is appended when tracked files differ from that commit (as
    ``git describe --dirty`` marks it): the run's code is then not the commit's.
    The digest (the first 12 hex digits of the SHA-256 of ``git diff HEAD``) tells
    one set of edits from another, so a stored run of other uncommitted code is
    not taken for this code's (``--stored``, ``--resume``). It is read once per
    process, at the first call (a run's start): edits made while a run trains are
    not the code it runs.
    """
    return _commit_of(Path(merbench.__file__).resolve().parent.parent)


@functools.lru_cache(maxsize=None)
def _commit_of(source: Path) -> str | None:
    """``git_commit`` of the checkout at ``source``, read once."""
    if not (source / ".git").exists():
        return None
    try:
        head = subprocess.run(["git", "-C", str(source), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        if head.returncode != 0 or not head.stdout.strip():
            return None
        changed = subprocess.run(["git", "-C", str(source), "status", "--porcelain", "--untracked-files=no"],
                                 capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    dirty = changed.returncode != 0 or bool(changed.stdout.strip())  # unknown counts as changed
    if not dirty:
        return head.stdout.strip()
    return f"{head.stdout.strip()}-dirty.{_edits_digest(source)}"


def _edits_digest(source: Path) -> str:
    """The first 12 hex digits of the SHA-256 of the tracked edits (``git diff HEAD``); ``unknown`` when git cannot
    say (then no two such runs are told apart by it)."""
    try:
        diff = subprocess.run(["git", "-C", str(source), "diff", "HEAD", "--binary", "--no-color", "--no-ext-diff"],
                              capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    if diff.returncode != 0:
        return "unknown"
    return hashlib.sha256(diff.stdout).hexdigest()[:12]


def describe_environment(device: str) -> dict[str, str | None]:
    """Versions of merbench and its main dependencies, Python, platform and device."""
    import cv2
    import torch

    return {
        "merbench": merbench.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": device,
        "timm": package_version("timm"),
        "numpy": package_version("numpy"),
        "scikit-learn": package_version("scikit-learn"),
        "opencv": cv2.__version__,
        "platform": platform.platform(),
        "machine": describe_cpu(),
        "torch_threads": str(torch.get_num_threads()),
        "git_commit": git_commit(),
    }


SOFTWARE_KEYS = ("merbench", "git_commit", "torch", "python", "timm", "numpy", "scikit-learn", "opencv", "device")
"""What a run's folds depend on: a run resumed under other values mixes folds trained under both."""


def changed_software(before: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """``KEY OLD → NEW`` for each of ``SOFTWARE_KEYS`` that differs between two environments (``unknown`` for a value
    not recorded, such as the git commit of a merbench installed without its repository); the devices are compared
    by ``device_setup``."""
    def compared(key: str, environment: dict[str, Any]) -> Any:
        return device_setup(environment.get(key)) if key == "device" else environment.get(key)

    return [f"{key} {_known(before.get(key))} → {_known(now.get(key))}" for key in SOFTWARE_KEYS
            if key in before and compared(key, before) != compared(key, now)]


DEVICE_DESCRIPTION = re.compile(r"(?P<type>\w+) \((?:\d+ threads?, )?(?P<setup>.*?)(?:; [^;]*)?\)")
"""A device description (``merbench.engine.choose_device``): ``cpu (2 threads, float32; no CUDA device found)``,
``cuda (NVIDIA H100, mixed precision bfloat16; requested)``."""


def device_setup(description: Any) -> Any:
    """What of a recorded device description a fold's arithmetic depends on: the device type, GPU name and precision
    (``cpu (float32)``), without the default thread count and why the device was chosen (``auto`` or ``--device``),
    which differ between the processes of one setup. A text of another form is returned as it is."""
    match = DEVICE_DESCRIPTION.fullmatch(description) if isinstance(description, str) else None
    return f"{match['type']} ({match['setup']})" if match else description


def _known(value: Any) -> str:
    return "unknown" if value is None or value == "" else str(value)


def changed_setup(before: dict[str, Any], now: dict[str, Any]) -> tuple[list[str], list[str]]:
    """What differs between the environment a run's stored folds were trained in and ``now``: ``changed_software``,
    and ``machine OLD → NEW`` when both record a machine (``describe_cpu``) and it differs: another CPU kind (AVX-512
    or AVX2 only) or core count changes the last bits of training, so a resumed run would mix folds of both. The
    software lines include other plugin versions (``changed_plugins``) and files of other content named by the run's
    options (``changed_files``: other weights)."""
    machine = before.get("machine"), now.get("machine")
    moved = [f"machine {machine[0]} → {machine[1]}"] if machine[0] and machine[1] and machine[0] != machine[1] else []
    return (changed_software(before, now) + changed_plugins(before.get("plugins"), now.get("plugins"))
            + changed_files(before.get(FILES_KEY), now.get(FILES_KEY)), moved)


def third_party_plugins(plugins: Any) -> dict[str, str] | None:
    """The entries of an ``environment.plugins`` record (``KIND:NAME`` → ``DISTRIBUTION VERSION``) that other
    distributions than merbench provide (merbench's own plugins go with merbench's version); ``None`` for no record."""
    if not isinstance(plugins, dict):
        return None
    return {key: value for key, value in plugins.items() if not str(value).startswith("merbench ")}


def changed_plugins(before: Any, now: Any) -> list[str]:
    """``plugin KIND:NAME OLD → NEW`` for each plugin whose distribution or version differs between two records of
    ``environment.plugins`` (``KIND:NAME`` → ``DISTRIBUTION VERSION``); none when either was not recorded. A model
    plugin of another version is other code, as another merbench is."""
    if not isinstance(before, dict) or not isinstance(now, dict):
        return []
    return [f"plugin {key} {_known(before.get(key))} → {_known(value)}" for key, value in now.items()
            if before.get(key) != value]


FILES_KEY = "files"
"""The ``environment`` key of the local files a run's options name (``merbench.recorded_files``): ``SECTION.KEY`` →
``{"path", "sha256", "bytes"}``."""


def changed_files(before: Any, now: Any) -> list[str]:
    """``file KEY sha256 OLD → NEW`` for each option whose file's content differs between two ``FILES_KEY`` records
    (``none`` where one names no file); nothing unless both record them (a run's options are the same when it is
    resumed: a record missing on one side is a merbench that kept none, or a file that cannot be read now, which the
    plugin opening it refuses)."""
    if not isinstance(before, dict) or not isinstance(now, dict):
        return []

    def digest(record: Any) -> str:
        return str(record.get("sha256", "unknown"))[:12] if isinstance(record, dict) else "none"

    return [f"file {key} sha256 {digest(before.get(key))} → {digest(now.get(key))}"
            for key in sorted(set(before) | set(now)) if digest(before.get(key)) != digest(now.get(key))]


def cpuinfo_field(name: str) -> str | None:
    """The value of field ``name`` for the first CPU in ``/proc/cpuinfo``, or ``None`` where there is none."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            return next((line.partition(":")[2].strip() for line in handle if line.startswith(name)), None)
    except OSError:
        return None


def describe_cpu() -> str:
    """The CPU model, core count, architecture and the vector instructions torch uses on it, e.g. ``AMD EPYC 7B13,
    2 cores, x86_64, AVX2``. CPUs of one model name can differ in those instructions (AVX-512 or AVX2 only), and with
    them in speed and in the last bits of a run's arithmetic, hence in its scores. Touches no GPU."""
    import os

    cpu = cpuinfo_field("model name") or platform.processor() or platform.machine()
    text = f"{cpu}, {os.cpu_count()} cores, {platform.machine()}"
    try:
        import torch

        capability = torch.backends.cpu.get_cpu_capability()
    except Exception:  # no torch, or a build without the query: the CPU is described without it
        return text
    return text + (f", {capability}" if capability and capability != "DEFAULT" else "")


def describe_machine(device: Any) -> str:
    """``describe_cpu`` plus the GPU a run trained on, named in its recorded ``device`` description (for a baseline's
    ``machine`` field): a CPU run names no GPU, whatever GPUs the machine has, and ``--device cuda:1`` names GPU 1."""
    match = DEVICE_DESCRIPTION.fullmatch(device) if isinstance(device, str) else None
    if match is None or match["type"] != "cuda":
        return describe_cpu()
    return f"{describe_cpu()}, {match['setup'].rsplit(', ', 1)[0]}"


PROVENANCE_KEYS = ("merbench", "git_commit", "torch")
"""The software a reused stored run (``merbench regress --stored``, ``merbench grid --stored``) is compared on with
this process's: merbench's version and git commit (the code) and torch. The version counts where no commit is known
(merbench installed from a wheel records none)."""


def current_software() -> dict[str, str | None]:
    """This process's ``PROVENANCE_KEYS``, as a run started now would record them (``describe_environment``)."""
    environment = describe_environment("cpu")
    return {key: environment.get(key) for key in PROVENANCE_KEYS}


EARLIER_SOFTWARE_KEY = "earlier_software"
"""The ``environment`` key of a run resumed under other software: the ``PROVENANCE_KEYS`` (and plugins) of the first
earlier setup that trained some of its folds under other software than the resuming process's (the rest of
``environment`` is the resuming process's; ``EARLIER_FOLDS_KEY`` lists every such setup)."""


EARLIER_SETUPS_KEY = "earlier_setups"
"""The key, in an unfinished run's stored environment, of how the setups its stored folds were trained in differ:
``{"software": [...], "machine": [...]}`` (``changed_setup``'s lines of every resume so far), ``TRAINED_KEY``: which
setup trained which stored folds, and, once the software changed, ``EARLIER_SOFTWARE_KEY``: the software of its first
folds. Every later resume keeps it (``with_earlier_setups``), so the result says the mix however many times the run
was resumed."""

TRAINED_KEY = "trained"
"""The ``EARLIER_SETUPS_KEY`` entry listing, for each process that held the run before, its setup (``SETUP_KEYS``)
and the folds it stored, ``{"setup": {...}, "folds": {"SEED": [FOLD, ...]}}`` (fold indices as in a result's
``folds[].fold``)."""

SETUP_KEYS = (*SOFTWARE_KEYS, "plugins", FILES_KEY, "machine")
"""What of an environment ``changed_setup`` compares: the setup a fold was trained in."""

EARLIER_FOLDS_KEY = "earlier_folds"
"""The ``environment`` key of a resumed run's result listing each earlier setup that trained some of its folds and
differs from the one that finished it (``earlier_folds``): its ``setup``, its ``folds`` and what changed since
(``software``, ``machine``)."""


def with_earlier_setups(before: dict[str, Any], now: dict[str, Any],
                        stored: Sequence[tuple[int, int]] = ()) -> dict[str, Any]:
    """The environment to record for a run resumed ``now`` whose stored environment was ``before`` and whose stored
    folds are ``stored`` (``(seed, fold)``): ``now``, with ``EARLIER_SETUPS_KEY`` holding what this resume and each
    earlier one changed and which setup trained which folds (those not yet listed were trained in ``before``'s);
    ``now`` itself while nothing did."""
    kept = before.get(EARLIER_SETUPS_KEY)
    kept = kept if isinstance(kept, dict) else {}
    software, machine = changed_setup(before, now)
    setups: dict[str, Any] = {"software": _lines(kept.get("software"), software),
                              "machine": _lines(kept.get("machine"), machine)}
    if not setups["software"] and not setups["machine"]:
        return now
    trained = kept.get(TRAINED_KEY, [] if not kept else None)  # None: recorded by a merbench that kept no folds
    if isinstance(trained, list):
        setups[TRAINED_KEY] = _with_folds_of(trained, {key: before[key] for key in SETUP_KEYS if key in before}, stored)
    first = kept.get(EARLIER_SOFTWARE_KEY)
    if isinstance(first, dict):
        setups[EARLIER_SOFTWARE_KEY] = first
    elif software:
        setups[EARLIER_SOFTWARE_KEY] = software_of(before)
    return {**now, EARLIER_SETUPS_KEY: setups}


def software_of(environment: dict[str, Any]) -> dict[str, Any]:
    """What ``EARLIER_SOFTWARE_KEY`` keeps of an environment: its ``PROVENANCE_KEYS``, plugins and option files."""
    kept = {key: environment.get(key) for key in (*PROVENANCE_KEYS, "plugins")}
    return {**kept, FILES_KEY: environment[FILES_KEY]} if FILES_KEY in environment else kept


def _with_folds_of(trained: list[Any], setup: dict[str, Any], stored: Sequence[tuple[int, int]]) -> list[Any]:
    """``trained`` (``TRAINED_KEY``'s list) with the ``stored`` folds it does not list yet, as trained in ``setup``."""
    listed = {(str(seed), fold) for entry in trained if isinstance(entry, dict) and isinstance(entry.get("folds"), dict)
              for seed, folds in entry["folds"].items() if isinstance(folds, list) for fold in folds}
    new: dict[str, list[int]] = {}
    for seed, fold in sorted(stored):
        if (str(seed), fold) not in listed:
            new.setdefault(str(seed), []).append(fold)
    if not new:
        return list(trained)
    last = trained[-1] if trained and isinstance(trained[-1], dict) else {}
    if last.get("setup") == setup and isinstance(last.get("folds"), dict):  # resumed again in the same setup
        merged = {seed: [*last["folds"].get(seed, []), *folds] for seed, folds in new.items()}
        return [*trained[:-1], {"setup": setup, "folds": {**last["folds"], **merged}}]
    return [*trained, {"setup": setup, "folds": new}]


def earlier_folds(setups: dict[str, Any], now: dict[str, Any]) -> list[dict[str, Any]] | None:
    """Each earlier setup listed in ``setups`` (an ``EARLIER_SETUPS_KEY`` record) that trained stored folds and
    differs from ``now``: ``{"setup": ..., "folds": {"SEED": [FOLD, ...]}, "software": [...], "machine": [...]}``,
    the last two ``changed_setup``'s lines, setup → now. ``None`` when the record does not say which setup trained
    which folds (one written by an older merbench)."""
    trained = setups.get(TRAINED_KEY)
    if not isinstance(trained, list):
        return None
    differing = []
    for entry in trained:
        if not isinstance(entry, dict) or not isinstance(entry.get("setup"), dict):
            continue
        software, machine = changed_setup(entry["setup"], now)
        if software or machine:
            differing.append({**entry, "software": software, "machine": machine})
    return differing


def folds_named(folds: dict[str, list[int]], seeds: bool) -> str:
    """``folds 4-5`` (numbered from 1, as a run's progress numbers them) for ``{"0": [3, 4]}``; with ``seeds``, each
    seed's, ``seed 0 folds 4-5, seed 1 fold 1``."""
    named = []
    for seed, indices in folds.items():
        numbers = sorted(int(fold) + 1 for fold in indices)
        text = ", ".join(number_spans(numbers))
        named.append(f"{'seed ' + seed + ' ' if seeds else ''}{plural(numbers, 'fold')} {text}")
    return ", ".join(named)


def _lines(kept: Any, new: list[str]) -> list[str]:
    """The recorded change lines ``kept`` (when a list), then each of ``new`` not among them."""
    lines = [str(line) for line in kept] if isinstance(kept, list) else []
    return lines + [line for line in new if line not in lines]


def known_software(software: dict[str, Any]) -> dict[str, str]:
    """``software``'s ``PROVENANCE_KEYS``, an unrecorded one as ``unknown``."""
    return {key: "unknown" if software.get(key) in (None, "") else str(software[key]) for key in PROVENANCE_KEYS}


def trained_with(environment: dict[str, Any]) -> dict[str, str | None]:
    """The ``PROVENANCE_KEYS`` a stored run's folds were trained with: its environment's, where a run resumed under
    other software (``EARLIER_SOFTWARE_KEY``) shows both values, ``EARLIER + NOW``, so that it matches no software."""
    recorded = {key: environment.get(key) for key in PROVENANCE_KEYS}
    earlier = environment.get(EARLIER_SOFTWARE_KEY)
    if not isinstance(earlier, dict):
        return recorded
    earlier, now = known_software(earlier), known_software(environment)
    return {key: f"{earlier[key]} + {now[key]}" if earlier[key] != now[key] else value
            for key, value in recorded.items()}


def other_software(stored: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """``KEY STORED → NOW`` for each of ``PROVENANCE_KEYS`` where a stored run's environment is not ``now``'s; an
    unrecorded value reads ``unknown`` and differs from a known one: the run cannot be shown to be this code's. A run
    resumed under other software (``trained_with``) differs from every software. Where ``now`` names its plugins
    (a tune's trials), each third-party plugin of another version is named too (``changed_plugins``; merbench's own
    go with merbench's version)."""
    return (changed_software(known_software(trained_with(stored)), known_software(now))
            + changed_plugins(stored.get("plugins", {}), third_party_plugins(now.get("plugins"))))


TUNE_KEYS = ("optuna", "threads_per_fold")
"""What a tune's stored trials and refits are compared on besides ``other_software``'s: Optuna's version (which
trials its TPE sampler proposes for a seed depends on it) and the torch threads each of their folds trained with
(another count sums in another order). Ray's version counts too where both trained on Ray (``ray``)."""


def other_tune_software(stored: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """``other_software`` of a stored trial or refit of a tune, and ``KEY STORED → NOW`` for each of ``TUNE_KEYS``
    that differs (``unknown`` where it was not recorded), and for ``ray`` where both record it (work trained
    locally records none); and the files the options name, where both record them (``changed_files``: other weights
    under the same name)."""
    keys = (*TUNE_KEYS, "ray") if "ray" in stored and "ray" in now else TUNE_KEYS
    return (other_software(stored, now) + [f"{key} {_known(stored.get(key))} → {_known(now.get(key))}"
                                           for key in keys if _known(stored.get(key)) != _known(now.get(key))]
            + changed_files(stored.get(FILES_KEY), now.get(FILES_KEY)))


class ReuseCheck:
    """Stored runs reused with ``--stored`` against this process's software (looked up once, when first needed):
    the words ``merbench grid`` and ``merbench leakage`` print for each (``merbench regress`` names them in its
    ``Reuse`` notes)."""

    def __init__(self, by: str) -> None:
        self.by = by
        """What reuses the runs, for the message: ``grid``, ``study``."""
        self._now: dict[str, str | None] | None = None

    def other_software(self, stored: dict[str, Any] | None) -> list[str]:
        """``other_software`` of a stored run's environment against this process's."""
        if self._now is None:
            self._now = current_software()
        return other_software(stored or {}, self._now)

    def phrase(self, changed: list[str]) -> str:
        """``reused (--stored; trained with this software)``, or, for a run trained with other software, that its
        scores do not measure this code and what differs (``changed``, stored → now)."""
        if not changed:
            return "reused (--stored; trained with this software)"
        return (f"reused (--stored; trained with other software than this {self.by}, so its scores do not measure "
                "this code: run without --stored to measure it). Stored → now: " + "; ".join(changed))
