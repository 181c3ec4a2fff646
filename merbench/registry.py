"""The one registry of merbench plugins, a typed facade over pluggy.

Built-in plugins and third-party plugins are found the same way: through the
``merbench`` entry-point group. Each entry point is loaded and registered in its
own ``try`` so that one broken plugin is reported and the others keep working
(``MERBENCH_STRICT_PLUGINS=1`` turns such a report into an error); a plugin that exits
(``sys.exit``, a script's argument parsing) is reported the same way, and what a plugin prints
while it loads goes to stderr, so that a command's output on stdout (``--json``) stays its own.
``MERBENCH_DISABLE_PLUGINS=a,b`` skips entry points by name (every distribution's
entry point of that name; ``DIST:NAME`` names one distribution's).
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import inspect
import numbers
import os
import re
import sys
import traceback
import types
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Callable, Iterable, Iterator, Mapping

import pluggy

from merbench import hookspecs
from merbench.contracts import PLUGIN_KINDS, FamilyFactory, ReportedScore, exit_reason, shown_name
from merbench.errors import MerbenchError, PluginError, UsageError
from merbench.wording import a_type

ENTRY_POINT_GROUP = "merbench"
OWN_DISTRIBUTION = "merbench"


@dataclass
class Provider:
    """Where a plugin comes from: its entry point and distribution."""

    entry_point: str
    target: str
    distribution: str
    version: str

    @property
    def builtin(self) -> bool:
        """True for merbench's own plugins."""
        return distribution_key(self.distribution) == OWN_DISTRIBUTION

    def __str__(self) -> str:
        return f"plugin '{self.entry_point}' ({self.distribution} {self.version})"


@dataclass
class PluginRecord:
    """One loaded (or failed) entry point, as ``merbench plugins`` shows it."""

    provider: Provider
    registered: dict[str, list[str]] = field(default_factory=dict)
    error: str | None = None
    """Every error of this plugin, one per line (``None``: it loaded cleanly); ``errors`` lists them one by one."""
    errors: list[str] = field(default_factory=list)
    traces: list[str] = field(default_factory=list)
    """Per error, the traceback of the plugin's own exception (import, hook; else ""), for ``merbench plugins --debug``."""
    problems: list[str] = field(default_factory=list)
    """Problems of what it registered that do not stop it loading (a model whose declared input no registered
    preprocessor produces, so it cannot run), one by one; ``merbench plugins`` shows them like ``errors``."""
    notes: list[str] = field(default_factory=list)
    """What looks like a mistake in what it registered but need not be one (a model's ``preprocess_options`` for a
    step no registered preprocessor is, named like one that is): ``merbench plugins`` shows them; they leave it ok."""

    @property
    def ok(self) -> bool:
        """True when the plugin loaded cleanly and everything it registered can run."""
        return not self.errors and not self.problems


FACTORY_FIELDS = {"datasets": ("load", "gives"), "preprocessors": ("build",), "models": ("build", "check_member", "read_files"),
                  "protocols": ("split", "expand")}
"""The fields of each kind's spec that may hold a lazily loaded ``"module:attribute"`` factory string."""
LITERAL_VALUES = {"gives": ("frames", "image")}
"""Strings a factory field may hold that are values, not factories."""
FACTORY_CALLS = {("datasets", "load"): ("root", "options", "cache_dir"), ("datasets", "gives"): ("root", "options"),
                 ("preprocessors", "build"): ("options",),
                 ("models", "build"): ("options", "in_channels", "n_classes", "input_size"),
                 ("models", "check_member"): ("member",), ("models", "read_files"): ("options",),
                 ("protocols", "split"): ("labels", "subjects", "seed", "options", "domains"),
                 ("protocols", "expand"): ("dataset", "options")}
"""The arguments merbench passes each factory, positionally (a family of models' ``build`` and ``read_files`` get
``member`` first)."""
MEMBER_FIRST = ("build", "read_files")
"""The factories of a model family that get the member's name first."""
STEP_CALL = ("sample", "read_frame", "upstream")
"""The arguments a built preprocessor is called with."""


def distribution_key(name: str) -> str:
    """A distribution's name as packaging compares it: ``Merbench_Plugins`` is ``merbench-plugins``."""
    return name.lower().replace("_", "-")


def _iter_entry_points() -> Iterable[tuple[metadata.EntryPoint, str, str]]:
    seen: set[tuple[str, str]] = set()
    found = []
    for dist in metadata.distributions():
        dist_name = dist.metadata["Name"] or "unknown"
        for ep in dist.entry_points:
            if ep.group != ENTRY_POINT_GROUP:
                continue
            key = (distribution_key(dist_name), ep.name)
            if key in seen:  # the same distribution visible twice on sys.path
                continue
            seen.add(key)
            found.append((ep, dist_name, dist.version))
    # Built-ins first, so that on a name clash merbench's own plugin is kept.
    found.sort(key=lambda item: (distribution_key(item[1]) != OWN_DISTRIBUTION, distribution_key(item[1]), item[0].name))
    return found


def _disables(entry: str, entry_point: str, distribution: str) -> bool:
    """Whether one ``MERBENCH_DISABLE_PLUGINS`` entry names this entry point: ``NAME`` (of any distribution) or
    ``DIST:NAME`` (of that distribution only; ``merbench-epclash:models``, ``_`` and case as in pip)."""
    if entry == entry_point:
        return True
    dist, colon, name = entry.partition(":")
    return bool(colon) and name == entry_point and distribution_key(dist) == distribution_key(distribution)


def strict_plugins_requested() -> bool:
    """Whether ``MERBENCH_STRICT_PLUGINS`` asks that a plugin problem be an error (exit code 2), as CI wants."""
    return os.environ.get("MERBENCH_STRICT_PLUGINS", "").strip().lower() not in ("", "0", "false", "no", "off")


