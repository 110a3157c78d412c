"""The Chroma client, embedded or a server's, and what kb keeps in it: the only module that imports
chromadb."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from kb.dates import year_of
from kb.errors import IndexMissing, KbError, store_failure
from kb.passage import Chunk, Citation, Filter

# A passage's citation as Chroma stores it beside its vector: one metadata field each.
METADATA_FIELDS = (
    "document",
    "title",
    "agency",
    "section",
    "page",
    "page_end",
    "position",
    "sha256",
)
PAGE = 1000  # rows written per call
# Rows read per call: at 40,000 passages, reading every row's text and citation takes 3.4 s in pages
# of 5,000 against 4.1 s in pages of 1,000, and every vector 1.5 s against 2.3 s (a page is
# fetched by its ids, one SQL variable each, so it stays well below SQLite's 32,766).
READ_PAGE = 5000


def preload() -> None:
    """Import Chroma (most of a second), for a caller that has something else to do meanwhile."""
    import chromadb  # noqa: F401 - imported for its side: loaded once, later imports are free


def _settings(**more: Any) -> Any:
    from chromadb.config import Settings as ChromaSettings

    return ChromaSettings(anonymized_telemetry=False, allow_reset=False, **more)


def server(chroma_url: str, create: bool = False) -> Any:
    """A client of a Chroma server; the URL's path names a database on it (http://host:8000/lscp)."""
    import chromadb
    from chromadb.config import DEFAULT_DATABASE
    from chromadb.errors import NotFoundError

    url = urlparse(chroma_url)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise KbError(
            "KB_CHROMA_URL must look like http://host:port or http://host:port/database, "
            f"not {chroma_url!r}"
        )
    database = url.path.strip("/") or DEFAULT_DATABASE
    port = url.port or (443 if url.scheme == "https" else 8000)
    host, ssl = url.hostname, url.scheme == "https"
    try:
        try:
            return chromadb.HttpClient(
                host=host, port=port, ssl=ssl, database=database, settings=_settings()
            )
        except NotFoundError:
            if not create:
                raise IndexMissing(
                    f"no index at {chroma_url} (no database {database!r}): run `kb reindex`"
                ) from None
            admin = chromadb.AdminClient(
                _settings(
                    chroma_api_impl="chromadb.api.fastapi.FastAPI",
                    chroma_server_host=host,
                    chroma_server_http_port=port,
                    chroma_server_ssl_enabled=ssl,
                )
            )
            admin.create_database(database)
            return chromadb.HttpClient(
                host=host, port=port, ssl=ssl, database=database, settings=_settings()
            )
    except KbError:
        raise
    except Exception as error:
        raise KbError(f"cannot reach the Chroma server at {chroma_url}: {error}") from None


def embedded(path: Path) -> Any:
    """A client of the Chroma store in a folder on this machine."""
    import chromadb

    try:
        return chromadb.PersistentClient(path=str(path), settings=_settings())
    except Exception as error:  # a damaged chroma.sqlite3, a full disk: one line saying what to do
        failure = store_failure(error, str(path))
        if failure is None:
            raise
        raise failure from None


@lru_cache(maxsize=8)
def pointer_client(chroma_url: str) -> Any:
    """One client per server for reading the pointer: making one costs 40 ms, a read with it
    0.4 ms."""
    return server(chroma_url)


def get_collection(client: Any, name: str) -> Any | None:
    """The collection of that name, or None."""
    from chromadb.errors import NotFoundError

    try:
        return client.get_collection(name, embedding_function=None)
    except (NotFoundError, ValueError):
        return None


def create_collection(client: Any, name: str, metadata: dict[str, Any]) -> Any:
    """A new collection searched by cosine distance; kb gives the vectors, so no embedding
    function."""
    return client.create_collection(
        name,
        configuration={"hnsw": {"space": "cosine"}},
        metadata=metadata,
        embedding_function=None,
    )


def collection_names(client: Any) -> list[str]:
    return [getattr(collection, "name", collection) for collection in client.list_collections()]


def rows(
    collection: Any, include: list[str], where: dict | None = None, page: int = READ_PAGE
) -> Iterator[dict[str, Any]]:
    """Every stored row (or those matching where), a page at a time, as Chroma's get() gives
    them."""
    offset = 0
    while True:
        got = collection.get(where=where, include=include, limit=page, offset=offset)
        yield got
        if len(got["ids"]) < page:
            return
        offset += page


def where(passages: Filter) -> dict | None:
    """A Filter in Chroma's terms."""
    conditions: list[dict] = []
    if len(passages.agencies) == 1:
        conditions.append({"agency": passages.agencies[0]})
    elif passages.agencies:
        conditions.append({"agency": {"$in": list(passages.agencies)}})
    if passages.document is not None:
        conditions.append({"document": passages.document})
    if passages.not_agency is not None:
        conditions.append({"agency": {"$ne": passages.not_agency}})
    if passages.years:
        conditions.append({"year": {"$in": list(passages.years)}})
    if passages.collections:
        conditions.append({"collection": {"$in": list(passages.collections)}})
    if len(conditions) > 1:
        return {"$and": conditions}
    return conditions[0] if conditions else None


def metadata(chunk: Chunk) -> dict[str, Any]:
    """A chunk's citation, position and standing as Chroma metadata: METADATA_FIELDS (the year
    apart, so that a filter can name it)."""
    return {
        **asdict(chunk.citation),
        "position": chunk.position,
        "standard": chunk.standard,
        "year": year_of(chunk.citation.date),
    }


def chunk(chunk_id: str, text: str | None, stored: dict[str, Any] | None) -> Chunk:
    """A chunk from what Chroma stored of it."""
    stored = stored or {}
    citation = Citation(
        document=str(stored.get("document", "")),
        title=str(stored.get("title", "")),
        agency=str(stored.get("agency", "")),
        section=str(stored.get("section", "")),
        page=int(stored.get("page") or 0),
        page_end=int(stored.get("page_end") or 0),
        sha256=str(stored.get("sha256", "")),
        date=str(stored.get("date", "")),
        collection=str(stored.get("collection", "")),
    )
    position, standard = int(stored.get("position") or 0), int(stored.get("standard") or 0)
    return Chunk(chunk_id, text or "", citation, position, standard)
