"""Scale: index time, query latency and memory at about 20,000 passages, as ratios to the small
collection.

Builds everything under a temporary folder, never under index/: a small real index of the bundled
corpus (kb.reindex, the real model), then two generations written through the store's Writer, the
corpus's passages as they are ("small") and replicated with variations to --chunks ("large").
Each replica is a distinct document: its own file name and title, its agency as "<agency>
(<place>)", and its text changed a little (a sentence dropped or two swapped, a word dropped or two
swapped). Its vector is either the real model's (--embed real, about 7 minutes here) or the base
passage's real vector plus Gaussian noise, renormalised (--embed perturb, the default), with the
noise set so that a replica is as close to its base as the real model puts a sample of replicas.

Queries are the golden set through kb.search.Searcher, warm, in one child process that holds both
collections and alternates between them, so drift on a shared machine hits both alike. Start-up
and resident memory are measured in one child process per collection, so one does not pollute the
other's figures.

    .venv/bin/python bench/scale.py [--chunks 20000] [--embed perturb|real] [--rounds 5]
        [--workdir DIR] [--keep]

The model runs as KB_EMBEDDER says (onnx or torch); the output names it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CALIBRATION_SAMPLE = 128  # replicas encoded with the real model to set the noise in perturb mode
EMBED_MODES = ("perturb", "real")
_SENTENCE = re.compile(r"(?<=[.!?;])\s+")
# A replica's agency is "<agency> (<place>)": a word of its own, as real organisations' names have.
# Not "(site N)": a long word shared by every replica's agency is an artefact that the agency prior
# treats as a name word and looks up once per agency, which doubled start-up at 20,000 passages.
PLACES = """Leeds Kent Derby Norwich Exeter Bristol Leicester Sheffield Wirral Croydon Hackney
Salford Oldham Bolton Wigan Sunderland Gateshead Durham Cumbria Suffolk Norfolk Dorset Wiltshire
Swindon Reading Slough Medway Thurrock Southend Peterborough Rutland Halton Knowsley Sefton Torbay
Plymouth Cornwall Somerset Harrow Barnet""".split()


# ---------------------------------------------------------------- measuring


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def proc_status() -> dict[str, float]:
    """VmRSS and VmHWM (peak resident) of this process, in MB, from /proc/self/status."""
    found = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) / 1024
    return found


def folder_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file()) / 1e6


def machine() -> str:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown CPU",
    )
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} cores (nproc {len(os.sched_getaffinity(0))}), {model}; "
        f"load average at start {load}"
    )


# ---------------------------------------------------------------- the synthetic collection


def vary_text(text: str, rng: np.random.Generator) -> str:
    """The passage a little changed: a sentence dropped or two swapped, then a word dropped or two
    swapped."""
    sentences = _SENTENCE.split(text)
    pick = rng.random()
    if len(sentences) >= 3 and pick < 0.35:
        del sentences[int(rng.integers(len(sentences)))]
    elif len(sentences) >= 2 and pick < 0.7:
        i = int(rng.integers(len(sentences) - 1))
        sentences[i], sentences[i + 1] = sentences[i + 1], sentences[i]
    words = " ".join(sentences).split(" ")
    if len(words) >= 6:
        i = int(rng.integers(1, len(words) - 1))
        if rng.random() < 0.5:
            del words[i]
        else:
            words[i], words[i + 1] = words[i + 1], words[i]
    return " ".join(words)


def replicate(base: list, count: int, seed: int = 7) -> tuple[list, np.ndarray]:
    """count passages: the base ones as they are, then replicas 1, 2, ... of each; and each one's
    base row."""
    from kb.chunk import chunk_id

    rng = np.random.default_rng(seed)
    chunks, origin = [], []
    for n in range(count):
        site, row = divmod(n, len(base))
        chunk = base[row]
        if site:
            lap, place = divmod(site - 1, len(PLACES))
            place = PLACES[place] + (f" {lap + 1}" if lap else "")
            document = f"{place.lower().replace(' ', '-')}/{chunk.document}"
            citation = replace(
                chunk.citation,
                document=document,
                title=f"{chunk.title} ({place})" if chunk.title else place,
                agency=f"{chunk.agency} ({place})" if chunk.agency else "",
                sha256=hashlib.sha256(f"{chunk.sha256}:{site}".encode()).hexdigest(),
            )
            chunk = replace(
                chunk,
                id=chunk_id(document, chunk.position),
                citation=citation,
                text=vary_text(chunk.text, rng),
            )
        chunks.append(chunk)
        origin.append(row)
    return chunks, np.asarray(origin)


def perturb(vectors: np.ndarray, sigma: float, seed: int = 11) -> np.ndarray:
    noisy = vectors + np.random.default_rng(seed).normal(0.0, sigma, vectors.shape).astype(
        np.float32
    )
    return (noisy / np.linalg.norm(noisy, axis=1, keepdims=True)).astype(np.float32)


def sigma_for(cosine: float, dimension: int) -> float:
    """The noise per dimension that leaves a unit vector at this cosine to itself, on average."""
    cosine = min(max(cosine, 0.5), 0.9999)
    return float(np.sqrt((1.0 / cosine**2 - 1.0) / dimension))


# ---------------------------------------------------------------- writing generations


def write_generation(index_dir: Path, manifest, chunks: list, vectors: np.ndarray) -> dict:
    """Write chunks into a new generation and publish it, timing each step of the store's Writer."""
    from kb.keyword import FILENAME
    from kb.keyword import sync as sync_keyword
    from kb.store import Writer

    spent = {}
    started = time.perf_counter()
    store = Writer(index_dir, "", manifest)
    spent["begin"] = time.perf_counter() - started
    mark = time.perf_counter()
    store.add(chunks, vectors)
    spent["add"] = time.perf_counter() - mark
    mark = time.perf_counter()
    keyword, _ = sync_keyword(store, store.home)
    keyword.close()
    spent["keyword"] = time.perf_counter() - mark
    mark = time.perf_counter()
    store.publish(len(chunks))
    spent["publish"] = time.perf_counter() - mark
    spent["total"] = time.perf_counter() - started
    spent["rows"] = len(chunks)
    spent["keyword_mb"] = (store.home / FILENAME).stat().st_size / 1e6
    spent["chroma_mb"] = folder_mb(store.home / "chroma")
    return spent


