"""`seqtasks diagnose gradients | clipping | sweep`: the diagnostics' command-line entry points.

`seqtasks.cli` can hook these in with two lines (see `add_diagnose_parser`); until then the same commands run as
`python -m seqtasks.diagnostics gradients|clipping|sweep ...` or `python -m seqtasks.diagnostics.<name> ...`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from seqtasks.errors import SeqtasksError

_COMMANDS = {
    "gradients": ("seqtasks.diagnostics.gradients", "gradient norm vs steps back for cells or a trained run"),
    "clipping": ("seqtasks.diagnostics.clipping", "train an exploding RNN with and without gradient clipping"),
    "sweep": ("seqtasks.diagnostics.sweep", "longest T each cell solves on the memory task"),
}


def _module(name: str):
    import importlib

    return importlib.import_module(_COMMANDS[name][0])


def add_diagnose_parser(subparsers) -> argparse.ArgumentParser:
    """Adds `diagnose {gradients,clipping,sweep}` to an argparse subparsers object (the `seqtasks` CLI's).

    Example (in `seqtasks.cli.build_parser` and `run`):

        from seqtasks.diagnostics.commands import add_diagnose_parser, diagnose
        add_diagnose_parser(sub)
        ...
        elif args.command == "diagnose":
            diagnose(args)
    """
    p = subparsers.add_parser("diagnose", help="gradient flow, clipping and long-range memory diagnostics")
    inner = p.add_subparsers(dest="diagnosis", required=True, metavar="DIAGNOSIS")
    for name, (_, help_text) in _COMMANDS.items():
        _module(name).add_arguments(inner.add_parser(name, help=help_text, description=help_text))
    return p


def diagnose(args: argparse.Namespace) -> None:
    """Runs the diagnosis named by `args.diagnosis` (raises `SeqtasksError` for user errors)."""
    _module(args.diagnosis).run_from_args(args)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m seqtasks.diagnostics gradients|clipping|sweep ...`."""
    parser = argparse.ArgumentParser(prog="python -m seqtasks.diagnostics", description="seqtasks diagnostics")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, help_text) in _COMMANDS.items():
        _module(name).add_arguments(sub.add_parser(name, help=help_text, description=help_text))

    def run(args: argparse.Namespace) -> None:
        args.diagnosis = args.command
        diagnose(args)

    return _run_parsed(parser, run, argv)


def run_module(name: str, description: str, add_arguments, run_from_args, argv: Sequence[str] | None) -> int:
    """The shared `main` of `python -m seqtasks.diagnostics.<name>`: parse, run, one-line user errors."""
    parser = argparse.ArgumentParser(prog=f"python -m seqtasks.diagnostics.{name}", description=description)
    add_arguments(parser)
    return _run_parsed(parser, run_from_args, argv)


def _run_parsed(parser: argparse.ArgumentParser, run: Callable[[argparse.Namespace], None],
                argv: Sequence[str] | None) -> int:
    """Parses `argv`, runs, and turns seqtasks errors into one `error:` line and exit status 2.

    (`import seqtasks` has already set TF_CPP_MIN_LOG_LEVEL and quieted TensorFlow's start-up.)
    """
    args = parser.parse_args(argv)
    try:
        run(args)
    except SeqtasksError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
