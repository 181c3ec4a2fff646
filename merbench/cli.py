"""The ``merbench`` command line (contract: docs/design.md, Command line).

Sub-commands live in ``merbench.commands``, one module each. Errors a user can
act on (``MerbenchError``) become one line on stderr and exit code 2 (1 for a
run that failed) here, and only here; ``--debug`` shows the traceback as well.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import difflib
import errno
import faulthandler
import gc
import importlib
import pkgutil
import re
import shlex
import signal
import sys
import threading
import traceback
import warnings
from pathlib import Path
from typing import Any, Callable, Mapping, NoReturn, Sequence

from rich.console import Console
from rich.markup import escape

from merbench import __version__, commands as command_package
from merbench.commands import EPILOG, HelpFormatter
from merbench.errors import MerbenchError, raised_over
from merbench.json_stdout import stdout_kept_for_output
from merbench.tables import FORMATS, make_console, print_error, take_any_text


def _command_modules() -> list:
    modules = [
        importlib.import_module(f"{command_package.__name__}.{info.name}")
        for info in pkgutil.iter_modules(command_package.__path__)
    ]
    return sorted(modules, key=lambda module: (module.ORDER, module.__name__))


GLOBAL_FLAGS = (
    (("--debug",), {"action": "store_true", "help": "show tracebacks of errors"}),
    (("--format",), {"dest": "table_format", "choices": FORMATS,
                     "help": "tables: auto (boxes on a terminal, plain text in a pipe; default), table or plain"}),
)


def _add_global_flags(parser: argparse.ArgumentParser, top: bool) -> None:
    """Add ``--debug`` and ``--format`` (and ``--quiet``) to ``parser`` unless it has them already.

    On sub-commands their default is ``SUPPRESS``, so a flag given before the
    sub-command is not reset by the sub-command's parser.
    """
    taken = set(parser._option_string_actions)
    for flags, options in GLOBAL_FLAGS:
        if not taken.intersection(flags):
            default = (False if options.get("action") == "store_true" else "auto") if top else argparse.SUPPRESS
            parser.add_argument(*flags, **options, default=default)
    if top:
        parser.add_argument("--quiet", dest="global_quiet", action="store_true",
                            help="no progress display (for the commands that show one)")


def _sub_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """Every sub-parser below ``parser`` (``run``, ``datasets check``, ...)."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                found += [child, *_sub_parsers(child)]
    return found


OTHER_SPELLINGS = {"--resume": "--stored", "--stored": "--resume"}
"""An option a command lacks, and the one of that command a user most likely meant (continuing a job is ``run
--resume`` but ``grid/leakage/regress --stored``), suggested before the closest spelling."""
NOT_MEANT = {("--seed", "--seeds"), ("--seeds", "--seed"), ("--stat", "--status"), ("--store", "--storage"),
             ("--model", "--help"), ("--dataset", "--set")}
"""Options spelt alike that mean other things (a seed, a number of seeds; the trials database, the results
store): never suggested for each other."""