# ---------------------------------------------------------------- child processes


def child(mode: str, *args: str) -> dict:
    """Run this script in a fresh process and read the JSON it prints last."""
    done = subprocess.run(
        [sys.executable, __file__, "--child", mode, *args], capture_output=True, text=True, cwd=ROOT
    )
    if done.returncode:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"child {mode} {args} failed with exit code {done.returncode}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def child_memory(index_dir: str) -> dict:
    """Start-up time and resident memory for one collection, alone in this process."""
    import cProfile
    import pstats

    from kb import search
    from kb.embed import load_embedder
    from kb.evaluate import GOLDEN, load_queries
    from kb.settings import Settings
    from kb.store import Published

    settings = Settings.from_env(index_dir=Path(index_dir), chroma_url="")
    embedder = load_embedder(runtime=settings.embedder, cache=settings.model_cache)
    embedder.encode(["warm up the model"])
    memory = {"model": proc_status()["VmRSS"]}
    started = time.perf_counter()
    Published.open(Path(index_dir)).close()
    opened = time.perf_counter() - started
    started = time.perf_counter()
    searcher = search.open_searcher(settings, embedder)
    startup = time.perf_counter() - started
    memory["ready"] = proc_status()["VmRSS"]
    for query in load_queries(GOLDEN):
        searcher.search(query["query"], k=10)
    memory.update(queried=proc_status()["VmRSS"], peak=proc_status()["VmHWM"])

    # Where start-up goes: a second searcher opened under cProfile (so warm, and Python-heavy parts
    # inflated), split by what open_searcher calls directly.
    profile = cProfile.Profile()
    profile.enable()
    mark = time.perf_counter()
    search.open_searcher(settings, embedder)
    profiled = time.perf_counter() - mark
    profile.disable()
    stats = pstats.Stats(profile).stats
    init = next(
        key
        for key in stats
        if key[2] == "open_searcher" and key[0].endswith(f"kb{os.sep}search.py")
    )
    parts = {}
    for (filename, _, function), (*_, callers) in stats.items():
        if init in callers:
            name = f"{Path(filename).stem}.{function}" if filename != "~" else function.strip("<>")
            parts[name] = parts.get(name, 0.0) + callers[init][3]
    return {
        "startup": startup,
        "open": opened,
        "profiled": profiled,
        "parts": parts,
        "memory": memory,
        "agencies": len(searcher.agencies),
        "documents": len(searcher.documents),
        "count": searcher.store.count(),
    }


