"""Trainers' accounts and who must sign in: names with an argon2id hash of each password (never the
password), kept in users.sqlite beside packs.sqlite; failed sign-ins counted in memory."""

from __future__ import annotations

import getpass
import ipaddress
import os
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from kb.errors import KbError, UnknownName, UsageError, printable, unusable
from kb.settings import Settings

FILENAME = "users.sqlite"
SECRET_FILENAME = "session.key"
# Length, not composition rules, as NCSC and NIST SP 800-63B advise: three random words pass.
MIN_PASSWORD = 12
MAX_PASSWORD = 1024
MAX_NAME = 100
NAME = re.compile(rf"[^\W_][\w.@-]{{0,{MAX_NAME - 1}}}")
NAME_RULE = f"1 to {MAX_NAME} letters, digits and . _ @ -, starting with a letter or digit"
LOOPBACK_NAMES = ("localhost",)
SIGN_IN_MODES = {
    "auto": "only when kb serve listens beyond this machine, or behind a proxy that signs staff in",
    "on": "always",
    "off": "never; refused unless kb serve listens on this machine alone",
}

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY COLLATE NOCASE,
    hash TEXT NOT NULL,
    -- A sign-in holds this; a new one (a new password, signing out) ends every sign-in before it.
    session TEXT NOT NULL,
    created TEXT NOT NULL,
    changed TEXT NOT NULL
);
"""


class UnknownUser(UnknownName):
    pass


class BadPassword(UsageError):
    pass


@dataclass(frozen=True)
class Account:
    name: str
    created: str
    changed: str


def clean_user_name(name: str | None) -> str:
    """An account's name as stored, or a refusal that says what a name may hold."""
    cleaned = (name or "").strip()
    if not NAME.fullmatch(cleaned):
        shown = printable(cleaned[: MAX_NAME + 10]) or "(empty)"
        raise UsageError(f"{shown!r} cannot name an account: use {NAME_RULE}")
    return cleaned


def check_password(password: str) -> str:
    """The password, or a refusal that says why it cannot be used."""
    if len(password) < MIN_PASSWORD:
        raise BadPassword(
            f"a password needs at least {MIN_PASSWORD} characters (this one has "
            f"{len(password)}); three or four unrelated words are easy to remember and long enough"
        )
    if len(password) > MAX_PASSWORD:
        raise BadPassword(f"a password may have at most {MAX_PASSWORD} characters")
    return password


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Users:
    """The accounts kept in one SQLite file; each call opens its own connection, so threads may
    share it."""

    def __init__(self, index_dir: Path, hasher: PasswordHasher | None = None) -> None:
        self.path = Path(index_dir) / FILENAME
        self.hasher = hasher or PasswordHasher()  # argon2id, with the library's current defaults

    @cached_property
    def _unknown(self) -> str:
        """A hash to check a password against when the name is no account's, so that a wrong name
        takes as long to refuse as a wrong password."""
        return self.hasher.hash(secrets.token_urlsafe(16))

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self.path.exists():  # only its owner may read the hashes
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
            with closing(sqlite3.connect(self.path, timeout=10)) as db:
                db.row_factory = sqlite3.Row
                db.executescript(SCHEMA)
                with db:
                    yield db
        except sqlite3.OperationalError as error:
            raise unusable("the accounts file", self.path, error) from None

    def add(self, name: str, password: str) -> str:
        """Make an account; its stored name."""
        name = clean_user_name(name)
        digest = self.hasher.hash(check_password(password))
        with self._connect() as db:
            if db.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
                raise UsageError(
                    f"there is already an account called {name!r}; "
                    f"to give it a new password: kb user password {name}"
                )
            now = _now()
            db.execute(
                "INSERT INTO users (name, hash, session, created, changed) VALUES (?, ?, ?, ?, ?)",
                (name, digest, secrets.token_urlsafe(16), now, now),
            )
        return name

    def set_password(self, name: str, password: str) -> str:
        """Give an account a new password, which signs it out everywhere; its stored name."""
        digest = self.hasher.hash(check_password(password))
        with self._connect() as db:
            stored = self._row(db, name)["name"]
            db.execute(
                "UPDATE users SET hash = ?, session = ?, changed = ? WHERE name = ?",
                (digest, secrets.token_urlsafe(16), _now(), stored),
            )
        return stored

    def remove(self, name: str) -> str:
        """Delete an account, which ends its sign-ins; its stored name."""
        with self._connect() as db:
            stored = self._row(db, name)["name"]
            db.execute("DELETE FROM users WHERE name = ?", (stored,))
        return stored

    def account(self, name: str) -> Account:
        """One account, by its name in any case."""
        if not self.path.exists():
            raise UnknownUser(f"no account is called {printable(name)!r}: there are none yet")
        with self._connect() as db:
            row = self._row(db, name)
        return Account(row["name"], row["created"], row["changed"])

    def accounts(self) -> list[Account]:
        if not self.path.exists():
            return []
        with self._connect() as db:
            rows = db.execute("SELECT name, created, changed FROM users ORDER BY name").fetchall()
        return [Account(row["name"], row["created"], row["changed"]) for row in rows]

    def verify(self, name: str, password: str) -> tuple[str, str] | None:
        """(stored name, sign-in key) when the password is the account's; None for a wrong name or
        a wrong password alike, after the same work."""
        row = None
        if self.path.exists() and NAME.fullmatch(name.strip()):
            with self._connect() as db:
                row = db.execute(
                    "SELECT name, hash, session FROM users WHERE name = ?", (name.strip(),)
                ).fetchone()
        try:
            self.hasher.verify(row["hash"] if row else self._unknown, password)
        except (VerificationError, InvalidHashError):
            return None
        if row is None:  # a password that matches the random hash: not a way in
            return None
        if self.hasher.check_needs_rehash(row["hash"]):  # the library's defaults have grown
            with self._connect() as db:
                db.execute(
                    "UPDATE users SET hash = ? WHERE name = ?",
                    (self.hasher.hash(password), row["name"]),
                )
        return row["name"], row["session"]

    def session_key(self, name: str) -> str | None:
        """The key a current sign-in of this account holds; None when there is no such account."""
        if not self.path.exists():
            return None
        with self._connect() as db:
            row = db.execute("SELECT session FROM users WHERE name = ?", (name,)).fetchone()
        return row["session"] if row else None

    def end_sessions(self, name: str) -> None:
        """Sign an account out everywhere."""
        with self._connect() as db:
            db.execute(
                "UPDATE users SET session = ? WHERE name = ?", (secrets.token_urlsafe(16), name)
            )

    def _row(self, db: sqlite3.Connection, name: str) -> sqlite3.Row:
        row = db.execute("SELECT * FROM users WHERE name = ?", (name.strip(),)).fetchone()
        if row is None:
            known = [r["name"] for r in db.execute("SELECT name FROM users ORDER BY name")]
            choices = "; ".join(known) or "none yet (kb user add NAME)"
            raise UnknownUser(
                f"no account is called {printable(name)!r}; the accounts are: {choices}"
            )
        return row


