"""The vector index, in Chroma (embedded, or a server): the only package that imports chromadb.

- `chroma`: the client, and how a passage and a filter are kept in Chroma's terms;
- `generations`: which generation is served (the pointer), pruning, and the writer lock;
- `published`: reading a published generation, with `scan` searching its vectors in memory;
- `writer`: writing a new generation and publishing it;
- `manifest`: how an index was built, kept with it.
"""

from kb.store.generations import current, forget_older, prune, writer_lock
from kb.store.manifest import Manifest
from kb.store.published import Published
from kb.store.writer import Writer

__all__ = ["Manifest", "Published", "Writer", "current", "forget_older", "prune", "writer_lock"]