class Registry:
    """All plugins of one process, by kind and name."""

    def __init__(self, strict: bool | None = None, disabled: Iterable[str] | None = None):
        if strict is None:
            strict = strict_plugins_requested()
        if disabled is None:
            disabled = [n.strip() for n in os.environ.get("MERBENCH_DISABLE_PLUGINS", "").split(",")]
        self.strict = strict
        self.disabled = {name for name in disabled if name}
        self.disabled_unknown: list[str] = []
        self.disabled_shared: list[str] = []
        """One note per plain name in ``disabled`` that matched the entry points of several distributions."""
        self.disabled_problems: list[str] = []
        """The problems of ``MERBENCH_DISABLE_PLUGINS`` itself (its unknown names, its shared names), which belong to
        no plugin's record; also in ``problems``, and each an error under ``MERBENCH_STRICT_PLUGINS``."""
        self.records: list[PluginRecord] = []
        self.problems: list[str] = []
        self._items: dict[str, dict[str, Any]] = {kind: {} for kind in PLUGIN_KINDS}
        self._providers: dict[tuple[str, str], Provider] = {}
        self._refused: dict[tuple[str, str], str] = {}
        self._pm = pluggy.PluginManager("merbench")
        self._pm.add_hookspecs(hookspecs)
        with contextlib.redirect_stdout(sys.stderr):  # a plugin's prints must not mix with a command's --json output
            self._load_entry_points()
            self._collect()
        self._check_model_inputs()

    @property
    def disabled_found(self) -> list[str]:
        """The ``MERBENCH_DISABLE_PLUGINS`` entries that named an installed entry point (and so skipped it), sorted."""
        return sorted(self.disabled - set(self.disabled_unknown))

    # ------------------------------------------------------------------ loading

    def _report(self, record: PluginRecord | None, message: str, exc: BaseException | None = None) -> None:
        if record is not None:
            record.errors.append(message)
            record.error = "\n".join(record.errors)
            record.traces.append("".join(traceback.format_exception(exc)) if exc is not None else "")
        self.problems.append(message)
        if self.strict:
            raise PluginError(message + " (MERBENCH_STRICT_PLUGINS is set)")

    def _load_entry_points(self) -> None:
        entry_points = list(_iter_entry_points())
        if not any(distribution_key(dist) == OWN_DISTRIBUTION for _, dist, _ in entry_points):
            raise PluginError(
                "merbench's built-in plugins are not registered (no 'merbench' entry points "
                "found in the installed distribution): reinstall merbench (pip install --force-reinstall merbench, or "
                "pip install -e . in a checkout)"
            )
        self._check_disabled(entry_points)
        for ep, dist_name, version in entry_points:
            provider = Provider(ep.name, ep.value, dist_name, version)
            if any(_disables(entry, ep.name, dist_name) for entry in self.disabled):
                continue
            record = PluginRecord(provider)
            self.records.append(record)
            try:
                plugin = ep.load()
            except SystemExit as exc:  # the plugin's exit is not merbench's (a Ctrl-C still stops merbench)
                self._report(record, f"{provider} failed to import {ep.value}: {exit_reason(exc)}", exc)
                continue
            except Exception as exc:  # any import failure of third-party code
                self._report(record, f"{provider} failed to import {ep.value}: {type(exc).__name__}: {exc}"
                                     f"{_import_hint(ep.value, dist_name, exc)}", exc)
                continue
            unbound = self._unbound_hooks(plugin)
            if unbound:  # pluggy would register it, and merbench would call each hook without its self
                self._report(record, f"{provider} could not be registered: {_class_hint(plugin, unbound)}")
                continue
            loaded_by = self._loaded_by(plugin)
            if loaded_by is not None:  # pluggy refuses an object twice; the first entry point keeps it
                self._report(record, f"{provider} could not be registered: "
                                     f"{_loaded_twice(provider, loaded_by, plugin)}")
                continue
            try:
                self._pm.register(plugin, name=f"{dist_name}:{ep.name}")
                self._pm.check_pending()
            except Exception as exc:
                if self._pm.is_registered(plugin):  # not another entry point's: that was checked above
                    self._pm.unregister(plugin)
                self._report(record, f"{provider} could not be registered: {self._registration_problem(plugin, exc)}")
                continue
            uncallable = self._uncallable_hooks(plugin)
            if uncallable:  # pluggy accepts a hook taking fewer arguments than its spec and calls it without register
                self._pm.unregister(plugin)
                self._report(record, f"{provider} could not be registered: {uncallable}")
                continue
            if not self._pm.get_hookcallers(plugin):
                self._report(record, f"{provider} implements no merbench hook, so it registers nothing: "
                                     f"{_unmarked_hooks_hint(plugin)}")
                continue
            unmarked = [name for name in HOOK_NAMES
                        if callable(getattr(plugin, name, None)) and self._pm.parse_hookimpl_opts(plugin, name) is None]
            if unmarked:  # the marked hooks ran; these are skipped
                self._report(record, f"{provider}: {_names(unmarked)} in {_plugin_label(plugin)} "
                                     f"{'is' if len(unmarked) == 1 else 'are'} not marked @hookimpl, so merbench never "
                                     "calls it and what it registers is missing; decorate it with `@hookimpl` "
                                     "(from merbench.hookspecs import hookimpl)")

    def _loaded_by(self, plugin: Any) -> Provider | None:
        """The entry point that already registered ``plugin`` (the same module named by a second entry point), or
        ``None``."""
        if not self._pm.is_registered(plugin):
            return None
        name = self._pm.get_name(plugin)
        return next(r.provider for r in self.records if f"{r.provider.distribution}:{r.provider.entry_point}" == name)

    def _check_disabled(self, entry_points: list[tuple[metadata.EntryPoint, str, str]]) -> None:
        """Say which ``MERBENCH_DISABLE_PLUGINS`` entries match no entry point, and which plain names match the entry
        points of several distributions (all of them are skipped: ``DIST:NAME`` picks one)."""
        matches = {entry: [(dist, version) for ep, dist, version in entry_points if _disables(entry, ep.name, dist)]
                   for entry in sorted(self.disabled)}
        self.disabled_unknown = [entry for entry, found in matches.items() if not found]
        if self.disabled_unknown:
            known = {ep.name for ep, _, _ in entry_points} | {f"{dist}:{ep.name}" for ep, dist, _ in entry_points}
            self._report_disabled(f"MERBENCH_DISABLE_PLUGINS names {', '.join(self.disabled_unknown)}, which no "
                                  "installed entry point is called; "
                                  f"{_unknown_disabled_hint(self.disabled_unknown, known)}")
        for entry, found in matches.items():
            if len({distribution_key(dist) for dist, _ in found}) > 1:
                example = next((dist for dist, _ in found if distribution_key(dist) != OWN_DISTRIBUTION), found[-1][0])
                self.disabled_shared.append(
                    f"MERBENCH_DISABLE_PLUGINS names '{entry}', the entry point of {len(found)} distributions "
                    f"({_names([f'{dist} {version}' for dist, version in found])}), so all of them are skipped; to "
                    f"skip one, write DIST:NAME, e.g. {example}:{entry}")
        for note in self.disabled_shared:
            self._report_disabled(note)

    def _report_disabled(self, message: str) -> None:
        """Report a problem of ``MERBENCH_DISABLE_PLUGINS`` itself, like a plugin's (an error under strict)."""
        self.disabled_problems.append(message)
        self._report(None, message)

    def _marked_hooks(self, plugin: Any) -> Iterator[tuple[str, Callable[..., Any], tuple[str, ...]]]:
        """Each hook function ``plugin`` marks with ``@hookimpl``: its hook's name, the function and the argument
        names its hookspec passes."""
        for hook in HOOK_NAMES:
            function = getattr(plugin, hook, None)
            if callable(function) and self._pm.parse_hookimpl_opts(plugin, hook) is not None:
                yield hook, function, tuple(getattr(self._pm.hook, hook).spec.argnames)

    def _unbound_hooks(self, plugin: Any) -> list[str]:
        """The hooks marked on a class given as the plugin (``mod:MyPlugin``) that are instance methods (``def
        merbench_register_models(self, register)``), which need an instance; empty for anything else."""
        if not isinstance(plugin, type):
            return []
        return [hook for hook, function, expected in self._marked_hooks(plugin)
                if isinstance(inspect.getattr_static(plugin, hook), types.FunctionType)  # not a static/classmethod
                and _takes_self(function, expected)]

    def _uncallable_hooks(self, plugin: Any) -> str | None:
        """Why a registered plugin's hook would not do its job when merbench calls it (``hook(register=...)``): a hook
        function taking no ``register`` argument (``def merbench_register_models()``), which pluggy calls without
        it, so that it registers nothing; ``None`` when every hook takes what it is passed."""
        wrong = []
        for hook, function, expected in self._marked_hooks(plugin):
            try:
                inspect.signature(function).bind(**{name: None for name in expected})
            except TypeError:
                given = _argument_names(function) or ()
                takes = (f"takes no {_names(expected, 'or')} argument, which the hook passes"
                         if not set(expected) & set(given) else "needs arguments the hook does not pass")
                wrong.append(f"{hook}({', '.join(given)}) in {_plugin_label(plugin)} {takes}: name the argument "
                             f"{_names(expected, 'or')} (def {hook}({', '.join(expected)}))")
            except ValueError:  # its signature cannot be read: the call says what is wrong, if anything
                continue
        return "; ".join(wrong) or None

    def _registration_problem(self, plugin: Any, exc: Exception) -> str:
        """pluggy's refusal of ``plugin`` as one line that says how to fix it.

        A hook function whose arguments are not the hookspec's (``def merbench_register_models(reg)``) is
        named with the argument the hook passes; an unknown hook name gets a did-you-mean. The plugin is
        named by its module's dotted name, never its ``<module ... from '/path'>`` repr.
        """
        where = _plugin_label(plugin)
        wrong = []
        for hook, function, expected in self._marked_hooks(plugin):
            given = _argument_names(function)
            extra = [name for name in given if name not in expected] if given is not None else []
            if extra:
                wrong.append(f"{hook}({', '.join(given)}) in {where} takes {_names(extra)}, which the hook does not "
                             f"pass: name the argument {_names(expected, 'or')} "
                             f"(def {hook}({', '.join(expected)}))")
        if wrong:
            return "; ".join(wrong)
        unknown = re.search(r"unknown hook '([^']+)'", str(exc))
        if unknown:
            return f"unknown hook '{unknown.group(1)}' in {where}{_hook_name_hint(str(exc))}"
        return " ".join(str(exc).split())

    def _collect(self) -> None:
        by_name = {f"{r.provider.distribution}:{r.provider.entry_point}": r for r in self.records}
        for kind, spec_type in PLUGIN_KINDS.items():
            hook = getattr(self._pm.hook, f"merbench_register_{kind}")
            # get_hookimpls() is in registration order, so built-ins come first.
            for impl in hook.get_hookimpls():
                record = by_name[impl.plugin_name]
                calls: list[Any] = []

                def register(item: Any, _kind=kind, _type=spec_type, _record=record, _calls=calls) -> None:
                    _calls.append(item)
                    self._add(_kind, _type, item, _record)

                try:
                    returned = impl.function(register=register)
                except PluginError:
                    raise
                except SystemExit as exc:
                    self._report(record, f"{record.provider} failed in merbench_register_{kind}: "
                                         f"{exit_reason(exc, in_hook=True)}", exc)
                    continue
                except Exception as exc:
                    self._report(record, f"{record.provider} failed in merbench_register_{kind}: {type(exc).__name__}: {exc}",
                                 exc)
                    continue
                if returned is not None and not (isinstance(returned, (list, tuple))
                                                 and all(item is None for item in returned)):  # [register(s) ...]
                    self._report(record, f"{record.provider}: merbench_register_{kind} returned a "
                                         f"{type(returned).__name__}, which merbench ignores: a hook registers each "
                                         f"plugin by calling register(spec) (and {kind} go in "
                                         f"merbench_register_{kind})")
                elif not calls:  # ModelPlugin(...) built and dropped: the plugin shows no error, its names are unknown
                    self._report_problem(record.provider,
                                         f"{record.provider}: merbench_register_{kind} in {_plugin_label(impl.plugin)} "
                                         f"registered no {kind}: call register({spec_type.__name__}(...)) for each "
                                         "one (a spec built without passing it to register is dropped)")

    def _check_model_inputs(self) -> None:
        """Report a model whose declared input no registered preprocessor produces, or whose ``preprocess_options``
        set an option a registered step does not have or a value the option refuses: it cannot run (``merbench run``
        refuses it), so every command's plugin problems (``list models``, ``info``) say so at once, and its plugin's
        ``PluginRecord.problems`` holds it (``merbench plugins`` shows the plugin as not ``ok``). Options for a step
        no registered preprocessor is are no problem, only a note when its name is close to one that is."""
        from merbench.config import preprocess_options_notes, preprocess_options_problems

        for name, spec in self._items["models"].items():
            problem = self._declared_input_problem(name)
            problems = ([problem] if problem else []) + preprocess_options_problems(name, spec, self)
            provider = self._providers[("models", name)]
            for problem in problems:  # its plugin loaded: a problem of one model, not an error that stopped it loading
                self._report_problem(provider, f"{problem} (from {provider})")
            self._record(provider).notes.extend(f"{note} (from {provider})"
                                                for note in preprocess_options_notes(name, spec, self))

    def _report_problem(self, provider: Provider, message: str) -> None:
        """Report a problem of something ``provider``'s plugin registered, which loaded: held in its
        ``PluginRecord.problems`` (``merbench plugins`` shows the plugin as not ``ok``) and in ``problems``."""
        self._record(provider).problems.append(message)
        self._report(None, message)

    def _record(self, provider: Provider) -> PluginRecord:
        return next(r for r in self.records if (r.provider.distribution, r.provider.entry_point)
                    == (provider.distribution, provider.entry_point))

    def check_factories(self) -> None:
        """Load every ``"module:attribute"`` factory string the registered plugins give (``build=``, ``load=``,
        ``split=``, ...), which otherwise load only when a run first needs them, so that a misspelt one is a problem
        of its plugin (``PluginRecord.problems``) at once. Imports each plugin's modules (and so torch): for
        ``merbench plugins``, the command that diagnoses plugins, not for every command."""
        from merbench.contracts import resolve_factory

        for kind, roles in FACTORY_FIELDS.items():
            for name in self.names(kind):
                item, provider = self._items[kind][name], self._providers[(kind, name)]
                for role in roles:
                    factory = getattr(item, role, None)
                    if not isinstance(factory, str) or factory in LITERAL_VALUES.get(role, ()):
                        continue
                    try:
                        with contextlib.redirect_stdout(sys.stderr):  # as when the plugins loaded
                            function = resolve_factory(factory, self.label(kind, name), role)
                    except PluginError as exc:
                        self._report_problem(provider, str(exc))
                        continue
                    for problem in _call_problems(kind, item, role, function):
                        self._report_problem(provider, f"{self.label(kind, name)}: {problem}")

    def produced_inputs(self) -> list[str]:
        """Every representation some registered preprocessor produces, sorted."""
        return sorted({spec.produces for spec in self._items["preprocessors"].values()})

    def input_problem(self, model: str, chain: Iterable[str] | None = None) -> str | None:
        """Why model ``model`` cannot run as its plugin declares it: no registered preprocessor produces its declared
        input, or its ``preprocess_options`` for a step of ``chain`` (``None``: any step) cannot be applied (the
        first such problem); ``None`` when it can."""
        from merbench.config import preprocess_options_problems

        problem = self._declared_input_problem(model)
        if problem:
            return problem
        return next(iter(preprocess_options_problems(model, self.get("models", model), self, chain)), None)

    def _declared_input_problem(self, model: str) -> str | None:
        """Why model ``model`` cannot run because no registered preprocessor produces its declared input; ``None``
        when one does (or it declares none)."""
        wanted = getattr(self.get("models", model), "input", None)
        produced = self.produced_inputs()
        if not wanted or wanted in produced:
            return None
        return (f"model '{model}' declares input '{wanted}', which no registered preprocessor produces (they produce "
                f"{', '.join(produced)}), so it cannot run; fix the model plugin's input=, or install the "
                "preprocessor plugin that makes it")

    def _add(self, kind: str, spec_type: type, item: Any, record: PluginRecord) -> None:
        provider = record.provider
        if not isinstance(item, spec_type):
            self._report(record, f"{provider} registered a {type(item).__name__} as one of its {kind}; expected {spec_type.__name__}")
            return
        item = _plain_bools(kind, item)
        name = item.name
        problems = (_name_problems(kind, name) or _section_name_problems(kind, name) or _field_problems(kind, item)
                    or (_option_problems(kind, item) + _protocol_problems(kind, item)
                        + [problem for role in FACTORY_FIELDS.get(kind, ()) if callable(getattr(item, role, None))
                           for problem in _call_problems(kind, item, role, getattr(item, role))]))
        if problems:
            for problem in problems:
                self._report(record, f"{kind[:-1]} '{name}' from {provider} refused: {problem}")
            self._refused[(kind, name if isinstance(name, str) else repr(name))] = f"{provider} registered it: {problems[0]}"
            return
        if name in self._items[kind]:
            first = self._providers[(kind, name)]
            message = (f"{kind[:-1]} '{name}' from {provider} refused: the name is already registered by {first}; "
                       f"give yours another name (each {kind[:-1]} name belongs to one plugin)")
            if first.builtin and provider.builtin:
                raise PluginError(message)
            self._report(record, message)
            return
        self._items[kind][name] = item
        self._providers[(kind, name)] = provider
        record.registered.setdefault(kind, []).append(name)

    # ------------------------------------------------------------------ lookup

    def names(self, kind: str) -> list[str]:
        """Registered names of one kind, sorted."""
        return sorted(self._items[kind])

    def items(self, kind: str) -> list[Any]:
        """Registered specs of one kind, sorted by name."""
        return [self._items[kind][name] for name in self.names(kind)]

    def provider(self, kind: str, name: str) -> Provider:
        """The provider of a registered name (a family member's is its family's)."""
        family = self._family_of(kind, name)
        return self._providers[(kind, family.name if family is not None else name)]

    def label(self, kind: str, name: str) -> str:
        """``model plugin 'NAME' (DISTRIBUTION VERSION)``: who to blame in messages about a plugin's output."""
        provider = self.provider(kind, name)
        return f"{kind[:-1]} plugin '{name}' ({provider.distribution} {provider.version})"

    def _family_of(self, kind: str, name: str) -> Any:
        """The family spec (a name ending in ``:``) whose prefix ``name`` extends, if any."""
        if name in self._items[kind]:
            return None
        prefix, colon, member = name.partition(":")
        family = self._items[kind].get(prefix + colon) if colon and member else None
        return family if hasattr(family, "build") else None  # families are for models (a build factory)

    def get(self, kind: str, name: str) -> Any:
        """The spec registered under ``name``, or a UsageError with suggestions.

        A name family registered as ``prefix:`` (``timm:``) answers every
        ``prefix:member`` name with a copy of its spec named ``prefix:member``
        whose ``build`` (and ``read_files``) receives ``member`` as its first argument.
        """
        try:
            return self._items[kind][name]
        except KeyError:
            pass
        family = self._family_of(kind, name)
        if family is not None:
            member = name.partition(":")[2]
            members = {role: FamilyFactory(getattr(family, role), member) for role in MEMBER_FIRST
                       if getattr(family, role, None) is not None}
            return dataclasses.replace(family, name=name, **members)
        singular = kind[:-1]
        if (kind, name) in self._refused:
            raise UsageError(f"{singular} '{name}' was refused when {self._refused[(kind, name)]} "
                             "(`merbench plugins` lists the plugin's problems)")
        known = self.names(kind)
        close = close_names(name, known)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        elsewhere = [other for other in self._items if other != kind and name in self._items[other]]
        if elsewhere:  # e.g. --model and --dataset swapped, or `merbench info` given a dataset
            hint = f" '{name}' is a {' and a '.join(other[:-1] for other in elsewhere)}, not a {singular}."
        raise UsageError(
            f"unknown {singular} '{name}'.{hint} Available {kind}: "
            f"{', '.join(shown_name(n) for n in known) or 'none'} "
            f"(see `merbench list {kind}`; a plugin that failed to load is shown by `merbench plugins`)."
            + (f" MERBENCH_DISABLE_PLUGINS={','.join(self.disabled_found)} leaves out those entry points."
               if self.disabled_found else "")
        )


