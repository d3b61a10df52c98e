"""Reading local data files, with errors that name the file and the line."""

import os


class DataError(ValueError):
    """Data that cannot be loaded, with the file (and line) at fault."""


def read_lines(path: str | os.PathLike[str]) -> list[str]:
    """Lines of a UTF-8 file split on "\\n" only (a stray U+2028 must not break alignment)."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise DataError(f"{os.fspath(path)}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{os.fspath(path)}: is a directory, expected a file") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise DataError(f"{os.fspath(path)}:{line}: not valid UTF-8 ({err.reason})") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]
