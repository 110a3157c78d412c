"""Exceptions raised by the library; only the CLI and the web app turn them into messages, exit
codes and HTTP statuses."""


class KbError(Exception):
    """Base class for every error kb reports to a user."""


class UsageError(KbError):
    """The request itself is wrong (an empty query, a k out of range): exit code 2, HTTP 400."""


class UnknownName(UsageError):
    """The request names something kb does not hold (an agency, a document, a pack): HTTP 404."""


class EmptyQuery(UsageError):
    pass


class QueryTooLong(UsageError):
    pass


class UnknownAgency(UnknownName):
    pass


class UnknownDocument(UnknownName):
    pass


class UnknownCollection(UnknownName):
    pass


class IndexMissing(KbError):
    pass


class IndexMismatch(KbError):
    pass


class UnreadableDocument(KbError):
    """A file that cannot be indexed; the message is the reason, on one line."""


class IndexLocked(KbError):
    """Another kb reindex is writing the index; the message says which process."""


# Bidirectional overrides and isolates: they can make a name read differently from what it is.
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def printable(text: str) -> str:
    """Text as it may reach a terminal or a log: control characters (a line break, an escape) and
    bidirectional overrides written as escapes (\\n, \\x1b), so a name cannot forge a line or
    recolour a terminal."""
    return "".join(
        character.encode("unicode_escape").decode("ascii")
        if character in _BIDI or (ord(character) < 0x20 or 0x7F <= ord(character) < 0xA0)
        else character
        for character in text
    )
