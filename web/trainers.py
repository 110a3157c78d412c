"""Pages for trainers: session packs, agencies compared on a theme, passages like one, and
downloads."""

from __future__ import annotations

import io
import shlex
from collections.abc import Callable
from functools import partial
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import Blueprint, flash, redirect, render_template, request, send_file, url_for
from werkzeug.exceptions import NotFound

from kb.errors import UsageError
from kb.explore import compare_agencies, default_themes, find_theme, more_like_this
from kb.export import (
    FORMATS,
    describe_comparison,
    describe_pack,
    describe_search,
    file_name,
    find_format,
    render,
    sheet,
)
from kb.packs import (
    MAX_NAME,
    BadPackName,
    UnknownPack,
    UnknownPassage,
    check,
    clean_name,
    unsaved,
)
from web import context
from web.context import searcher
from web.errors import wants_json
from web.highlight import highlight, query_pattern
from web.params import SearchParams
from web.signin import changer, local, refuse_unless_signed_in, same_origin_forms_only

bp = Blueprint("trainers", __name__)

bp.before_request(same_origin_forms_only)
bp.before_request(refuse_unless_signed_in)
bp.add_app_template_global(context.csrf_token, "csrf_token")


@bp.app_template_global()
def pack_choices() -> dict:
    """The packs a passage can be added to; the one offered first, the last used; and the pack a
    passage was just added to (?added=NAME), if it is still there."""
    packs = context.packs().summaries()
    names = [found.name for found in packs]
    added_to = request.args.get("added", "").strip()
    return {
        "names": names,
        "current": added_to or (names[0] if names else ""),
        "added": next((found for found in packs if found.name == added_to), None),
    }


@bp.app_template_filter()
def command_argument(text: str) -> str:
    """Text as one argument of a command typed in a shell: quoted, and after "--" where it would
    read as an option."""
    return ("-- " if text.startswith("-") else "") + shlex.quote(text)


@bp.app_template_global()
def export_formats() -> dict:
    return FORMATS


@bp.app_template_global()
def themes():
    return default_themes()


# --- adding to a pack, and the packs' pages -----------------------------------------------------


def pack_route(rule: str, **options) -> Callable:
    """Register a view of one pack at /packs/<id> + rule, and a redirect to it at /packs/<name> +
    rule: links named packs so before a name could hold "/", trainers bookmarked them, and a page
    shown before kb was upgraded still sends its forms there."""

    def register(view: Callable) -> Callable:
        bp.add_url_rule(f"/packs/<int:pack_id>{rule}", view_func=view, **options)
        bp.add_url_rule(
            f"/packs/<name>{rule}",
            f"{view.__name__}_by_name",
            partial(_by_name, view.__name__),
            **options,
        )
        return view

    return register


def _by_name(endpoint: str, name: str, **values):
    """On to the view of the pack called `name`, by its id. 307, so a browser sends a form's
    fields on; and not kept, as 308 would be, since a name can later be another pack's."""
    pack_id = context.packs().get(name).id
    return redirect(url_for(f"trainers.{endpoint}", pack_id=pack_id, **values), code=307)


def _with_added(url: str, pack: str, chunk_id: str) -> str:
    """The page the passage was added from, saying which pack it went to and scrolled back to the
    passage."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "added"] + [
        ("added", pack)
    ]
    return urlunsplit(("", "", parts.path, urlencode(query), f"result-{chunk_id}"))


@bp.post("/packs/add")
def add_to_pack():
    """Save a copy of an indexed passage in a pack (made if new); JSON for the page's script, else
    back to the page."""
    chunk_id = request.form.get("chunk", "")
    chunk = searcher().passages([chunk_id]).get(chunk_id) if chunk_id else None
    if chunk is None:
        raise UsageError(
            "that passage is no longer in the index: search again and add it from the results"
        )
    name = clean_name(request.form.get("pack"))
    _, added = context.packs().add(name, chunk, who=_who())
    pack = context.packs().get(name)
    url = url_for("trainers.pack_page", pack_id=pack.id)
    if wants_json():
        return {"pack": pack.name, "passages": len(pack.passages), "added": added, "url": url}
    back = local(request.form.get("next"), url)
    return redirect(_with_added(back, pack.name, chunk.id) if back != url else url, code=303)


def _who() -> str:
    """Who a change is recorded as; refuse_unless_signed_in has made sure there is someone."""
    who = changer()
    assert who is not None
    return who


@bp.get("/packs")
def packs_page():
    """The packs in use, and those deleted that can still be restored; after a deletion, a way to
    undo it."""
    return _packs_page()


def _packs_page(problem: str = "", typed: str = "") -> str:
    """The packs' page; with a problem, the name typed for a new pack shown again beside it."""
    deleted = context.packs().deleted()
    just_deleted = next(
        (gone for gone in deleted if str(gone.id) == request.args.get("deleted")), None
    )
    return render_template(
        "packs.html",
        packs=context.packs().summaries(),
        deleted=deleted,
        just_deleted=just_deleted,
        keep_days=context.settings().deleted_pack_days,
        problem=problem,
        typed=typed,
    )


