"""Reindex while serving: when a reindex publishes a new generation, the server moves onto it.

A background thread looks at the index's pointer about once a second. When it names another
generation, the thread opens that generation, loads its keyword index and warms it up while
requests go on being answered from the old one; then one assignment makes the new searcher the
app's. A request takes the searcher once, when it starts (web.searcher()), so it is answered
wholly from the old generation or wholly from the new.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from flask import Flask

if TYPE_CHECKING:
    from kb.search import Searcher

log = logging.getLogger("kb.web")

INTERVAL = 1.0  # seconds between looks at the pointer: a file read, or one call to a Chroma server


class IndexFollower:
    """Keeps app.extensions["kb"] on the generation the pointer names."""

    def __init__(
        self,
        app: Flask,
        current: Callable[[], str | None],
        open_generation: Callable[[str], Searcher],
        interval: float = INTERVAL,
    ) -> None:
        self.app = app
        self.current = current
        self.open_generation = open_generation
        self.interval = interval
        self._refused: set[str] = set()  # generations that would not open: not retried every second
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kb-index-follower", daemon=True)

    def start(self) -> IndexFollower:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.check()

    def check(self) -> bool:
        """Move onto the generation the pointer names, if it is another one. True if the searcher changed."""
        serving = self.app.extensions["kb"].store.generation
        try:
            wanted = self.current()
        except Exception as error:  # noqa: BLE001 - a pointer that cannot be read leaves the old index serving
            log.warning("cannot read the index pointer (%s); still serving generation %s", error, serving)
            return False
        if wanted is None or wanted == serving or wanted in self._refused:
            return False
        try:
            searcher = self.open_generation(wanted)
        except Exception as error:  # noqa: BLE001 - whatever fails, the old generation goes on serving
            self._refused.add(wanted)
            log.error("cannot open index generation %s (%s); still serving generation %s", wanted, error, serving)
            return False
        self.app.extensions["kb"] = searcher
        log.info("now serving index generation %s (was %s)", wanted, serving)
        return True
