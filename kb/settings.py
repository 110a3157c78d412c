"""One frozen Settings object, read from KB_* environment variables; CLI flags override it."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


def _help(text: str, **kwargs):
    return field(metadata={"help": text}, **kwargs)


@dataclass(frozen=True)
class Settings:
    corpus_dir: Path = _help("Folder of reports to index (PDF, .txt, .md).", default=Path("corpus"))
    index_dir: Path = _help(
        "Folder where the index is kept; generated from the corpus, except packs.sqlite, "
        "users.sqlite and session.key.",
        default=Path("index"),
    )
    chroma_url: str = _help(
        "URL of a Chroma server (chroma run), optionally with a database: http://host:8000/lscp; "
        "empty for the embedded store.",
        default="",
    )
    model: str = _help(
        "Embedding model; the only one shipped is all-MiniLM-L6-v2.", default="all-MiniLM-L6-v2"
    )
    embedder: str = _help(
        "How the model runs: onnx (ONNX Runtime, its graph exported once into the model cache) "
        "or torch; same vectors.",
        default="onnx",
    )
    model_cache: Path = _help(
        "Folder for the model's exported ONNX graph (made once, about 90 MB).",
        default=Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kb",
    )
    exact_search_up_to: int = _help(
        "An index of up to this many passages is searched exactly in memory, faster than "
        "through Chroma; larger ones (and all, with 0) are searched by Chroma's graph index.",
        default=100_000,
    )
    batch_size: int = _help(
        "Passages embedded per batch. Small batches pad little: on 2 cores 4 embeds "
        "119 passages/s, 32 embeds 99 (ONNX Runtime); torch 65 and 58.",
        default=4,
    )
    max_query_chars: int = _help("Longest query accepted, in characters.", default=1000)
    top_k: int = _help("Passages returned when -k is not given.", default=10)
    answer_cache: int = _help(
        "Answers kept in memory for repeated queries, per index generation (0: none).", default=1024
    )
    ignore: tuple[str, ...] = _help(
        "Comma-separated file-name patterns in the corpus that are not reports.",
        default=("README*", "SOURCES*", ".*"),
    )
    collections: tuple[str, ...] = _help(
        "Comma-separated collections (folders under the corpus) a search covers when it names "
        "none, so a partnership's own reports are not buried in a library; empty: all.",
        default=(),
    )
    host: str = _help(
        "Address kb serve listens on; 127.0.0.1 keeps the page on this machine.",
        default="127.0.0.1",
    )
    port: int = _help("Port kb serve listens on (0 picks a free one).", default=5000)
    allowed_hosts: tuple[str, ...] = _help(
        "Comma-separated names the page also answers to (a DNS alias of this machine). "
        "Other names in a request's Host are refused, so a web page cannot reach kb by "
        "pointing its own name at this machine.",
        default=(),
    )
    max_connections: int = _help(
        "Connections kb serve holds open at once, from all clients.", default=200
    )
    connections_per_client: int = _help(
        "Connections one client address may hold (a browser opens up to six); behind a reverse "
        "proxy every request comes from the proxy's address, so raise it to the proxy's.",
        default=24,
    )
    idle_timeout: int = _help(
        "Seconds a connection may sit idle before kb serve closes it.", default=30
    )
    request_timeout: float = _help(
        "Seconds a request may take to arrive whole from its first byte; a slower one is cut off.",
        default=20.0,
    )
    max_body_kb: int = _help(
        "Largest request body kb serve accepts, in kB (a pack's note is at most 4,000 characters); "
        "a larger one is refused from its Content-Length, before it is read.",
        default=256,
    )
    sign_in: str = _help(
        "Whether changing a pack needs a signed-in trainer: auto (when kb serve listens beyond "
        "this machine, or a trusted header is set), on, or off (refused beyond this machine).",
        default="auto",
    )
    sign_in_hours: float = _help(
        "Hours a sign-in lasts, from signing in; then the trainer signs in again.", default=8.0
    )
    trusted_user_header: str = _help(
        "Header a reverse proxy that signs staff in sets to the trainer's name (X-Remote-User); "
        "empty: kb's own accounts (kb user add) and sign-in page.",
        default="",
    )
    trusted_proxies: tuple[str, ...] = _help(
        "Comma-separated addresses (or networks) whose trusted header is believed; a request "
        "from anywhere else is not signed in by it.",
        default=("127.0.0.1", "::1"),
    )
    deleted_pack_days: int = _help(
        "Days a deleted pack can be restored (kb pack restore, or the packs page) before it is "
        "purged.",
        default=30,
    )
    pdf_timeout: float = _help(
        "Seconds that parsing one PDF may take before it is named as failed.", default=60.0
    )
    pdf_memory_mb: int = _help(
        "Memory, in MB, that parsing one PDF may take before it is named as failed.", default=1024
    )
    text_max_mb: float = _help(
        "Largest .txt or .md file read, in MB; a larger one is named as failed, not parsed.",
        default=5.0,
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides) -> Settings:
        """Settings from KB_<FIELD> variables, then keyword overrides (None means 'not given')."""
        environ = os.environ if environ is None else environ
        values = {}
        for f in dataclasses.fields(cls):
            raw = environ.get(f"KB_{f.name.upper()}")
            if raw is not None and raw != "":
                values[f.name] = _parse(f, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        for name in ("corpus_dir", "index_dir", "model_cache"):
            if name in values:
                values[name] = Path(values[name])
        return cls(**values)

    @classmethod
    def describe(cls) -> list[tuple[str, str, str]]:
        """(variable, default, help) for each setting, for --help and the README."""
        rows = []
        for f in dataclasses.fields(cls):
            default = f.default
            shown = ",".join(default) if isinstance(default, tuple) else str(default)
            rows.append((f"KB_{f.name.upper()}", shown, f.metadata["help"]))
        return rows


def _parse(f: dataclasses.Field, raw: str):
    if f.type in ("int", int):
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"KB_{f.name.upper()} must be a whole number, not {raw!r}") from None
    if f.type in ("float", float):
        try:
            return float(raw)
        except ValueError:
            raise ValueError(f"KB_{f.name.upper()} must be a number, not {raw!r}") from None
    if f.type.startswith("tuple"):
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    return raw
