"""A reindex's progress for a person watching: bars on a terminal, plain lines in a log."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import IO, Any

from kb.reindex import Progress

UNITS = {"parsing": "file", "embedding": "passage"}
EVERY = 15.0  # seconds between plain lines


class Shown(Progress):
    """Parsing and embedding go on together: on a terminal, a bar for each (files, passages,
    rate, time left); elsewhere (a log, a pipe, cron) a line every EVERY seconds and at the end."""

    def __init__(
        self, stream: IO[str], every: float = EVERY, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.stream = stream
        self.every = every
        self.clock = clock
        self.terminal = bool(getattr(stream, "isatty", lambda: False)())
        self.total: dict[str, int] = {}
        self.done: dict[str, int] = {}
        self.began: dict[str, float] = {}
        self.bars: dict[str, Any] = {}
        self.size: dict[str, int] = {}  # bytes to read in a stage, where it counts them
        self.size_done: dict[str, int] = {}
        self.said = clock()
        self.lock = threading.Lock()

    def start(self, stage: str, total: int, size: int = 0) -> None:
        self.grow(stage, total)
        with self.lock:
            self.size[stage] = self.size.get(stage, 0) + size

    def grow(self, stage: str, more: int) -> None:
        with self.lock:
            self._stage(stage)
            self.total[stage] += more
            if stage in self.bars:
                self.bars[stage].total = self.total[stage]
                self.bars[stage].refresh()

    def _stage(self, stage: str) -> None:
        if stage in self.total:
            return
        self.total[stage] = self.done[stage] = 0
        self.began[stage] = self.clock()
        if self.terminal:
            from tqdm import tqdm

            self.bars[stage] = tqdm(
                total=0,
                desc=stage.capitalize(),
                unit=UNITS.get(stage, "item"),
                file=self.stream,
                position=len(self.bars),
                leave=False,
                dynamic_ncols=True,
            )

    def advance(self, stage: str, done: int = 1, size: int = 0) -> None:
        with self.lock:
            self._stage(stage)
            self.done[stage] += done
            self.size_done[stage] = self.size_done.get(stage, 0) + size
            if stage in self.bars:
                self.bars[stage].update(done)
                return
            parsed = stage == "parsing" and self.done[stage] >= self.total[stage]
            if parsed or self.clock() - self.said >= self.every:
                self.stream.write(self.line() + "\n")
                self.stream.flush()
                self.said = self.clock()

    def close(self) -> None:
        with self.lock:
            for bar in self.bars.values():
                bar.close()
            if not self.terminal and self.done.get("embedding"):
                self.stream.write(self.line() + "\n")
                self.stream.flush()

    def line(self) -> str:
        """ "Parsed 120 of 502 files (2.1 a second); embedded 8,400 of about 41,000 passages
        (61 a second); about 11 min left"."""
        parts = []
        for stage, verb in (("parsing", "Parsed"), ("embedding", "embedded")):
            if stage not in self.total:
                continue
            done, total = self.done.get(stage, 0), self.expected(stage)
            rate = done / max(self.clock() - self.began[stage], 1e-9)
            about = (
                ""
                if stage == "parsing" or self.done.get("parsing", 0) >= self.total.get("parsing", 0)
                else "about "
            )
            unit = UNITS[stage] + ("" if total == 1 else "s")
            parts.append(f"{verb} {done:,} of {about}{total:,} {unit} ({rate:,.1f} a second)")
        left = self.seconds_left()
        if left is not None:
            parts.append(f"about {_duration(left)} left")
        return "; ".join(parts) if parts else "Starting"

    def expected(self, stage: str) -> int:
        """A stage's total; embedding's, while files are still being parsed, guessed from the
        passages the bytes parsed so far held (by files, where bytes are not counted)."""
        total = self.total.get(stage, 0)
        parsed, files = self.done.get("parsing", 0), self.total.get("parsing", 0)
        if stage != "embedding" or not 0 < parsed < files:
            return total
        read, size = self.size_done.get("parsing", 0), self.size.get("parsing", 0)
        share = read / size if read and size else parsed / files
        return max(total, round(total / share))

    def seconds_left(self) -> float | None:
        """What embedding the passages still expected will take at the rate so far."""
        done = self.done.get("embedding", 0)
        if not done:
            return None
        rate = done / max(self.clock() - self.began["embedding"], 1e-9)
        return max(self.expected("embedding") - done, 0) / rate


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