class _Parser(argparse.ArgumentParser):
    """argparse's parser, whose errors suggest the closest command or choice (``merbench rn``: did you mean run?).
    Options are never abbreviated: ``regress --seed 3`` was taken for ``--seeds 3``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    given: Sequence[str] = ()
    """The command line being parsed (``parse_args`` sets it), for errors that show how to write it."""

    def error(self, message: str) -> NoReturn:
        """Exit 2 with ``message`` and, for a mistyped choice, the closest valid one; for a missing positional given
        as ``--dataset=casme2``, the command line that gives it."""
        invalid = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if invalid:
            close = difflib.get_close_matches(invalid.group(1), re.findall(r"'([^']*)'", invalid.group(2)), n=1)
            message += f"; did you mean {close[0]}?" if close else ""
        if message.startswith("the following arguments are required:"):
            message += self._positional_as_option()
        super().error(message)

    def _positional_as_option(self) -> str:
        """``; give the dataset as the first argument: ...`` when the command line holds ``--NAME=VALUE`` for a
        positional argument NAME of this command (argparse then finds the positional missing), else ``""``."""
        for token in self.given:
            flag, equals, value = str(token).partition("=")
            positional = self._positional_named(flag) if equals and value else None
            if positional is not None:
                return f"; {positional_hint(self.prog, positional, flag, self.given)}"
        return ""

    def unknown_options(self, extra: Sequence[str], given: Sequence[str] = (), args: Any = None) -> NoReturn:
        """Exit 2 naming the arguments this (sub-)command does not take, with the closest option for each flag; a
        flag named as its positional argument (``datasets check --dataset casme2``) is shown the command without it,
        from ``given`` (the command line) and ``args`` (what was parsed), its other mistyped options corrected."""
        known = [option for action in self._actions for option in action.option_strings]
        hints, fixes, named = [], {}, None
        for item in extra:
            flag = item.split("=", 1)[0]
            positional = self._positional_named(flag)
            if positional is not None:
                named = named or (positional, flag)
                continue
            close = [OTHER_SPELLINGS[flag]] if OTHER_SPELLINGS.get(flag) in known else \
                difflib.get_close_matches(flag, known, n=1) if flag.startswith("-") else []
            close = [option for option in close if (flag, option) not in NOT_MEANT]
            if close:
                fixes[flag] = close[0]
                hints.append(f"{close[0]} (for {flag})" if len(extra) > 2 else close[0])
        message = f"unrecognized arguments: {' '.join(extra)}"
        if named is not None and args is not None:
            message += f"; {positional_hint(self.prog, named[0], named[1], given, getattr(args, named[0].dest), fixes)}"
        self.error(message + (f"; did you mean {', '.join(hints)}?" if hints else ""))

    def _positional_named(self, flag: str) -> argparse.Action | None:
        """The positional argument that ``flag`` names (``--dataset`` for DATASET, ``--model`` for MODEL), if any."""
        name = flag.lstrip("-").lower()
        return next((action for action in self._actions if not action.option_strings and flag.startswith("--")
                     and name in (action.dest.lower(), str(action.metavar or "").lower())), None)


def positional_hint(prog: str, positional: argparse.Action, flag: str, given: Sequence[str], taken: Any = None,
                    fixes: Mapping[str, str] | None = None) -> str:
    """How to give ``positional`` that was written as ``flag`` (``--dataset casme2`` or ``--dataset=casme2``): the
    command line ``given`` with every such flag and its value dropped, one name moved after the command's words, and
    each mistyped option of ``fixes`` written as meant. ``taken`` is what argparse took for the positional: the word
    after the flag, or a name given as the positional besides the flag (then "give one")."""
    words = prog.split()[1:]
    tokens = list(given)
    end = next((i + len(words) for i in range(len(tokens)) if tokens[i:i + len(words)] == words), len(tokens))
    values, rest = [], []
    remaining = iter(tokens[end:])
    for token in remaining:
        name, equals, value = token.partition("=")
        if token == flag:
            following = next(remaining, None)
            if following is not None:
                values.append(following)
        elif name == flag and equals:
            values.append(value)
        else:
            rest.append(f"{fixes[name]}{equals}{value}" if fixes and name in fixes else token)
    besides = taken is not None and str(taken) not in values
    if besides:
        rest.remove(str(taken))
    name_given = str(taken) if besides else (values[0] if values else str(taken))
    what = str(positional.metavar or positional.dest).lower()
    example = shlex.join([prog.split()[0], *tokens[:end], name_given, *rest])
    if len(values) + besides > 1:
        return f"give one {what}, as the first argument: {example}"
    return f"give the {what} as the first argument: {example}"


def build_parser() -> _Parser:
    """The argument parser with every sub-command of ``merbench.commands``; global flags work in either place."""
    parser = _Parser(
        prog="merbench",
        description="Benchmark facial micro-expression recognition models under honest protocols.",
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"merbench {__version__}")
    _add_global_flags(parser, top=True)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _command_modules():
        module.register(subparsers)
    for child in _sub_parsers(parser):
        _add_global_flags(child, top=False)
    return parser


def parse_args(parser: _Parser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse ``argv``; a ``--quiet`` before the sub-command applies to it when it has ``--quiet``."""
    _Parser.given = list(sys.argv[1:] if argv is None else argv)
    args, extra = parser.parse_known_args(argv)
    if extra:  # named by the sub-command that was given, with its own usage line and options
        chosen = next((child for child in _sub_parsers(parser) if child.prog.split()[1:] == _command_path(args)), parser)
        chosen.unknown_options(extra, sys.argv[1:] if argv is None else argv, args)
    if args.global_quiet and hasattr(args, "quiet"):
        args.quiet = True
    return args


