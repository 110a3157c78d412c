"""Exceptions raised by the library; only the CLI turns them into messages and exit codes."""


class KbError(Exception):
    """Base class for every error kb reports to a user."""


class UsageError(KbError):
    """The request itself is wrong (empty query, unknown agency): exit code 2."""


class EmptyQuery(UsageError):
    pass


class QueryTooLong(UsageError):
    pass


class UnknownAgency(UsageError):
    pass


class UnknownDocument(UsageError):
    pass


class IndexMissing(KbError):
    pass


class IndexMismatch(KbError):
    pass


class UnreadableDocument(KbError):
    """A file that cannot be indexed; the message is the reason, on one line."""


class IndexLocked(KbError):
    """Another kb reindex is writing the index; the message says which process."""