def close_names(name: str, known: Iterable[str]) -> list[str]:
    """The names of ``known`` that ``name`` was likely meant as: those it spells up to capitals, hyphens and
    underscores (``STSTNet``, ``OFF-ApexNet``, ``CASME2`` as papers write them), else up to three close ones, compared
    without regard to capitals."""
    def folded(text: str) -> str:
        return re.sub(r"[-_\s]", "", text.casefold())

    known = list(known)
    same = [candidate for candidate in known if folded(candidate) == folded(name)]
    if same:
        return same
    by_lower = {candidate.casefold(): candidate for candidate in reversed(known)}  # the first of names alike wins
    return [by_lower[match] for match in difflib.get_close_matches(name.casefold(), list(by_lower), n=3, cutoff=0.5)]


HOOK_NAMES = tuple(f"merbench_register_{kind}" for kind in PLUGIN_KINDS)


def _loaded_twice(provider: Provider, first: Provider, plugin: Any) -> str:
    """Why the entry point of ``provider`` is refused: it names the plugin object ``first``'s entry point loaded."""
    fix = ("remove this entry point: the module is merbench's own, registered already" if first.builtin
           else "remove one of the two entry points")
    return (f"its entry point '{provider.entry_point} = {provider.target}' names {_plugin_label(plugin)}, which entry "
            f"point '{first.entry_point} = {first.target}' of {first.distribution} {first.version} already loaded "
            f"(merbench registers each plugin once); {fix}")