def child_queries(rounds: str, *index_dirs: str) -> dict:
    """Golden queries through a Searcher on each collection, interleaved, warm; and each side timed
    alone.

    Searcher answers a repeated query from memory, so round r asks for k = 11 + r: the same work
    (every side still gathers CANDIDATES), never a remembered answer. A repeat is timed apart.
    """
    from kb.embed import load_embedder
    from kb.evaluate import GOLDEN, load_queries
    from kb.keyword import query_terms
    from kb.search import CANDIDATES, open_searcher
    from kb.settings import Settings

    settings = Settings.from_env(chroma_url="")
    embedder = load_embedder(runtime=settings.embedder, cache=settings.model_cache)
    searchers = [
        open_searcher(Settings.from_env(index_dir=Path(path), chroma_url=""), embedder)
        for path in index_dirs
    ]
    queries = [query["query"] for query in load_queries(GOLDEN)]
    timings = [
        {"search": [], "repeat": [], "encode": [], "dense": [], "keyword": []} for _ in searchers
    ]
    for searcher in searchers:  # one untimed pass each
        for query in queries:
            searcher.search(query, k=10)
    order = list(enumerate(searchers))
    for round_ in range(int(rounds)):
        for number, query in enumerate(queries):
            # Each query on each collection in turn, first one then the other, so drift hits both
            # alike.
            for which, searcher in order if (round_ + number) % 2 == 0 else order[::-1]:
                spent = timings[which]
                mark = time.perf_counter()
                searcher.search(query, k=11 + round_)
                spent["search"].append((time.perf_counter() - mark) * 1000)
                mark = time.perf_counter()
                searcher.search(query, k=11 + round_)
                spent["repeat"].append((time.perf_counter() - mark) * 1000)
                expanded = searcher.glossary.expand(query)
                mark = time.perf_counter()
                vector = embedder.encode([" ".join([query, *expanded])])[0]
                spent["encode"].append((time.perf_counter() - mark) * 1000)
                mark = time.perf_counter()
                searcher.store.query(vector, CANDIDATES)
                spent["dense"].append((time.perf_counter() - mark) * 1000)
                mark = time.perf_counter()
                searcher.keyword.search(query_terms(query), expanded, CANDIDATES)
                spent["keyword"].append((time.perf_counter() - mark) * 1000)
    return {
        "timings": timings,
        "queries": len(queries),
        "candidates": CANDIDATES,
        "embedder": type(embedder).__name__,
    }


CHILDREN = {"memory": child_memory, "queries": child_queries}


# ---------------------------------------------------------------- the run


def base_collection(work: Path, embedder) -> tuple[list, np.ndarray, object, float]:
    """The bundled corpus indexed for real (kb.reindex, the real model), read back with its
    vectors."""
    from kb.embed import token_counter
    from kb.reindex import reindex
    from kb.settings import Settings
    from kb.store import Published

    settings = Settings.from_env(corpus_dir=ROOT / "corpus", index_dir=work / "base", chroma_url="")
    started = time.perf_counter()
    summary = reindex(settings, lambda: embedder, token_counter())
    took = time.perf_counter() - started
    if summary.failed:
        raise SystemExit(f"indexing the corpus failed: {summary.failed}")
    store = Published.open(settings.index_dir)
    chunks = sorted(store.chunks(), key=lambda chunk: (chunk.document, chunk.position))
    vectors = np.asarray([store.vector(chunk.id) for chunk in chunks], dtype=np.float32)
    return chunks, vectors, store.manifest, took