@bp.post("/packs")
def create_pack():
    typed = request.form.get("name", "")
    try:
        name = context.packs().create(typed, who=_who())
    except BadPackName:
        return _packs_page(_name_problem(typed), typed), 400
    return redirect(url_for("trainers.pack_page", pack_id=context.packs().get(name).id), code=303)


def _name_problem(typed: str) -> str:
    """What is wrong with a name typed for a new pack, as GOV.UK's forms say it."""
    cleaned = " ".join(typed.split())
    if not cleaned:
        return "Enter a name for the pack"
    if len(cleaned) > MAX_NAME:
        return f"The pack’s name must be {MAX_NAME} characters or fewer"
    return "The pack’s name must be on one line, of letters, digits, spaces and punctuation"


def _checked(pack_id: int):
    return check(context.packs().get(pack_id), searcher())


HISTORY_SHOWN = 5  # the latest changes on a pack's page; kb pack history prints them all


@pack_route("", methods=["GET"])
def pack_page(pack_id: int):
    try:
        pack = _checked(pack_id)
    except UnknownPack:
        # A pack called "2026" was at /packs/2026 before links named packs by id.
        if str(pack_id) not in [name for name, _, _ in context.packs().names()]:
            raise
        return _by_name("pack_page", str(pack_id))
    indexed = {entry.document for entry in searcher().documents}
    history = context.packs().history(pack.id, last=HISTORY_SHOWN)
    moved = request.args.get("moved", type=int)
    went = request.args.get("went", "")
    return render_template(
        "pack.html",
        pack=pack,
        indexed=indexed,
        history=history,
        moved=moved,
        went=went if went in MOVES else "",
    )


@pack_route("/print", methods=["GET"])
def pack_print(pack_id: int):
    pack = _checked(pack_id)
    sources = sheet(pack.name, pack.passages).sources()
    source_of = {source.document: source.number for source in sources}
    return render_template("pack_print.html", pack=pack, sources=sources, source_of=source_of)


@pack_route("/export.<format_name>", methods=["GET"])
def pack_export(pack_id: int, format_name: str):
    pack = _checked(pack_id)
    return _download(
        sheet(pack.name, pack.passages, describe_pack(len(pack.passages))), format_name
    )


def _back_to(pack_id: int, passage_id: int | None = None):
    anchor = f"passage-{passage_id}" if passage_id else None
    return redirect(url_for("trainers.pack_page", pack_id=pack_id, _anchor=anchor), code=303)


@pack_route("/passages/<int:passage_id>/note", methods=["POST"])
def save_note(pack_id: int, passage_id: int):
    context.packs().set_note(pack_id, passage_id, request.form.get("note", ""), who=_who())
    return _back_to(pack_id, passage_id)


MOVES = {"up": -1, "down": 1}


@pack_route("/passages/<int:passage_id>/move", methods=["POST"])
def move(pack_id: int, passage_id: int):
    direction = request.form.get("direction", "")
    if direction not in MOVES:
        raise UsageError(f"move a passage {' or '.join(MOVES)}, not {direction[:20]!r}")
    context.packs().move(pack_id, passage_id, MOVES[direction], who=_who())
    # Back at the passage, with the button just pressed (or, at an end, its other one) focused and
    # so scrolled to; no #fragment, which would make the browser skip autofocus.
    return redirect(
        url_for("trainers.pack_page", pack_id=pack_id, moved=passage_id, went=direction), code=303
    )


def _sign_in_to_change():
    """A page that asks to confirm a change, to someone who may not make it: sign in first."""
    here = request.full_path.rstrip("?")
    return redirect(url_for("signin.sign_in_page", next=here), code=303)


