"""What a request works with, as flaskr's db.py gives its connection: the settings, the searcher of
the index generation the request started on, and the packs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import current_app, g, session

from kb.packs import Packs
from kb.settings import Settings

# The search stack (chromadb, the model) is imported only when a searcher is built.
if TYPE_CHECKING:
    from kb.search import Searcher


def settings() -> Settings:
    return current_app.config["KB_SETTINGS"]


def searcher() -> Searcher:
    """The searcher answering this request: the app's when the request started (create_app takes
    it), so a request is answered wholly from one generation though the server moves onto a new
    one."""
    return g.searcher


def packs() -> Packs:
    return current_app.extensions["kb_packs"]


def csrf_token() -> str:
    """The token every form carries; a page on another site cannot read it. A signed-in trainer's
    forms carry their sign-in's own; others the process's, which a restart makes anew."""
    return session.get("csrf") or current_app.config["KB_CSRF_TOKEN"]
