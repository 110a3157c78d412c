"""What a process keeps in memory for the requests to come: the values used most recently."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, TypeVar

Key = TypeVar("Key")
Value = TypeVar("Value")


class Recent(Generic[Key, Value]):
    """The values used most recently, up to a total size (each value's own, 1 unless given), shared
    by the server's threads: answers and quotations by query (kb/search.py), words' shares of a
    score by word (kb/keyword.py). A value larger than the whole is not kept; a size of 0 keeps
    nothing."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._held = 0
        self._values: OrderedDict[Key, tuple[Value, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Key) -> Value | None:
        with self._lock:
            found = self._values.get(key)
            if found is None:
                return None
            self._values.move_to_end(key)
            return found[0]

    def put(self, key: Key, value: Value, size: int = 1) -> None:
        if size > self.size:
            return
        with self._lock:
            if (old := self._values.pop(key, None)) is not None:
                self._held -= old[1]
            self._values[key] = (value, size)
            self._held += size
            while self._held > self.size:
                _, (_, gone) = self._values.popitem(last=False)
                self._held -= gone