def _takes_self(function: Callable[..., Any], expected: tuple[str, ...]) -> bool:
    """Whether ``function`` has a first argument the hook does not pass, ``self`` or one before ``expected``."""
    parameters = list(inspect.signature(function).parameters)
    if not parameters or parameters[0] in expected:
        return False
    try:
        inspect.signature(function).bind(None, **{name: None for name in expected})
    except TypeError:
        return parameters[0] == "self"
    return True


def _class_hint(plugin: type, hooks: list[str]) -> str:
    """Why a class given as the plugin cannot be one, and what to point the entry point at instead."""
    module, name = plugin.__module__, plugin.__qualname__
    return (f"its entry point names {_plugin_label(plugin)}, and {_names(hooks)} "
            f"{'is an instance method' if len(hooks) == 1 else 'are instance methods'} (taking self), which merbench "
            f"cannot call on the class; point the entry point at an instance ({module}:plugin, with "
            f"plugin = {name}() in {module}), or make the hooks module-level functions and point it at {module}")


def _hook_name_hint(message: str) -> str:
    """' Did you mean ...?' for pluggy's "unknown hook 'NAME'" refusal (a misspelt hook), else ''."""
    found = re.search(r"unknown hook '([^']+)'", message)
    close = difflib.get_close_matches(found.group(1), HOOK_NAMES, n=1, cutoff=0.6) if found else []
    return f" (did you mean {close[0]}?)" if close else ""


