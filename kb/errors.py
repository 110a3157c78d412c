"""Exceptions raised by the library; only the CLI and the web app turn them into messages, exit
codes and HTTP statuses."""

import errno


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


class IndexDamaged(KbError):
    """A file of the index cannot be read (a damaged disk, a file overwritten): it must be built
    again."""


class StoreFailed(KbError):
    """The index could not be written or reached: a full disk, a Chroma server gone."""


class DiskFull(StoreFailed):
    """The disk holding the index (or the packs, or the accounts) is full."""


REBUILD = (
    "run `kb reindex --rebuild` to build it again from the corpus (the trainers' packs are kept)"
)


def store_failure(error: BaseException, where: str) -> KbError | None:
    """kb's one-line error for a failure of the index's storage at `where` (a folder or a Chroma
    server's URL): a full disk, a damaged file, a lost server; None for any other error."""
    if isinstance(error, KbError):
        return error
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    lower = text.lower()
    if (isinstance(error, OSError) and error.errno == errno.ENOSPC) or any(
        sign in lower for sign in ("disk is full", "no space left", "quota exceeded")
    ):
        return DiskFull(
            f"the disk holding {where} is full: free some space, then run `kb reindex` again; "
            "the index being served is unchanged"
        )
    if any(sign in lower for sign in ("malformed", "not a database", "file is encrypted")):
        return IndexDamaged(f"the index at {where} cannot be read ({text}): {REBUILD}")
    if isinstance(error, ConnectionError) or any(
        sign in lower
        for sign in (
            "could not connect",
            "connection refused",
            "connecterror",
            "server disconnected",
        )
    ):
        return StoreFailed(
            f"lost the Chroma server at {where} ({text}): start it again, then run `kb reindex`; "
            "the index being served is unchanged"
        )
    return None


def unusable(what: str, path: object, error: BaseException) -> KbError:
    """kb's error for a file it writes as people work (the packs, the accounts) that it cannot
    use: on a full disk, saying that nothing was saved and nothing saved before was lost."""
    if isinstance(store_failure(error, str(path)), DiskFull):
        return DiskFull(
            f"the disk holding {path} is full, so nothing could be saved: ask the administrator "
            "to free some space. Nothing already saved was lost"
        )
    return KbError(f"cannot use {what} {path}: {error}")


class IndexLocked(KbError):
    """Another kb reindex is writing the index; the message says which process."""


# Bidirectional marks, overrides and isolates: they can make a name read otherwise than it is.
_BIDI = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


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