def table(rows: list[tuple[str, str, str, str]]) -> str:
    lines = ["| what | small | large | large / small |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> None:
    from kb.embed import load_embedder
    from kb.settings import Settings

    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="kb-scale-"))
    if (ROOT / "index").resolve() in [work.resolve(), *work.resolve().parents]:
        raise SystemExit("--workdir must not be inside the project's index/ folder")
    work.mkdir(parents=True, exist_ok=True)
    for name in ("base", "small", "large"):
        if (work / name).exists():
            raise SystemExit(f"{work / name} exists: give an empty --workdir")
    say = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    host = machine()
    try:
        say(f"working in {work}; loading the model and indexing the bundled corpus…")
        embedder = load_embedder(
            runtime=Settings.from_env().embedder, cache=Settings.from_env().model_cache
        )
        base, base_vectors, manifest, base_took = base_collection(work, embedder)
        chunks, origin = replicate(base, args.chunks)
        say(
            f"{len(base)} base passages, {len(chunks)} in the large collection; "
            f"vectors: {args.embed}"
        )

        encode = {}
        if args.embed == "real":
            texts = [chunk.embedding_text() for chunk in chunks]
            mark = time.perf_counter()
            embedder.encode([chunk.embedding_text() for chunk in base])
            encode["small"] = time.perf_counter() - mark
            mark = time.perf_counter()
            vectors = embedder.encode(texts)
            encode["large"] = time.perf_counter() - mark
            closeness = float(
                np.mean(np.sum(vectors[len(base) :] * base_vectors[origin[len(base) :]], axis=1))
            )
            vectors_said = (
                f"real: all {len(chunks)} passages encoded by the model "
                f"(replica-to-base cosine, mean {closeness:.3f})"
            )
        else:
            replicas = np.arange(len(base), len(chunks))
            sample = np.random.default_rng(3).choice(
                replicas, size=min(CALIBRATION_SAMPLE, len(replicas)), replace=False
            )
            real = embedder.encode([chunks[i].embedding_text() for i in sample])
            closeness = float(np.mean(np.sum(real * base_vectors[origin[sample]], axis=1)))
            sigma = (
                args.noise
                if args.noise is not None
                else sigma_for(closeness, base_vectors.shape[1])
            )
            vectors = base_vectors[origin].copy()
            vectors[len(base) :] = perturb(vectors[len(base) :], sigma)
            made = float(
                np.mean(np.sum(vectors[len(base) :] * base_vectors[origin[len(base) :]], axis=1))
            )
            vectors_said = (
                "perturbed: each replica's vector is its base passage's real vector plus "
                f"Gaussian noise (sigma {sigma:.4f} per dimension), renormalised; "
                f"replica-to-base cosine {made:.3f}, "
                f"where the real model gives {closeness:.3f} on {len(sample)} sampled replicas"
            )
        del embedder

        say("writing the small and large generations through the Store API…")
        small_write = write_generation(work / "small", manifest, base, base_vectors)
        large_write = write_generation(work / "large", manifest, chunks, vectors)
        say("start-up and memory, one child process per collection…")
        memory = {name: child("memory", str(work / name)) for name in ("small", "large")}
        say(f"queries, {args.rounds} rounds alternating the two collections…")
        timed = child("queries", str(args.rounds), str(work / "small"), str(work / "large"))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    small_t, large_t = timed["timings"]
    ms = lambda v: f"{v:.3f} ms" if v < 0.1 else f"{v:.1f} ms"  # noqa: E731
    s = lambda v: f"{v:.3f} s" if v < 1 else f"{v:.2f} s"  # noqa: E731
    mb = lambda v: f"{v:.0f} MB"  # noqa: E731
    ratio = lambda a, b: f"{b / a:.2f}x" if a else "-"  # noqa: E731
    rows: list[tuple[str, str, str, str]] = []

    def row(label, small, large, fmt, note=""):
        rows.append((label, fmt(small), fmt(large), ratio(small, large) + note))

    rows.append(
        (
            "passages (agencies, documents)",
            f"{memory['small']['count']} "
            f"({memory['small']['agencies']}, {memory['small']['documents']})",
            f"{memory['large']['count']} "
            f"({memory['large']['agencies']}, {memory['large']['documents']})",
            ratio(memory["small"]["count"], memory["large"]["count"]),
        )
    )
    if encode:
        row("encode passages with the model", encode["small"], encode["large"], s)
        row(
            "  encode time per passage",
            encode["small"] / len(base) * 1000,
            encode["large"] / len(chunks) * 1000,
            ms,
        )
    row(
        "index: Writer + add + keyword sync + publish",
        small_write["total"],
        large_write["total"],
        s,
    )
    rows.append(
        (
            "  rows per second",
            f"{small_write['rows'] / small_write['total']:.0f}",
            f"{large_write['rows'] / large_write['total']:.0f}",
            "",
        )
    )
    row(
        "  index time per row",
        small_write["total"] / small_write["rows"] * 1000,
        large_write["total"] / large_write["rows"] * 1000,
        lambda v: f"{v:.2f} ms",
    )
    for step in ("add", "keyword", "publish"):
        row(f"  of which {step}", small_write[step], large_write[step], s)
    row(
        "keyword index file",
        small_write["keyword_mb"],
        large_write["keyword_mb"],
        lambda v: f"{v:.1f} MB",
    )
    row(
        "Chroma store on disk",
        small_write["chroma_mb"],
        large_write["chroma_mb"],
        lambda v: f"{v:.1f} MB",
    )
    row(
        "Searcher start-up, cold (open_searcher to ready)",
        memory["small"]["startup"],
        memory["large"]["startup"],
        s,
    )
    row("  of which Published.open", memory["small"]["open"], memory["large"]["open"], s)
    row(
        "Searcher start-up again, warm, under cProfile",
        memory["small"]["profiled"],
        memory["large"]["profiled"],
        s,
    )
    shown = sorted(memory["large"]["parts"], key=lambda name: -memory["large"]["parts"][name])
    for part in [
        name
        for name in shown
        if memory["large"]["parts"][name] >= 0.01 * memory["large"]["profiled"]
    ]:
        row(
            f"  of which {part}",
            memory["small"]["parts"].get(part, 0.0),
            memory["large"]["parts"][part],
            s,
        )
    candidates = timed["candidates"]
    for name, label in (
        ("search", "query, full ranking"),
        ("encode", "  query encode alone"),
        ("dense", f"  Published.query, k={candidates}"),
        ("keyword", f"  KeywordIndex.search, k={candidates}"),
        ("repeat", "query repeated (answered from memory)"),
    ):
        row(
            f"{label} p50",
            statistics.median(small_t[name]),
            statistics.median(large_t[name]),
            ms,
            " (target <= 1.3x)" if name == "search" else "",
        )
        row(f"{label} p95", percentile(small_t[name], 0.95), percentile(large_t[name], 0.95), ms)
        if name == "search":
            # Encoding the query does not depend on the collection: what is left is what grows with
            # it.
            less = [[a - b for a, b in zip(t["search"], t["encode"])] for t in (small_t, large_t)]
            row(
                "  full ranking less query encode, p50",
                statistics.median(less[0]),
                statistics.median(less[1]),
                ms,
            )
    mem_small, mem_large = memory["small"]["memory"], memory["large"]["memory"]
    row("RSS, model loaded (before the index)", mem_small["model"], mem_large["model"], mb)
    row("RSS, Searcher ready", mem_small["ready"], mem_large["ready"], mb)
    row("RSS, after one pass of the golden queries", mem_small["queried"], mem_large["queried"], mb)
    row("RSS peak (VmHWM)", mem_small["peak"], mem_large["peak"], mb)
    row(
        "RSS the index adds (after queries - model loaded)",
        mem_small["queried"] - mem_small["model"],
        mem_large["queried"] - mem_large["model"],
        mb,
    )

    print(f"# kb scale benchmark, {time.strftime('%Y-%m-%d %H:%M')}\n")
    print(f"Machine: {host}.  ")
    print(
        f"Small: the bundled corpus, {len(base)} passages "
        f"(indexed with the real model in {base_took:.1f} s). "
        f"Large: {len(chunks)} passages, the corpus and {len(chunks) // len(base)} "
        "varied replicas.  "
    )
    print(f"Vectors: {vectors_said}.  ")
    print(f"Model: {timed['embedder']} (KB_EMBEDDER).  ")
    print(
        f"Queries: {timed['queries']} golden queries x {args.rounds} rounds on each collection, "
        "warm, in one process, each query on one collection then the other (k = 11 + round, so "
        "never answered from memory). Start-up and RSS (VmRSS/VmHWM from /proc/self/status): one "
        "fresh process per collection, model loaded first.\n"
    )
    print(table(rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--chunks", type=int, default=20000, help="passages in the large collection"
    )
    parser.add_argument(
        "--embed",
        choices=EMBED_MODES,
        default="perturb",
        help="real: encode every passage (slow); perturb: base vectors plus calibrated noise",
    )
    parser.add_argument(
        "--noise",
        type=float,
        default=None,
        help="perturb: noise per dimension (default: calibrated)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=5,
        choices=range(1, 40),
        metavar="1..39",
        help="passes over the golden queries per collection",
    )
    parser.add_argument(
        "--workdir", default=None, help="where to build (default: a new temporary folder)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, *rest = args.child
        print(json.dumps(CHILDREN[mode](*rest)))
        return
    run(args)


if __name__ == "__main__":
    main()