def _plugin_label(plugin: Any) -> str:
    """A plugin object as a reader knows it: ``module pkg.mod`` (its dotted name), ``class pkg.mod.Name``, else its
    class's name."""
    if isinstance(plugin, types.ModuleType):
        return f"module {plugin.__name__}"
    if isinstance(plugin, type):
        return f"class {plugin.__module__}.{plugin.__qualname__}"
    return f"{type(plugin).__module__}.{type(plugin).__qualname__} object"


def _argument_names(function: Any) -> tuple[str, ...] | None:
    """The names a hook function can be called with (``None``: its signature cannot be read)."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return None
    return tuple(p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY, p.POSITIONAL_ONLY)
                 and p.name not in ("self", "cls"))


def _names(names: Iterable[str], joiner: str = "and") -> str:
    quoted = [f"'{name}'" for name in names]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} {joiner} {quoted[-1]}"


def _unknown_disabled_hint(unknown: list[str], known: Iterable[str]) -> str:
    """How to fix ``MERBENCH_DISABLE_PLUGINS`` names that match no entry point: the closest known name of each
    misspelt one, and where the names are listed."""
    matches = {entry: difflib.get_close_matches(entry, sorted(known), n=1, cutoff=0.6) for entry in unknown}
    close = [f"'{found[0]}'" + (f" for {entry}" if len(unknown) > 1 else "") for entry, found in matches.items() if found]
    listed = (f"fix or drop {'it' if len(unknown) == 1 else 'them'} "
              "(entry point names are listed by `merbench plugins`)")
    return f"did you mean {', '.join(close)}? Otherwise {listed}" if close else listed


def _fix(word: str, choices: Iterable[str], otherwise: str) -> str:
    """``did you mean 'x'?`` for the closest of ``choices`` to a misspelt ``word``, else ``otherwise``."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else otherwise


NAME_RULE = re.compile(r"[a-z0-9][a-z0-9._-]*")
"""A plugin name: lower case letters, digits, ``-``, ``_`` and ``.``, starting with a letter or digit
(a model family's name adds a final ``:``, as ``timm:`` does)."""


def _name_problems(kind: str, name: Any) -> list[str]:
    """Why ``name`` cannot name a plugin of ``kind`` (empty: it can); names are typed on the command line."""
    family = kind == "models"
    stem = name[:-1] if family and isinstance(name, str) and name.endswith(":") else name
    if isinstance(name, str) and NAME_RULE.fullmatch(stem):
        return []
    text = name if isinstance(name, str) else repr(name)
    suggestion = re.sub(r"[^a-z0-9._]+", "-", text.lower()).strip("-._")
    return [f"its name '{text}' may hold only lower case letters, digits, '-', '_' and '.', starting with a letter "
            f"or digit{' (a family of models adds a final :)' if family else ''}, since users type it on the command "
            "line; rename it" + (f", e.g. to '{suggestion}'" if suggestion and suggestion != text else "")]


SETTINGS_KEYS = ("dataset", "model", "protocol", "engine", "executor", "preprocess", "seed", "profile")
"""The sections and keys of a run's settings (``merbench.config.resolve_config``): no preprocessor may be named
like one, since its options are the section named after it."""


def _section_name_problems(kind: str, name: str) -> list[str]:
    """Why a preprocessor cannot be named ``name`` (empty: it can): its options are set as ``NAME.OPTION`` and sit in
    a section named after it, so a name with a ``.`` cannot be addressed (a key is split at its first ``.``), and one
    that is a section or key of the settings would be mixed with merbench's own."""
    if kind != "preprocessors":
        return []
    suggestion = re.sub(r"[.]+", "-", name)
    if "." in name:
        return [f"its name '{name}' holds a '.', but a preprocessor's options are set as NAME.OPTION (--set "
                f"{name}.OPTION=... is read as section '{name.partition('.')[0]}'), so they could not be set; "
                f"rename it without '.', e.g. to '{suggestion}'"]
    if name in SETTINGS_KEYS:
        return [f"its name '{name}' is a section or key of a run's own settings ({', '.join(SETTINGS_KEYS)}), but "
                f"a preprocessor's options are the section named after it, so they would be mixed up with merbench's "
                f"'{name}' settings; rename it, e.g. to '{name}-step'"]
    return []


def _is_factory(value: Any) -> bool:
    return callable(value) or isinstance(value, str)


def _is_optional_factory(value: Any) -> bool:
    return value is None or _is_factory(value)


def _is_text(value: Any) -> bool:
    return isinstance(value, str)


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


def _is_mapping(value: Any) -> bool:
    return isinstance(value, Mapping)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_flops(value: Any) -> bool:
    return isinstance(value, Mapping) and all(isinstance(key, str) and (number is None or _is_number(number))
                                              for key, number in value.items())