class Attempts:
    """Failed sign-ins, in memory: after `limit` failures within `window` seconds for one key (an
    account's name, a client's address), that key is refused for `lockout` seconds."""

    def __init__(
        self,
        limit: int = 5,
        window: float = 15 * 60,
        lockout: float = 15 * 60,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.limit, self.window, self.lockout, self.clock = limit, window, lockout, clock
        self._failures: dict[str, list[float]] = {}
        self._locked: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait(self, keys: Iterable[str]) -> float:
        """Seconds until every key may try again; 0 when they may now."""
        now = self.clock()
        with self._lock:
            return max((self._locked.get(key, now) - now for key in keys), default=0.0)

    def failed(self, keys: Iterable[str]) -> None:
        now = self.clock()
        with self._lock:
            for key in keys:
                recent = [t for t in self._failures.get(key, []) if t > now - self.window]
                recent.append(now)
                if len(recent) >= self.limit:
                    self._locked[key] = now + self.lockout
                    recent = []
                self._failures[key] = recent
            if len(self._failures) > 10_000:  # names tried once and long ago need not be kept
                self._forget_before(now)

    def succeeded(self, key: str) -> None:
        """An account signed in: its earlier failures no longer count (its address's still do)."""
        with self._lock:
            self._failures.pop(key, None)

    def _forget_before(self, now: float) -> None:
        for key in [
            k for k, times in self._failures.items() if all(t <= now - self.window for t in times)
        ]:
            del self._failures[key]
        for key in [k for k, until in self._locked.items() if until <= now]:
            del self._locked[key]


def on_this_machine(host: str) -> bool:
    """Whether an address to listen on is reachable from this machine alone."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def sign_in_required(settings: Settings) -> bool:
    """Whether changing a pack needs a signed-in trainer; refuses `off` on a host others reach."""
    mode = settings.sign_in.strip().lower()
    if mode not in SIGN_IN_MODES:
        choices = "; ".join(f"{name} ({meaning})" for name, meaning in SIGN_IN_MODES.items())
        raise UsageError(f"KB_SIGN_IN cannot be {printable(mode)!r}: use {choices}")
    local = on_this_machine(settings.host)
    if mode == "off" and not local:
        raise UsageError(
            f"KB_SIGN_IN=off with --host {settings.host} would let anyone who can reach this "
            "machine change or delete any pack. Keep sign-in on (add trainers with kb user add "
            "NAME; a shared account is one command), or serve on 127.0.0.1 only."
        )
    if mode == "auto":
        return not local or bool(settings.trusted_user_header)
    return mode == "on"


def trusted_user(value: str | None) -> str | None:
    """A proxy's header naming the signed-in trainer, or None when it is missing or cannot be a
    name: empty, longer than MAX_NAME, or holding a control character."""
    name = (value or "").strip()
    if not name or len(name) > MAX_NAME or printable(name) != name:
        return None
    return name


def from_trusted_proxy(address: str | None, proxies: Iterable[str]) -> bool:
    """Whether a request's remote address is one of the proxies (addresses or networks)."""
    try:
        client = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    if isinstance(client, ipaddress.IPv6Address) and client.ipv4_mapped:
        client = client.ipv4_mapped
    for proxy in proxies:
        try:
            if client in ipaddress.ip_network(proxy.strip(), strict=False):
                return True
        except ValueError:
            continue
    return False


def local_user() -> str:
    """Who changes are recorded as when sign-in is not required: the machine's user."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "local"


def session_secret(index_dir: Path) -> bytes:
    """The key that signs sign-in cookies, made once (readable by its owner alone) and kept in the
    index folder, so that a restart does not sign everyone out."""
    path = Path(index_dir) / SECRET_FILENAME
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{SECRET_FILENAME}.{os.getpid()}")
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(secrets.token_hex(32))
        try:
            os.link(partial, path)  # another process may have made one first: theirs is kept
        except FileExistsError:
            pass
        finally:
            partial.unlink()
    secret = path.read_text().strip()
    if len(secret) < 32:
        raise KbError(f"{path} is damaged: delete it, and kb serve makes a new one")
    return secret.encode()
