"""One exception type for every user-facing error: the CLI prints its message on one line, exit 2."""

from __future__ import annotations

import argparse
import errno


class BenchError(Exception):
    """A problem the user can fix (bad input, missing or corrupt data, framework not installed)."""


class DataError(BenchError):
    """A dataset is missing, unreadable, corrupt or fails its checksum."""


def show(x: object, width: int = 60) -> str:
    """A value as one short line (repr escapes newlines)."""
    return oneline(repr(x), width)


def oneline(text: str, width: int = 80) -> str:
    """Text made printable on one line (other characters escaped) and cut to `width`."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= width else text[: width - 3] + "..."


class Parser(argparse.ArgumentParser):
    """Every command's argument parser: a bad argument is a BenchError (one `error:` line, exit 2), not
    argparse's usage text followed by the message."""

    def error(self, message: str) -> None:
        raise BenchError(message)


def disk_full(e: OSError) -> str:
    """The one line a full disk (or quota) is reported as, or '' for any other OSError."""
    if e.errno not in (errno.ENOSPC, errno.EDQUOT):
        return ""
    where = f" writing {e.filename}" if e.filename else ""
    return (f"no space left on the device{where}: what was recorded before is kept; "
            "free some space and run the same command again (finished runs are skipped, others resume)")  # fmt: skip
