"""One exception type for every user-facing error: the CLI prints its message on one line, exit 2."""


class BenchError(Exception):
    """A problem the user can fix (bad input, missing or corrupt data, framework not installed)."""


class DataError(BenchError):
    """A dataset is missing, unreadable, corrupt or fails its checksum."""