def _flops_example(value: Any) -> str:
    return f"flops={{'default': {value!r}}}" if _is_number(value) else "flops={'default': 1.2e6}"


FACTORY = (_is_factory, "a callable or a 'package.module:function' text", "{field}='my_package.module:function'")
OPTIONAL_FACTORY = (_is_optional_factory, "a callable, a 'package.module:function' text or None",
                    "{field}='my_package.module:function', or leave it out")
BOOLEAN = (_is_bool, "True or False", "{field}=True or {field}=False")
COMMON_FIELDS = {
    "description": (_is_text, "text", "description='one line saying what it is'"),
    "options": (_is_mapping, "a mapping of option to default", "options={'KEY': default}"),
    "profiles": (_is_mapping, "a mapping of run profile to option values",
                 "profiles={'quick': {'KEY': value}}"),
    "option_ranges": (_is_mapping, "a mapping of option to accepted values", "option_ranges={'KEY': '>= 1'}"),
}
SPEC_FIELDS = {
    "datasets": {"load": FACTORY, "needs_root": BOOLEAN, "reads_root": BOOLEAN,
                 "gives": (_is_factory, "'frames', 'image' or a factory (root, options) -> str", "gives='frames'")},
    "preprocessors": {"build": FACTORY, "produces": (_is_text, "a representation's name as text",
                                                     "produces='flow-uvs'"),
                      "sets_apex": BOOLEAN, "reads_apex": BOOLEAN},
    "models": {"build": FACTORY, "check_member": OPTIONAL_FACTORY, "read_files": OPTIONAL_FACTORY,
               "input": (_is_text, "a representation's name as text (a preprocessor's produces)", "input='flow-uvs'"),
               "citation": (_is_text, "text", "citation='Author et al., Venue Year', or leave it out"),
               "flops": (_is_flops, "a mapping of run profile to FLOPs per sample (a number)", _flops_example)},
    "protocols": {"split": FACTORY, "expand": OPTIONAL_FACTORY, "partition": BOOLEAN},
}
"""What each spec field must hold (beyond ``name``, the ``NAMES_FIELDS``, what ``_protocol_problems`` and
``_option_problems`` check, and ``preprocess_options``, which ``config.preprocess_options_problems`` checks), as
(test, what it must be, an example to write): a value of another kind registers, then crashes a later command."""
BOOL_FIELDS = {kind: tuple(name for name, check in fields.items() if check is BOOLEAN)
               for kind, fields in SPEC_FIELDS.items()}
BOOL_FIELDS["protocols"] += ("subject_independent",)
"""The fields of each kind's spec that hold True or False (a numpy bool among them is taken as one)."""
PROTOCOL_FOLDS = ("", "n_splits", "per subject", "one")
"""What ``ProtocolPlugin.folds`` may declare."""


def _plain_bools(kind: str, spec: Any) -> Any:
    """``spec`` with each of its ``BOOL_FIELDS`` that holds a numpy bool (``np.False_``, from an array's
    ``.any()``, say) holding the plain bool instead, which every later check and command expects."""
    numpy = sys.modules.get("numpy")  # not imported: no value can be a numpy bool
    if numpy is None or not dataclasses.is_dataclass(spec):
        return spec
    fixed = {name: bool(value) for name in BOOL_FIELDS.get(kind, ())
             if isinstance(value := getattr(spec, name, None), numpy.bool_)}
    return dataclasses.replace(spec, **fixed) if fixed else spec


def _field_problems(kind: str, spec: Any) -> list[str]:
    """Why fields of ``spec`` hold values of the wrong kind (``SPEC_FIELDS``, ``reported``, ``NAMES_FIELDS``,
    ``folds``), or a dataset's root settings contradict each other; empty where none does."""
    problems = []
    for name, (test, what, example) in {**COMMON_FIELDS, **SPEC_FIELDS.get(kind, {})}.items():
        value = getattr(spec, name, None)
        if hasattr(spec, name) and not test(value):  # a protocol has no profiles
            fix = example(value) if callable(example) else example.format(field=name)
            problems.append(f"its {name} is {_described(value)}, not {what}; write {fix}")
    problems += _reported_problems(kind, spec) + _names_field_problems(kind, spec) + _folds_problems(kind, spec)
    return problems or _root_problems(kind, spec)


def _described(value: Any) -> str:
    """A field's value as a message shows it: its type, and its repr where that is short."""
    if value is None or isinstance(value, bool):
        return repr(value)
    shown, kind = repr(value), a_type(value)
    return f"{shown} ({kind})" if len(shown) <= 40 else kind


def _reported_problems(kind: str, spec: Any) -> list[str]:
    """Why a model's ``reported`` is not a tuple of ``ReportedScore`` (a single one, written ``(ReportedScore(...))``
    without the trailing comma; ``None``; a dict in place of one)."""
    if kind != "models":
        return []
    value = spec.reported
    if isinstance(value, ReportedScore):
        return ["its reported is a ReportedScore, not a tuple of them: write reported=(ReportedScore(...),) (a "
                "one-score tuple needs its trailing comma)"]
    if not isinstance(value, (tuple, list)):
        return [f"its reported is {_described(value)}, not a tuple of ReportedScore; write "
                "reported=(ReportedScore(...),), or reported=() for none"]
    return [f"its reported[{index}] is {_described(score)}, not a ReportedScore; write "
            "ReportedScore(dataset, protocol, metric, value, source)"
            for index, score in enumerate(value) if not isinstance(score, ReportedScore)]


def _folds_problems(kind: str, spec: Any) -> list[str]:
    """Why a protocol's ``folds`` is none of ``PROTOCOL_FOLDS`` (``merbench audit`` would take it for ``"one"``)."""
    if kind != "protocols" or spec.folds in PROTOCOL_FOLDS:
        return []
    return [f"its folds is {_described(spec.folds)}, not one of {', '.join(repr(f) for f in PROTOCOL_FOLDS)}; "
            "write folds='n_splits' (its protocol.n_splits option), 'per subject' or 'one', or leave it out"]


def _root_problems(kind: str, spec: Any) -> list[str]:
    """Why a dataset cannot be used by any command: ``reads_root=False`` refuses ``--root`` while ``needs_root=True``
    asks for it."""
    if kind != "datasets" or spec.reads_root or not spec.needs_root:
        return []
    return ["it declares reads_root=False (--root is refused, the loader makes its data) but leaves needs_root=True "
            "(--root must be given), so no command can use it; add needs_root=False"]


NAMES_FIELDS = {"models": ("preprocess", "examples"), "preprocessors": ("accepts",)}
"""The fields of each kind's spec that hold a tuple of names."""