@pack_route("/passages/<int:passage_id>/remove", methods=["GET"])
def confirm_remove(pack_id: int, passage_id: int):
    """Asks before a passage is removed, as a page of its own, so that it works without a
    script."""
    if changer() is None:
        return _sign_in_to_change()
    pack = context.packs().get(pack_id)
    passage = next((p for p in pack.passages if p.entry == passage_id), None)
    if passage is None:
        raise UnknownPassage(f"the pack {pack.name!r} holds no passage {passage_id}")
    return render_template("confirm_remove.html", pack=pack, passage=passage)


@pack_route("/passages/<int:passage_id>/remove", methods=["POST"])
def remove(pack_id: int, passage_id: int):
    removed = context.packs().remove(pack_id, passage_id, who=_who())
    flash(f"Removed the passage from {removed.title or removed.document}, {removed.pages}.")
    return _back_to(pack_id)


@pack_route("/delete", methods=["GET"])
def confirm_delete(pack_id: int):
    if changer() is None:
        return _sign_in_to_change()
    pack = context.packs().get(pack_id)
    return render_template(
        "confirm_delete.html", pack=pack, keep_days=context.settings().deleted_pack_days
    )


@pack_route("/delete", methods=["POST"])
def delete_pack(pack_id: int):
    deleted = context.packs().delete(pack_id, who=_who())
    return redirect(url_for("trainers.packs_page", deleted=deleted.id), code=303)


@bp.post("/packs/restore")
def restore_pack():
    try:
        pack_id = int(request.form.get("pack", ""))
    except ValueError:
        raise UsageError("say which deleted pack to restore") from None
    was = {gone.id: gone.name for gone in context.packs().deleted()}.get(pack_id)
    name = context.packs().restore(pack_id, who=_who())
    flash(
        f"Restored the pack “{name}”."
        if name == was
        else f"Restored the pack as “{name}”, since another pack is called “{was}”."
    )
    return redirect(url_for("trainers.pack_page", pack_id=pack_id), code=303)


# --- comparing agencies, themes, more like this, and a search's download -------------------------


def _compare_query() -> tuple[str, str]:
    """(heading, query) from ?theme= or ?q=; ("", "") when neither is given."""
    theme = request.args.get("theme", "").strip()
    if theme:
        found = find_theme(theme)
        return found.title, found.query
    query = request.args.get("q", "")
    return (query.strip(), query) if query.strip() else ("", "")


@bp.get("/compare")
def compare_page():
    """For a theme or query, the best passages of each agency side by side; with neither, the
    themes."""
    heading, query = _compare_query()
    if not query:
        return render_template("compare.html", heading="", q="")
    comparison = compare_agencies(searcher(), query)
    pattern = query_pattern([comparison.query, *comparison.expanded])
    return render_template(
        "compare.html",
        heading=heading,
        q=request.args.get("q", ""),
        comparison=comparison,
        download_args={k: v for k, v in request.args.items() if k in ("q", "theme")},
        mark=lambda text: highlight(text, pattern),
    )


@bp.get("/compare/export.<format_name>")
def compare_export(format_name: str):
    heading, query = _compare_query()
    if not query:
        raise UsageError("give a query (q) or a theme to compare agencies on")
    comparison = compare_agencies(searcher(), query)
    description = describe_comparison(comparison.query, len(comparison.agencies))
    passages = unsaved(heading, comparison.hits).passages
    return _download(sheet(heading, passages, description, by_agency=True), format_name)


@bp.get("/passages/<chunk_id>/similar")
def similar(chunk_id: str):
    """Passages near this one by meaning, other agencies' first."""
    neighbours = more_like_this(searcher(), chunk_id)
    return render_template("similar.html", neighbours=neighbours)


@bp.get("/export.<format_name>")
def search_export(format_name: str):
    """The search's passages as a file, with citations and a list of sources."""
    params = SearchParams.from_args(request.args, context.settings().top_k)
    results = searcher().search(params.q, params.k, **params.filters())
    description = describe_search(results.query, len(results.hits), params.agency, params.document)
    return _download(
        sheet(results.query, unsaved(results.query, results.hits).passages, description),
        format_name,
    )


def _download(exported, format_name: str):
    try:
        format_name = find_format(format_name)
    except UsageError as error:
        raise NotFound(description=str(error)) from None
    data = render(exported, format_name)
    return send_file(
        io.BytesIO(data),
        mimetype=FORMATS[format_name].mimetype,
        as_attachment=True,
        download_name=file_name(exported.title, format_name),
        max_age=0,
    )
