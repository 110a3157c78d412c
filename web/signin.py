"""Who may send a form, and who is signed in: a trainer's own account (the sign-in page, then a
signed cookie that expires), or the name a trusted reverse proxy puts in a header."""

from __future__ import annotations

import hmac
import logging
import re
import secrets
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from kb.errors import printable
from kb.settings import Settings
from kb.users import (
    MAX_NAME,
    MAX_PASSWORD,
    Attempts,
    Users,
    from_trusted_proxy,
    local_user,
    session_secret,
    sign_in_required,
    trusted_user,
)
from web import context
from web.errors import wants_json

bp = Blueprint("signin", __name__)
log = logging.getLogger("kb.web")

FORM_EXPIRED = (
    "This form did not come from this page, or kb was restarted since it was shown: "
    "reload the page and try again."
)
SIGN_IN_FIRST = "Only a signed-in trainer can change packs: sign in, then try again."
WRONG = "That name and password do not match an account. Check both and try again."


# URL parsers drop tabs and newlines wherever they are ("/\t//evil.example" is "///evil.example"),
# and browsers read a backslash as a slash, so a target is checked as parsed, and one with any
# control character refused.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def local(url: str | None, default: str) -> str:
    """A redirect target on this site only: a path, never another host."""
    if not url or _CONTROL.search(url):
        return default
    parts = urlsplit(url)
    if (
        parts.scheme
        or parts.netloc
        or not parts.path.startswith("/")
        or parts.path[1:2] in ("/", "\\")
    ):
        return default
    return url


def init(app: Flask, settings: Settings) -> None:
    """Sign-in for the app: the cookie's key (kept in the index folder, so a restart signs no one
    out), the accounts, and the count of failed attempts."""
    app.config["KB_SIGN_IN_REQUIRED"] = sign_in_required(settings)
    app.secret_key = session_secret(settings.index_dir)
    app.config.update(
        SESSION_COOKIE_NAME="kb_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.sign_in_hours),
    )
    app.extensions["kb_users"] = Users(settings.index_dir)
    app.extensions["kb_clock"] = time.time  # a test sets its own, to move time on
    app.extensions["kb_attempts"] = Attempts(clock=lambda: app.extensions["kb_clock"]())
    app.register_blueprint(bp)


def same_origin_forms_only() -> Response | None:
    """A POST must carry the form token (the pages' forms do) and not come from another site.

    The token is in every form and nowhere else, so another site cannot read or guess it; browsers
    that send Sec-Fetch-Site say where the request came from as well.
    """
    if request.method != "POST":
        return None
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        abort(403, description=FORM_EXPIRED)
    if not hmac.compare_digest(request.form.get("csrf_token", ""), context.csrf_token()):
        if _resendable():
            # A page of this site, shown before a restart: what was typed is shown again, to send
            # with a fresh token by pressing a button, never on its own.
            fields = [
                (key, value) for key, value in request.form.items(multi=True) if key != "csrf_token"
            ]
            page = render_template("stale_form.html", fields=fields, action=quote(request.path))
            return make_response(page, 403)
        abort(403, description=FORM_EXPIRED)
    return None


def _resendable() -> bool:
    """A stale form the browser says this site's own page sent, as a page (not the page's script),
    holding no password."""
    return (
        request.headers.get("Sec-Fetch-Site") == "same-origin"
        and not wants_json()
        and not request.path.startswith("/api/")
        and "password" not in request.form
    )


bp.before_request(same_origin_forms_only)


def _clock() -> float:
    return current_app.extensions["kb_clock"]()


def _users() -> Users:
    return current_app.extensions["kb_users"]


def required() -> bool:
    """Whether changing a pack needs a signed-in trainer (KB_SIGN_IN)."""
    return current_app.config["KB_SIGN_IN_REQUIRED"]


def signed_in() -> str | None:
    """The trainer signed in to this request, or None."""
    if "kb_trainer" not in g:
        g.kb_trainer = _from_header() if _header() else _from_session()
    return g.kb_trainer


def changer() -> str | None:
    """Who a change is recorded as: the signed-in trainer; when no one need sign in, this
    machine's user; None when a trainer must sign in first."""
    return signed_in() or (None if required() else local_user())


def _header() -> str:
    return context.settings().trusted_user_header


def _from_header() -> str | None:
    if not from_trusted_proxy(request.remote_addr, context.settings().trusted_proxies):
        return None
    value = request.headers.get(_header())
    name = trusted_user(value)
    if value and name is None:
        log.warning("%s ignored: not a name: %s", _header(), printable(value[: MAX_NAME + 20]))
    return name


def _from_session() -> str | None:
    name = session.get("user")
    if not name:
        return None
    if session.get("expires", 0) <= _clock() or _users().session_key(name) != session.get("key"):
        session.clear()  # expired, signed out elsewhere, a new password, or the account removed
        return None
    return name


@bp.app_template_global()
def trainer() -> dict:
    """What the pages show of who is signed in, and whether they may change packs."""
    here = request.full_path.rstrip("?")
    return {
        "name": signed_in(),
        "can_change": changer() is not None,
        "required": required(),
        "own_accounts": not _header(),
        "sign_in_url": url_for("signin.sign_in_page", next=here),
    }


def refuse_unless_signed_in() -> None:
    """A change to a pack needs someone to record it as."""
    if request.method == "POST" and changer() is None:
        abort(403, description=SIGN_IN_FIRST)


@bp.get("/sign-in")
def sign_in_page():
    return render_template("sign_in.html", next=local(request.args.get("next"), "/"), error="")


@bp.post("/sign-in")
def sign_in():
    if _header():
        abort(404, description="Trainers sign in through the organisation's own sign-on here.")
    name = request.form.get("name", "").strip()[:MAX_NAME]
    password = request.form.get("password", "")[:MAX_PASSWORD]
    back = local(request.form.get("next"), "/")
    attempts: Attempts = current_app.extensions["kb_attempts"]
    keys = [f"name:{name.casefold()}", f"address:{request.remote_addr}"]
    wait = attempts.wait(keys)
    if wait > 0:
        log.warning(
            "sign-in refused, too many failures: %s from %s", printable(name), request.remote_addr
        )
        until = datetime.fromtimestamp(_clock() + wait, UTC).strftime("%H:%M")
        message = (
            "Too many failed sign-ins for this name or from this computer. Try again after "
            f"{until} UTC (in {max(1, round(wait / 60))} minutes)."
        )
        response = current_app.make_response(
            (render_template("sign_in.html", next=back, error=message, name=name), 429)
        )
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    found = _users().verify(name, password)
    if found is None:
        attempts.failed(keys)
        log.warning("sign-in failed: %s from %s", printable(name), request.remote_addr)
        return render_template("sign_in.html", next=back, error=WRONG, name=name), 400
    stored, key = found
    attempts.succeeded(keys[0])
    session.clear()  # a new session: nothing from before signing in carries over
    session.update(
        user=stored,
        key=key,
        expires=_clock() + context.settings().sign_in_hours * 3600,
        csrf=secrets.token_urlsafe(32),  # forms from now on carry this session's token
    )
    session.permanent = True
    log.info("signed in: %s from %s", printable(stored), request.remote_addr)
    return redirect(back, code=303)


@bp.post("/sign-out")
def sign_out():
    name = signed_in()
    if name and not _header():
        _users().end_sessions(name)  # the cookie, if copied, no longer signs anyone in
        log.info("signed out: %s", printable(name))
    session.clear()
    flash("Signed out.")
    return redirect(local(request.form.get("next"), "/"), code=303)