def _names_field_problems(kind: str, spec: Any) -> list[str]:
    """Why a field of ``spec`` that holds a tuple of names (``ModelPlugin.preprocess``, ``examples``,
    ``PreprocessorPlugin.accepts``) does not: a text (``preprocess="flow"``, or ``("flow")`` without its trailing
    comma) would be read letter by letter as the names f, l, o, w; a name that is not text."""
    problems = []
    for name in NAMES_FIELDS.get(kind, ()):
        value = getattr(spec, name, ())
        if isinstance(value, str):
            names = tuple(part.strip() for part in value.split(",") if part.strip())
            problems.append(f"its {name} is the text {value!r}, which merbench would read letter by letter as the "
                            f"names {', '.join(value) or 'none'}; give a tuple of names: {name}={names!r} (a "
                            "one-name tuple needs its trailing comma)")
        elif not isinstance(value, (tuple, list)) or not all(isinstance(item, str) for item in value):
            problems.append(f"its {name} is {value!r}, not a tuple of names; give a tuple of texts, e.g. "
                            f"{name}=('NAME',)")
    return problems


def _call_problems(kind: str, spec: Any, role: str, function: Any) -> list[str]:
    """Why factory ``function`` of ``spec``'s field ``role`` cannot be called as merbench calls it
    (``FACTORY_CALLS``; a family's ``MEMBER_FIRST`` factories get ``member`` first), and, for a preprocessor class, why its
    instances cannot be (``__call__(sample, read_frame, upstream)``); empty where it can or where its signature
    cannot be read (a builtin)."""
    arguments = FACTORY_CALLS.get((kind, role))
    if arguments is None:
        return []
    if kind == "models" and role in MEMBER_FIRST and str(spec.name).endswith(":"):
        arguments = ("member", *arguments)
    named = getattr(function, "__qualname__", None) or type(function).__name__
    problems = []
    wrong = _bind_problem(function, arguments)
    if wrong:
        what = "class" if isinstance(function, type) else "factory"
        fix = (f"its __init__ must take (self, {', '.join(arguments)})" if isinstance(function, type)
               else f"write def {named.rpartition('.')[2]}({', '.join(arguments)})")
        problems.append(f"its {role}= {what} {named}{wrong[0]} cannot be called as merbench calls it, "
                        f"{named}({', '.join(arguments)}) ({wrong[1]}); {fix}")
    call = inspect.getattr_static(function, "__call__", None) if isinstance(function, type) else None
    if kind == "preprocessors" and isinstance(call, types.FunctionType):
        wrong = _bind_problem(call, ("self", *STEP_CALL))
        if wrong:
            problems.append(f"its build= class {named}'s __call__{wrong[0]} cannot be called as merbench calls each "
                            f"built preprocessor, step({', '.join(STEP_CALL)}) ({wrong[1]}); write "
                            f"def __call__(self, {', '.join(STEP_CALL)})")
    return problems


def _bind_problem(function: Any, arguments: tuple[str, ...]) -> tuple[str, str] | None:
    """``function``'s signature and why it cannot take ``arguments`` positionally; ``None`` when it can or its
    signature cannot be read."""
    try:
        signature = inspect.signature(function, follow_wrapped=False)  # a functools.wraps adapter: its own arguments
    except (TypeError, ValueError):
        return None
    try:
        signature.bind(*arguments)
    except TypeError as exc:
        return str(signature), str(exc)
    return None


NAMED_SECTIONS = {"models": "model", "datasets": "dataset", "protocols": "protocol"}
"""The settings section of each kind whose plugin is chosen by name: ``SECTION.name`` is that choice, not an option."""


def _option_problems(kind: str, spec: Any) -> list[str]:
    """What is wrong with a plugin spec's ``option_ranges`` and ``profiles`` (empty: nothing).

    Every ``option_ranges`` key and every key a profile sets must be one of the
    spec's ``options``, each rule must parse, a profile must be one of the run
    profiles (quick, default, paper), and an option's default and a value a
    profile sets for an option with a rule must be ones that ``--set`` would
    accept (its type and its rule, of every kind: a range, choices, a list's
    elements), as CONTRIBUTING.md asks ("Profiles may only set keys that are in
    ``options``").
    """
    from merbench.config import PROFILES, coerce, parse_rule  # the rules the run's configuration applies

    options = dict(getattr(spec, "options", {}) or {})
    listed = ", ".join(options) or "none"
    problems = [f"its option '{option}' defaults to {default!r}, a {type(default).__name__}; {OPTION_VALUES} (what "
                f"--set gives and a run's record holds): write it as {_as_option_value(default)!r}"
                for option, default in options.items() if not _is_option_value(default)]
    wishes = getattr(spec, "preprocess_options", None) or {}
    problems += [f"its preprocess_options['{step}']['{option}'] is {value!r}, a {type(value).__name__}; "
                 f"{OPTION_VALUES} (a run's record holds it): write it as {_as_option_value(value)!r}"
                 for step, values in (wishes.items() if isinstance(wishes, Mapping) else ())
                 if isinstance(values, Mapping) for option, value in values.items() if not _is_option_value(value)]
    section = NAMED_SECTIONS.get(kind)
    if section is not None and "name" in options:
        problems.append(f"its option 'name' cannot be set: --set {section}.name=... (and '{section}: {{name: ...}}' in "
                        f"a --config file) names the {section} itself; rename the option, e.g. to '{section}_name'")
    rules: dict[str, Any] = {}
    for option, rule in dict(getattr(spec, "option_ranges", {}) or {}).items():
        if option not in options:
            problems.append(f"it declares option_ranges['{option}'], but '{option}' is not one of its options "
                            f"({listed}); {_fix(str(option), options, 'add it to options or drop the range')}")
            continue
        try:
            parse_rule(rule)
        except ValueError as exc:
            problems.append(f"it declares option_ranges['{option}']: {exc}")
            continue
        rules[option] = rule
        problem = _default_problem(str(option), options[option], rule) or _text_range_problem(str(option),
                                                                                              options[option], rule)
        if problem:
            problems.append(problem)
    for profile, values in dict(getattr(spec, "profiles", {}) or {}).items():
        if profile not in PROFILES:
            problems.append(f"it declares profiles['{profile}'], but the run profiles are {', '.join(PROFILES)}; "
                            f"{_fix(str(profile), PROFILES, 'name one of them')}")
            continue
        if not isinstance(values, Mapping):
            problems.append(f"its profiles['{profile}'] is a {type(values).__name__}, not a mapping of option values; "
                            "write e.g. {'width': 8}")
            continue
        for option, value in values.items():
            if option not in options:
                problems.append(f"its profile '{profile}' sets '{option}', which is not one of its options "
                                f"({listed}); {_fix(str(option), options, 'add it to options or drop it from the profile')}"
                                " (a profile may only set keys of options)")
                continue
            given_kind, default_kind = _value_kind(value), _value_kind(options[option])
            if not _is_option_value(value):
                problems.append(f"its profile '{profile}' sets {option}={value!r}, a {type(value).__name__}; "
                                f"{OPTION_VALUES}: write it as {_as_option_value(value)!r}")
            elif given_kind and default_kind and given_kind != default_kind:  # --set converts to the default's: 6 to [6]
                problems.append(f"its profile '{profile}' sets {option}={value!r}, {given_kind}, but its default "
                                f"{options[option]!r} is {default_kind}; --set converts every value to the default's "
                                "kind, so give both the same kind")
            elif option in rules:
                try:
                    coerce(str(option), value, options[option], rules[option])
                except MerbenchError as exc:
                    problems.append(f"its profile '{profile}' sets {exc}, as its option_ranges declare; "
                                    "change the profile's value or the range")
    return problems