def _command_path(args: argparse.Namespace) -> list[str]:
    """The words of the sub-command that was given (``["datasets", "check"]``)."""
    return [word for word in (getattr(args, "command", None), getattr(args, "action", None)) if word]


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the command is so that it stops as on Ctrl-C: completed work kept, the resume command
    said."""


_sigterm_received = threading.Event()
"""Set by ``_terminate``: a library may turn the ``Terminated`` it raised into a plain ``KeyboardInterrupt`` (Ray's
``ray.wait`` does), and the exit code must still say SIGTERM."""


def _terminate(signum: int, frame: Any) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: the message and clean-up are not broken by a second one
    _sigterm_received.set()
    raise Terminated()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``merbench`` console script; returns the exit code."""
    skip_final_collection()
    take_any_text()
    if imported_by_a_starting_worker():
        print_error(make_console(stderr=True), UNGUARDED_SCRIPT)
        return 2
    parser = build_parser()
    args = parse_args(parser, argv)
    if args.command is None:
        parser.print_help()
        return 0
    out = make_console(table_format=args.table_format)
    err = make_console(stderr=True)
    _sigterm_received.clear()
    if argv is None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)  # `kill`, a batch scheduler, a container stop: as Ctrl-C
        if not faulthandler.is_enabled():  # a crash in native code (a plugin's, a library's) says where it was
            faulthandler.enable()
    shown_warning = warnings.showwarning
    if not args.debug:
        warnings.showwarning = _one_line_warning(err)
    try:
        with _stdout_for_output(args, out):  # before any worker process starts: theirs is the stdout they start with
            code = args.handler(args, out, err)
        if argv is None and threading.current_thread() is threading.main_thread():
            # The work is done (the run stored): a Ctrl-C while Python shuts down (torch's and multiprocessing's
            # exit handlers) would only print a traceback over it.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        return code
    except MerbenchError as exc:
        if args.debug:
            traceback.print_exc()
        print_error(err, str(exc))
        return exc.exit_code
    except OSError as exc:
        if exc.errno != errno.ENAMETOOLONG:
            raise
        if args.debug:  # a path checked (exists, is_dir) before any message could name its option
            traceback.print_exc()
        print_error(err, f"{exc.filename or 'a path'}: the name is too long for the file system ({exc.strerror}); "
                    "give a shorter path")
        return 2
    except RuntimeError as exc:
        if not cuda_out_of_memory(exc):
            raise
        if args.debug:
            traceback.print_exc()
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print_error(err, "the GPU ran out of memory" + (f" ({detail})" if detail else "") + ": use a smaller "
                    "engine.batch_size or a smaller model (--profile default, or smaller model.* options), or "
                    "train fewer folds at once (engine.parallel_folds=1) (--debug shows where)")
        return 1
    except MemoryError as exc:  # numpy's _ArrayMemoryError included: a size far beyond this machine
        if args.debug:
            traceback.print_exc()
        detail = str(exc).strip()
        print_error(err, "out of memory" + (f" ({detail})" if detail else "") + ": this machine could not hold what "
                    "the command asked for; use smaller sizes or fewer at once (dataset.size, dataset.frames, "
                    "engine.batch_size, engine.threads, engine.parallel_folds), or a machine with more memory "
                    "(--debug shows where)")
        return 1
    except KeyboardInterrupt:
        # A second Ctrl-C (or `timeout`, which signals the process and then its group) must not break this message;
        # a command line run is about to end, a call from Python gets its handler back.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        terminated = _sigterm_received.is_set() or any(isinstance(stop, Terminated)
                                                    for stop in raised_over(sys.exc_info()[1]))
        err.print("merbench: terminated (SIGTERM)" if terminated else "merbench: interrupted")
        if argv is not None:
            signal.signal(signal.SIGINT, previous)
        return 128 + signal.SIGTERM if terminated else 130
    finally:
        warnings.showwarning = shown_warning


OUTPUT_OPTIONS = ("json", "output")
"""The options (``args`` attributes) that send a command's output to stdout when given ``-`` (``list --json``: ``True``)."""


def _stdout_for_output(args: argparse.Namespace, out: Console) -> contextlib.AbstractContextManager:
    """``stdout_kept_for_output(out)`` when the command writes its output to stdout (``run --json -``, ``list --json``,
    ``report --output -``): a plugin's ``print()`` or a worker's output then goes to stderr, not into the JSON."""
    from merbench.outputs import STDOUT_NAMES

    values = [getattr(args, name, None) for name in OUTPUT_OPTIONS]
    if any(value is True or (value not in (None, False) and str(value) in STDOUT_NAMES) for value in values):
        return stdout_kept_for_output(out)
    return contextlib.nullcontext()


def cuda_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is torch's CUDA out-of-memory error (a ``RuntimeError``; torch is not imported for this)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(exc, torch.cuda.OutOfMemoryError)


def _one_line_warning(err: Console) -> Callable[..., None]:
    """A library's warning as one line naming its source file, instead of Python's two (with a site-packages path
    and the source line); ``--debug`` keeps Python's."""

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        err.print(escape(f"Warning ({category.__name__} from {Path(filename).name}:{lineno}): {message}"),
                  style="yellow", highlight=False)

    return show


UNGUARDED_SCRIPT = ("merbench was called again by a worker process that imports the script which started the run; "
                    'in that script, call merbench under `if __name__ == "__main__":`')


def imported_by_a_starting_worker() -> bool:
    """Whether a worker process is importing the user's script as it starts (a script without a ``__main__`` guard).

    Running the command there would start workers of its own, which
    multiprocessing refuses with a traceback; the worker gets one line instead.
    """
    import multiprocessing

    return bool(getattr(multiprocessing.current_process(), "_inheriting", False))


def skip_final_collection() -> None:
    """Let the process exit without a last garbage collection over everything torch and its libraries loaded.

    That collection took 1.5–2 s at the end of every command that imported
    torch (measured at the end of ``merbench run``). ``gc.freeze`` moves every
    object to the permanent generation, which the collector skips; it runs as
    the last exit handler (registered first, exit handlers run in reverse), after
    the store, worker pools and temporary files were closed, and the operating
    system frees the memory anyway.
    """
    atexit.unregister(gc.freeze)  # once per process, however often main() runs
    atexit.register(gc.freeze)


if __name__ == "__main__":
    sys.exit(main())
