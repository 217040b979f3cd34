"""Reading a user's own text: one file, several files or folders, with one-line errors for bad files."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from seqtasks.errors import DataError

# Bytes of a file inspected for NUL bytes, the telltale of binary data (UTF-8 text never contains them).
_SNIFF_BYTES = 8192


def text_files(paths: Iterable[str | os.PathLike], suffixes: tuple[str, ...] | None = None) -> list[Path]:
    """Expands files and folders into a sorted list of files (folders recursively, hidden files skipped).

    Args:
        paths: Files and/or folders.
        suffixes: If given, only files in folders with these suffixes (e.g. `(".txt",)`) are taken; files named
            explicitly are always taken.

    Raises:
        DataError: a path that does not exist, a folder with no files, or no path at all.
    """
    files: list[Path] = []
    paths = [Path(p).expanduser() for p in paths]
    if not paths:
        raise DataError("no data given: pass a text file or folder (--data PATH or data.path)")
    for path in paths:
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            found = sorted(
                p for p in path.rglob("*")
                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
                and (suffixes is None or p.suffix.lower() in suffixes)
            )
            if not found:
                kind = f" with suffix {', '.join(suffixes)}" if suffixes else ""
                raise DataError(f"folder {path} holds no files{kind}; put your text files in it or pass files")
            files.extend(found)
        else:
            raise DataError(f"data path {path} does not exist; check the path given to --data / data.path")
    return files


def read_text_file(path: str | os.PathLike) -> str:
    """Reads a UTF-8 text file (a leading byte-order mark is dropped; CRLF line ends become LF).

    Raises:
        DataError: missing, a folder, empty, binary (NUL bytes) or not valid UTF-8 — naming the file, the line
            and what to do.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"text file {path} does not exist; check the path")
    if path.is_dir():
        raise DataError(f"{path} is a folder; pass it as data.path / --data to read every file in it")
    data = path.read_bytes()
    if not data.strip():
        raise DataError(f"text file {path} is empty; give a file with text in it")
    nul = data.find(b"\x00", 0, _SNIFF_BYTES)
    if nul >= 0:
        raise DataError(
            f"{path} looks like a binary file (NUL byte at offset {nul}), not text; pass a UTF-8 text file"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise DataError(
            f"{path} is not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}, line {line}); "
            f"convert it, e.g. `iconv -f latin1 -t utf-8 {path.name} > {path.stem}.utf8{path.suffix}`"
        ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    return text.replace("\r\n", "\n")


def read_texts(paths: Iterable[str | os.PathLike], suffixes: tuple[str, ...] | None = None) -> list[tuple[Path, str]]:
    """`(path, text)` for every file under `paths` (see `text_files` and `read_text_file`)."""
    return [(p, read_text_file(p)) for p in text_files(paths, suffixes)]