OPTION_VALUES = "an option's value is a number, text, true or false, none, or a list of them"


def _is_option_value(value: Any) -> bool:
    """Whether ``value`` is of a kind an option's default may be: ``None``, a number, text, true or false, or a list
    (or tuple) of them."""
    scalar = (type(None), bool, int, float, str)
    return isinstance(value, scalar) or (isinstance(value, (list, tuple)) and all(isinstance(v, scalar) for v in value))


def _as_option_value(value: Any) -> Any:
    """What to write instead of an option default of another kind: its text (a path's), or a list of texts."""
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return [_as_option_value(item) if not _is_option_value(item) else item for item in items]
    if callable(getattr(value, "item", None)) and getattr(value, "shape", None) == ():  # numpy's 16, 0.5, True
        return value.item()
    return str(value)


def _value_kind(value: Any) -> str | None:
    """An option value's kind as ``--set`` converts to it: ``a list``, ``a number``, ``true or false``, ``text``;
    ``None`` for an unset value (``None``, ``""``), which any kind may replace."""
    if value is None or value == "":
        return None
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, (int, float)):
        return "a number"
    return "text" if isinstance(value, str) else None


def _text_range_problem(option: str, default: Any, rule: Any) -> str | None:
    """Why a default that is no number cannot have a number range as its rule (``"12"`` with ``">= 1"``, ``True``,
    ``["a"]``): ``--set`` converts a value to the default's kind, so every value would stay text (or true or false)
    and the range would never be applied. An unset default (``None``, ``""``, ``[]``) may: its values are numbers."""
    from merbench.config import Range, parse_rule

    if not isinstance(parse_rule(rule), Range):
        return None
    values = default if isinstance(default, (list, tuple)) else [default]
    kinds = [kind for kind in map(_value_kind, values) if kind not in (None, "a number")]
    if not kinds:
        return None
    listed = isinstance(default, (list, tuple))
    number = f"write {'its elements as numbers' if listed else 'the default as a number'}"
    fix = f"{number}, or {'give the rule as a tuple of text choices' if kinds[0] == 'text' else 'drop the range'}"
    held = "holds" if listed else "is"
    return (f"its default {option}={default!r} {held} {kinds[0]}, but its option_ranges rule {rule!r} is a number "
            f"range, which --set would never apply (it keeps a {kinds[0]} option's values {kinds[0]}); {fix}")


def _protocol_problems(kind: str, spec: Any) -> list[str]:
    """What is wrong with a protocol spec's honesty declaration (empty: nothing, or not a protocol): its
    ``subject_independent`` must be ``True`` or ``False``, and a protocol that is not subject-independent must say
    what leaks in a ``warning`` (shown with every run of it), as CONTRIBUTING.md asks."""
    if kind != "protocols":
        return []
    declared = spec.subject_independent
    if not isinstance(declared, bool):
        return [f"its subject_independent is {declared!r} ({type(declared).__name__}), not True or False; declare "
                "subject_independent=True only when no subject is ever in both training and test of a fold, else "
                "subject_independent=False with a warning"]
    if not isinstance(spec.warning, str):
        return [f"its warning is {type(spec.warning).__name__}, not text; give warning='...' saying what leaks, or "
                "leave it out"]
    if not declared and not spec.warning.strip():
        return ["it declares subject_independent=False without a warning; give warning='...' saying what leaks "
                "between training and test (e.g. 'clips of one subject are in training and test: scores are "
                "inflated'), shown with every run of it"]
    return []


def _default_problem(option: str, default: Any, rule: Any) -> str | None:
    """Why an option's default is a value its own rule refuses, checked as ``--set OPTION=DEFAULT`` would be
    (``config.coerce``: a number's range, a text's or a list's choices, each element of a list); ``None`` when it
    is accepted. ``None`` and ``""`` mean "unset" and a ``"file"`` rule's default is a path on the user's machine,
    so neither is checked here."""
    from merbench.config import FILE_RULE, coerce

    if default is None or default == "" or rule == FILE_RULE:
        return None
    try:
        coerce(option, default, default, rule)
    except MerbenchError as exc:
        return f"its default {exc}, as its own option_ranges declare; change the default or the range"
    return None


def _import_hint(target: str, distribution: str, exc: Exception) -> str:
    """How to fix an entry point whose target is not there: its module (``ModuleNotFoundError`` for the target's
    own module) or its attribute (``AttributeError`` after ``module:attribute``); empty for other failures (an error
    inside the plugin's code, which the message already quotes)."""
    module, _, attribute = target.partition(":")
    missing_module = isinstance(exc, ModuleNotFoundError) and exc.name is not None and (
        module == exc.name or module.startswith(exc.name + "."))  # not a dependency the plugin's code imports
    missing_attribute = isinstance(exc, AttributeError) and bool(attribute) and getattr(exc, "name", None) == attribute
    if not (missing_module or missing_attribute):
        return ""
    return (f"; the entry point names '{target}', which is not there: check [project.entry-points.merbench] in "
            f"{distribution}'s pyproject.toml (a module path such as my_package.plugin), then reinstall it "
            "(pip install -e .)")


def _unmarked_hooks_hint(plugin: Any) -> str:
    """How to fix an entry point that implements no hook: name the hook functions that lack ``@hookimpl``."""
    unmarked = [name for name in HOOK_NAMES if callable(getattr(plugin, name, None))]
    if unmarked:
        return (f"{', '.join(unmarked)} {'is' if len(unmarked) == 1 else 'are'} not marked @hookimpl; "
                "decorate with `from merbench.hookspecs import hookimpl` and `@hookimpl`")
    return (f"define one of {', '.join(HOOK_NAMES)} marked @hookimpl (from merbench.hookspecs), "
            "or point the entry point at the module that does")


_registry: Registry | None = None


def get_registry() -> Registry:
    """The process-wide registry, loaded on first use."""
    global _registry
    if _registry is None:
        _registry = Registry()
    return _registry


def reset_registry() -> None:
    """Forget the loaded registry (tests install and remove plugins)."""
    global _registry
    _registry = None
