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
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from flask import Flask

if TYPE_CHECKING:
    from kb.search import Searcher

log = logging.getLogger("kb.web")

INTERVAL = 1.0  # seconds between looks at the pointer: a file read, or one call to a Chroma server
RETRY_AFTER = 30.0  # seconds before a generation that would not open is tried again
GRACE = 60.0  # seconds a replaced searcher stays open for requests that started on it


class IndexFollower:
    """Keeps app.extensions["kb"] on the generation the pointer names."""

    def __init__(
        self,
        app: Flask,
        current: Callable[[], str | None],
        open_generation: Callable[[str], Searcher],
        interval: float = INTERVAL,
        after_switch: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.current = current
        self.open_generation = open_generation
        self.interval = interval
        self.after_switch = after_switch
        self.clock = clock
        self._refused: dict[
            str, float
        ] = {}  # generation that would not open -> when to try it again
        self._retired: list[tuple[float, Searcher]] = []  # replaced searchers, and when
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
            try:
                self.check()
            except Exception:
                log.exception("the index follower failed; it tries again in %.0f s", self.interval)

    def check(self) -> bool:
        """Move onto the generation the pointer names, if it is another one. True if the searcher
        changed."""
        self._close_retired()
        old = self.app.extensions["kb"]
        serving = old.generation
        try:
            wanted = self.current()
        except Exception as error:
            log.warning(
                "cannot read the index pointer (%s); still serving generation %s", error, serving
            )
            return False
        if wanted is None or wanted == serving or self.clock() < self._refused.get(wanted, 0.0):
            return False
        try:
            searcher = self.open_generation(wanted)
        except Exception as error:
            self._refused[wanted] = self.clock() + RETRY_AFTER
            log.error(
                "cannot open index generation %s (%s); still serving generation %s, "
                "trying again in %.0f s",
                wanted,
                error,
                serving,
                RETRY_AFTER,
            )
            return False
        self._refused.pop(wanted, None)
        self.app.extensions["kb"] = searcher
        self._retired.append((self.clock(), old))
        log.info("now serving index generation %s (was %s)", wanted, serving)
        if self.after_switch:
            self.after_switch(wanted)
        return True

    def _close_retired(self) -> None:
        """Close the searchers replaced more than GRACE ago: their files, threads and Chroma
        client."""
        now = self.clock()
        while self._retired and now - self._retired[0][0] >= GRACE:
            _, searcher = self._retired.pop(0)
            searcher.close()
