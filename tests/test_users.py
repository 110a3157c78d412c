import sqlite3
import stat
from contextlib import closing

import pytest

from kb.errors import UsageError, printable
from kb.settings import Settings
from kb.users import (
    Attempts,
    BadPassword,
    UnknownUser,
    Users,
    from_trusted_proxy,
    session_secret,
    sign_in_required,
    trusted_user,
)

PASSWORD = "correct horse battery"


@pytest.fixture
def users(tmp_path):
    return Users(tmp_path / "index")


def test_an_account_keeps_an_argon2id_hash_never_the_password(users):
    assert users.add("alice", PASSWORD) == "alice"
    with closing(sqlite3.connect(users.path)) as db:
        ((digest,),) = db.execute("SELECT hash FROM users").fetchall()
    assert digest.startswith("$argon2id$") and PASSWORD not in digest
    assert PASSWORD.encode() not in users.path.read_bytes()
    assert stat.S_IMODE(users.path.stat().st_mode) == 0o600


def test_the_right_password_signs_in_and_a_wrong_name_or_password_does_not(users):
    users.add("Alice", PASSWORD)
    name, key = users.verify("alice", PASSWORD)  # names ignore case; the stored one comes back
    assert name == "Alice" and key == users.session_key("Alice")
    assert users.verify("alice", PASSWORD + "!") is None
    assert users.verify("mallory", PASSWORD) is None
    assert users.verify("", "") is None


def test_a_new_password_replaces_the_old_and_ends_sign_ins(users):
    users.add("alice", PASSWORD)
    before = users.session_key("alice")
    users.set_password("ALICE", "another long password")
    assert users.verify("alice", PASSWORD) is None
    assert users.verify("alice", "another long password") is not None
    assert users.session_key("alice") != before
    users.end_sessions("alice")  # signing out does the same
    assert users.session_key("alice") not in (before, None)


def test_accounts_are_listed_and_removed(users):
    assert users.accounts() == [] and not users.path.exists()  # listing makes no file
    users.add("bob", PASSWORD)
    users.add("alice", PASSWORD)
    assert [account.name for account in users.accounts()] == ["alice", "bob"]
    assert users.remove("Bob") == "bob"
    assert [account.name for account in users.accounts()] == ["alice"]
    assert users.verify("bob", PASSWORD) is None and users.session_key("bob") is None


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda u: u.add("carol", "short"), BadPassword, "at least 12 characters (this one has 5)"),
        (lambda u: u.add("carol", "x" * 1025), BadPassword, "at most 1024 characters"),
        (lambda u: u.add("alice", PASSWORD), UsageError, "already an account called 'alice'"),
        (lambda u: u.add("a b", PASSWORD), UsageError, "'a b' cannot name an account: use 1 to"),
        (lambda u: u.add("x\x1b[2J", PASSWORD), UsageError, "'x\\\\x1b[2J' cannot name"),
        (lambda u: u.remove("nobody"), UnknownUser, "no account is called 'nobody'; the accounts"),
        (lambda u: u.set_password("nobody", PASSWORD), UnknownUser, "are: alice"),
    ],
)
def test_bad_accounts_and_passwords_are_refused_saying_why(users, call, error, message):
    users.add("alice", PASSWORD)
    with pytest.raises(error) as raised:
        call(users)
    assert message in str(raised.value)


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_five_failures_lock_a_name_or_an_address_for_fifteen_minutes():
    clock = Clock()
    attempts = Attempts(clock=clock)
    for _ in range(4):
        attempts.failed(["name:alice", "address:10.0.0.9"])
        clock.now += 60
    assert attempts.wait(["name:alice"]) == 0
    attempts.failed(["name:alice", "address:10.0.0.9"])
    assert attempts.wait(["name:alice", "address:10.0.0.1"]) == 15 * 60
    assert attempts.wait(["name:bob", "address:10.0.0.9"]) == 15 * 60  # the address too
    assert attempts.wait(["name:bob", "address:10.0.0.1"]) == 0
    clock.now += 15 * 60
    assert attempts.wait(["name:alice", "address:10.0.0.9"]) == 0


def test_failures_older_than_the_window_do_not_count_and_a_sign_in_clears_the_names():
    clock = Clock()
    attempts = Attempts(clock=clock)
    for _ in range(4):
        attempts.failed(["name:alice"])
    clock.now += 15 * 60 + 1
    attempts.failed(["name:alice"])
    assert attempts.wait(["name:alice"]) == 0
    for _ in range(3):
        attempts.failed(["name:alice"])
    attempts.succeeded("name:alice")
    attempts.failed(["name:alice"])
    assert attempts.wait(["name:alice"]) == 0


@pytest.mark.parametrize(
    "mode, host, header, required",
    [
        ("auto", "127.0.0.1", "", False),
        ("auto", "localhost", "", False),
        ("auto", "::1", "", False),
        ("auto", "0.0.0.0", "", True),
        ("auto", "192.168.1.20", "", True),
        ("auto", "127.0.0.1", "X-Remote-User", True),  # a proxy in front brings the LAN in
        ("on", "127.0.0.1", "", True),
        ("OFF", "127.0.0.1", "", False),
    ],
)
def test_who_must_sign_in(mode, host, header, required):
    settings = Settings(sign_in=mode, host=host, trusted_user_header=header)
    assert sign_in_required(settings) is required


@pytest.mark.parametrize(
    "mode, host, message",
    [
        ("off", "0.0.0.0", "KB_SIGN_IN=off with --host 0.0.0.0 would let anyone"),
        ("maybe", "127.0.0.1", "KB_SIGN_IN cannot be 'maybe': use auto (only when"),
    ],
)
def test_sign_in_off_beyond_this_machine_and_unknown_modes_are_refused(mode, host, message):
    with pytest.raises(UsageError) as raised:
        sign_in_required(Settings(sign_in=mode, host=host))
    assert message in str(raised.value)


@pytest.mark.parametrize(
    "address, trusted",
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.5", True),  # in 10.0.0.0/24
        ("10.0.1.5", False),
        ("192.168.1.9", False),
        ("", False),
        (None, False),
    ],
)
def test_a_header_is_believed_only_from_a_trusted_proxy(address, trusted):
    assert from_trusted_proxy(address, ("127.0.0.1", "::1", "10.0.0.0/24", "junk")) is trusted


@pytest.mark.parametrize(
    "value, name",
    [
        ("alice", "alice"),
        (" jane.doe@example.org ", "jane.doe@example.org"),
        ("DOMAIN\\jdoe", "DOMAIN\\jdoe"),
        ("", None),
        (None, None),
        ("alice\r\nX-Evil: 1", None),
        ("alice\x1b[31m", None),
        ("evil\u202eresu", None),  # would print backwards
        ("x" * 101, None),
    ],
)
def test_a_trusted_header_with_control_characters_or_too_long_is_refused(value, name):
    assert trusted_user(value) == name


def test_the_session_key_is_made_once_readable_by_its_owner_alone(tmp_path):
    first = session_secret(tmp_path / "index")
    path = tmp_path / "index" / "session.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(first) == 64
    assert session_secret(tmp_path / "index") == first
    assert list(path.parent.iterdir()) == [path]  # no partial file left


def test_printable_escapes_controls_and_keeps_the_rest():
    assert printable("Zoë\x1b[2J\n\u202eok\u200f") == "Zoë\\x1b[2J\\n\\u202eok\\u200f"
