"""Reading the user's own text: files, folders and one-line errors for bad files."""

from __future__ import annotations

import pytest

from seqtasks.data import read_text_file, read_texts, text_files
from seqtasks.errors import DataError


def test_reads_files_and_folders(tmp_path):
    (tmp_path / "books").mkdir()
    (tmp_path / "books" / "b.txt").write_text("second\n")
    (tmp_path / "books" / "a.txt").write_text("first\n")
    (tmp_path / "books" / "notes.md").write_text("skip me\n")
    (tmp_path / "books" / ".hidden.txt").write_text("hidden\n")
    single = tmp_path / "one.txt"
    single.write_bytes("\ufeffline one\r\nline two\r\n".encode())
    texts = read_texts([single, tmp_path / "books"], suffixes=(".txt",))
    assert [p.name for p, _ in texts] == ["one.txt", "a.txt", "b.txt"]
    assert texts[0][1] == "line one\nline two\n"  # BOM dropped, CRLF normalised
    assert len(text_files([tmp_path / "books"])) == 3  # no suffix filter: notes.md too, never hidden files


@pytest.mark.parametrize(
    "content, expected",
    [
        (None, "does not exist"),
        (b"", "is empty"),
        (b"  \n\n", "is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", r"looks like a binary file \(NUL byte at offset 8\)"),
        (b"hello\nd\xe9j\xe0 vu\n", r"is not UTF-8 text \(byte 0xe9 at offset 7, line 2\); convert it"),
    ],
)
def test_bad_files_give_one_line_errors(tmp_path, content, expected):
    path = tmp_path / "input.txt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError, match=expected) as info:
        read_text_file(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_missing_and_empty_folders(tmp_path):
    with pytest.raises(DataError, match="does not exist; check the path given to --data"):
        text_files([tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no files with suffix .txt"):
        text_files([tmp_path / "empty"], suffixes=(".txt",))
    with pytest.raises(DataError, match="no data given"):
        text_files([])
    with pytest.raises(DataError, match="is a folder"):
        read_text_file(tmp_path / "empty")
