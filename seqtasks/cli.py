"""The `seqtasks` command: train | evaluate | predict | export | finetune, for every registered task.

Parsing only: each subcommand calls the function of the same name in `seqtasks.runtime.commands`. User errors
(`SeqtasksError`) are printed as one line `error: ...` with exit status 2, never as a traceback.

Examples:
    seqtasks train --task text_generation
    seqtasks train --task text_generation --config recipes/configs/text_generation_gpu.yaml --set train.epochs=5
    seqtasks predict --workdir runs/text_generation "ROMEO:"
    seqtasks finetune --from runs/text_generation --workdir runs/mine --data my_text.txt
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from seqtasks.errors import SeqtasksError, report_errors


def _common(p: argparse.ArgumentParser, task_required: bool) -> None:
    p.add_argument("--task", required=task_required, help="task name (text_generation, sentiment, ...)")
    p.add_argument("--workdir", help="run directory (default: runs/TASK)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override one config value (repeatable), e.g. --set train.epochs=3")


def _data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", action="append", default=[], metavar="YAML",
                   help="config file (repeatable; later files override earlier ones)")
    p.add_argument("--data", nargs="+", action="extend", metavar="PATH",
                   help="your own data: files and/or folders (sets data.path)")
    p.add_argument("--data-dir", help="local folder with original dataset files for offline use "
                   "(default: $SEQTASKS_DATA_DIR)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="seqtasks", description="Recurrent sequence models, end to end.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train a task (resumes the run in --workdir if it has a checkpoint)")
    _common(p, task_required=True)
    _data_args(p)
    p.add_argument("--resume", action="store_true", help="require a checkpoint in --workdir to resume from")

    p = sub.add_parser("evaluate", help="score a trained run on its validation split or on --data files")
    _common(p, task_required=False)
    p.add_argument("--data", nargs="+", action="extend", metavar="PATH", help="files to score")

    p = sub.add_parser("predict", help="run a trained model on inputs (arguments, --input-file or stdin)")
    _common(p, task_required=False)
    p.add_argument("inputs", nargs="*", help="raw inputs (texts, prompts, audio paths, depending on the task)")
    p.add_argument("--input-file", help="file with one input per line ('-' = stdin)")

    p = sub.add_parser("export", help="write a trained run's best model as a SavedModel, LiteRT or ONNX model")
    _common(p, task_required=False)
    p.add_argument("--format", choices=["saved_model", "litert", "onnx"],
                   help="saved_model (raw inputs), litert (model.tflite) or onnx (model.onnx), each litert/onnx "
                   "export with export.json and the numpy runner seqtasks_portable.py (default: export.format)")
    p.add_argument("--quantize", choices=["none", "float16", "dynamic_int8"],
                   help="weights of a litert/onnx export (default: export.quantize, none = float32)")
    p.add_argument("--out", help="export folder (default: RUN/export, or RUN/export-FORMAT for a format other than "
                   "export.format); must be new, empty or a previous export of this run: a folder holding anything "
                   "else is never emptied")
    p.add_argument("--force", action="store_true",
                   help="also replace a previous seqtasks export of another run (never other files)")

    p = sub.add_parser("finetune", help="continue a trained run on your own data, in a new run directory")
    _common(p, task_required=False)
    _data_args(p)
    p.add_argument("--from", dest="source", required=True, metavar="RUN_DIR", help="the trained run to start from (the new run goes to --workdir, default RUN_DIR-finetuned)")

    from seqtasks.diagnostics.commands import add_diagnose_parser

    add_diagnose_parser(sub)
    return parser


def _workdir(args: argparse.Namespace) -> str:
    if args.workdir:
        return args.workdir
    if args.task:
        return str(Path("runs") / args.task)
    raise SeqtasksError("pass --workdir RUN_DIR (the folder of a `seqtasks train` run)")


def _read_inputs(args: argparse.Namespace) -> list[str]:
    from seqtasks.errors import DataError

    inputs = list(args.inputs)
    if args.input_file:
        if args.input_file == "-":
            inputs += _stdin_text().splitlines()
        else:
            path = Path(args.input_file)
            if not path.is_file():
                raise DataError(f"input file {path} does not exist")
            inputs += _decode(path.read_bytes(), f"input file {path}").splitlines()
    elif not inputs and not sys.stdin.isatty():
        inputs = [line for line in _stdin_text().splitlines() if line.strip()]
    return inputs


def _stdin_text() -> str:
    buffer = getattr(sys.stdin, "buffer", None)
    if buffer is not None:
        return _decode(buffer.read(), "standard input")
    try:
        return sys.stdin.read()
    except UnicodeDecodeError as e:
        raise _not_utf8("standard input", e) from None


def _decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise _not_utf8(name, e, f", line {line}") from None


def _not_utf8(name: str, e: UnicodeDecodeError, where: str = "") -> Exception:
    from seqtasks.errors import DataError

    byte = e.object[e.start] if isinstance(e.object, bytes) else None
    detail = f"byte 0x{byte:02x} at offset {e.start}{where}" if byte is not None else e.reason
    return DataError(f"{name} is not UTF-8 text ({detail}); convert it to UTF-8, e.g. with `iconv -f latin1 -t utf-8`")


def run(args: argparse.Namespace) -> int:
    from seqtasks.runtime import commands

    if args.command == "train":
        outcome = commands.train(
            args.task, _workdir(args), args.config, args.overrides, args.data, args.data_dir,
            resume=True if args.resume else None,
        )
        print(f"run directory: {outcome.run.root}")
        for key, value in outcome.evaluation.items():
            print(f"{key}: {value:.4f}" if isinstance(value, float) else f"{key}: {value}")
        if outcome.export_dir:
            print(f"exported: {outcome.export_dir}")
    elif args.command == "evaluate":
        commands.evaluate(_workdir(args), args.task, args.data, args.overrides)
    elif args.command == "predict":
        run_dir, task_name = commands.task_for_run(_workdir(args), args.task)
        run_dir.require_trained()  # before waiting for inputs on stdin
        commands.predict(run_dir.root, _read_inputs(args), task_name, args.overrides)
    elif args.command == "export":
        written = commands.export(_workdir(args), args.task, args.out, args.overrides, force=args.force,
                                  fmt=args.format, quantize=args.quantize)
        print(f"exported: {written}")
    elif args.command == "finetune":
        # The source run is never written to: without --workdir the new run goes next to it.
        workdir = args.workdir or str(Path(args.source).resolve()) + "-finetuned"
        outcome = commands.finetune(
            args.task, args.source, workdir, args.config, args.overrides, args.data, args.data_dir
        )
        print(f"run directory: {outcome.run.root}")
        for key, value in outcome.evaluation.items():
            print(f"{key}: {value:.4f}" if isinstance(value, float) else f"{key}: {value}")
        if outcome.export_dir:
            print(f"exported: {outcome.export_dir}")
    elif args.command == "diagnose":
        from seqtasks.diagnostics.commands import diagnose

        diagnose(args)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `seqtasks` console script; returns the exit status.

    TensorFlow's start-up notices and INFO/WARNING log lines are hidden (`import seqtasks` arranges it);
    set SEQTASKS_TF_LOG=1 to see them.
    """
    args = build_parser().parse_args(argv)
    return report_errors(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
