"""kb at library scale: ../shared/library/ (461 inspections, six guidance documents) beside the
bundled corpus, in collections, as a partnership would keep them.

    .venv/bin/python bench/library.py [--work /tmp/kb-library] [--skip-full] [--clients 8]

Builds the library corpus under --work (luton/, inspections/, national guidance/), then measures:
- a full `kb reindex` in a new process: wall time, CPU (its own and its PDF parsers'), peak memory,
  passages; and the raw encode time of the same passages by the same model in this process;
- adding one report, removing it again, and a reindex with nothing to do (each a new process);
- query p50 and p95 over the golden and library queries on the library index, against the same
  queries on the bundled corpus's index, each in one process with answers not remembered;
- `kb serve`'s resident memory once healthy, and `bench/load_test.py` with 8 clients against it;
- retrieval: the library's blind queries (tests/library_blind_queries.jsonl) over the whole
  library, and the golden and blind sets in their own collection and over everything.
--skip-full reuses the index a previous run left in --work.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
KB = str(Path(sys.executable).with_name("kb"))
# The bundled corpus is the partnership's own collection, beside the library's inspections and
# guidance.
LAYOUT = {
    "luton": sorted(path for path in (ROOT / "corpus").glob("*.*") if path.suffix != ".md"),
    "inspections": [SHARED / "library" / "ofsted-ilacs"],
    "national guidance": [SHARED / "library" / "guidance"],
}
# A report added: one of the library's with a comment after its end, so that it is not the same
# file (a duplicate is not read) but parses to the same passages. ../shared holds no PDF that is
# in neither the library nor the bundled corpus.
ADDED_FROM = (
    SHARED / "library" / "ofsted-ilacs" / "leeds__childrens_services_inspection_-_27_march_2015.pdf"
)
ADDED = Path("inspections/zz_added__childrens_services_inspection_-_01_december_2026.pdf")


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def build_corpus(corpus: Path) -> dict[str, str]:
    """The library corpus; {file name: its name under the corpus} for mapping query files."""
    names: dict[str, str] = {}
    for folder, sources in LAYOUT.items():
        (corpus / folder).mkdir(parents=True, exist_ok=True)
        for source in sources:
            files = sorted(source.glob("*")) if source.is_dir() else [source]
            for file in files:
                if not (corpus / folder / file.name).exists():
                    shutil.copy(file, corpus / folder / file.name)
                names[file.name] = f"{folder}/{file.name}"
    return names


def timed(command: list[str], env: dict) -> dict:
    """Run a command; its wall time, and CPU and peak memory (its own and its children's)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "wall": wall,
        "cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "peak_mb": after.ru_maxrss / 1024,  # the largest child so far: the reindex itself
        "code": done.returncode,
        "out": done.stdout.strip().splitlines()[-1:] if done.stdout else [],
        "err": [line for line in done.stderr.splitlines() if line.startswith(("failed", "dup"))],
    }


def raw_encode(index: Path) -> dict:
    """The loaded model encoding every passage of an index, as a reindex embeds them."""
    from kb.embed import load_embedder
    from kb.reindex import EMBED_SLICE
    from kb.settings import Settings
    from kb.store import Published

    settings = Settings.from_env(index_dir=index, chroma_url="")
    store = Published.open(index, exact_up_to=0)
    texts = sorted((chunk.embedding_text() for chunk in store.chunks()), key=len)
    store.close()
    embedder = load_embedder(settings.model, settings.embedder, settings.model_cache)
    started = time.perf_counter()
    for start in range(0, len(texts), EMBED_SLICE):
        embedder.encode(texts[start : start + EMBED_SLICE], batch_size=settings.batch_size)
    return {"passages": len(texts), "seconds": time.perf_counter() - started}


def query_times(index: Path, queries: list[str], collections: tuple[str, ...] = ()) -> dict:
    """p50 and p95 of a search, each query twice over, answers not remembered."""
    from kb.search import open_searcher
    from kb.settings import Settings

    settings = Settings.from_env(index_dir=index, chroma_url="", answer_cache=0)
    started = time.perf_counter()
    searcher = open_searcher(settings)
    opened = time.perf_counter() - started
    spent = []
    for _ in range(2):
        for query in queries:
            mark = time.perf_counter()
            searcher.search(query, k=10)
            spent.append((time.perf_counter() - mark) * 1000)
    spent.sort()
    searcher.close()
    return {
        "p50": statistics.median(spent),
        "p95": spent[round(0.95 * (len(spent) - 1))],
        "open": opened,
    }


def kept_vectors(path: Path, key: str) -> dict:
    """{key: vector} a bench script kept in an .npz under these keys ({} if it kept none)."""
    import numpy as np

    if not path.exists():
        return {}
    with np.load(path) as held:
        return dict(zip(held[key].tolist(), held["vectors"]))


def keep_vectors(path: Path, key: str, vectors: dict) -> None:
    """Keep {key: vector} in an .npz, for kept_vectors to read on the next run."""
    import numpy as np

    keys = sorted(vectors)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **{key: np.array(keys), "vectors": np.stack([vectors[k] for k in keys])})


def mapped(path: Path, names: dict[str, str], collection: bool) -> list[dict]:
    """A query file with each doc named as the library corpus names it (and, if asked, searched in
    that document's collection)."""
    from kb.evaluate import load_queries

    out = []
    for query in load_queries(path):
        query = dict(query)
        doc = query.get("doc")
        if doc:
            query["doc"] = names.get(Path(doc).name, doc)
            if collection:
                query["collection"] = query["doc"].split("/")[0]
        elif collection:
            query["collection"] = "luton"  # a golden query without a doc asks about the bundled
        out.append(query)
    return out


def retrieval(index: Path, names: dict[str, str]) -> dict:
    from kb.evaluate import GOLDEN, evaluate
    from kb.search import open_searcher
    from kb.settings import Settings

    searcher = open_searcher(Settings.from_env(index_dir=index, chroma_url="", answer_cache=0))
    sets = {
        "library blind": (ROOT / "tests" / "library_blind_queries.jsonl", False),
        "library dev": (ROOT / "tests" / "library_dev_queries.jsonl", False),
        "golden, everything": (GOLDEN, False),
        "golden, own collection": (GOLDEN, True),
        "blind, everything": (ROOT / "tests" / "blind_queries.jsonl", False),
        "blind, own collection": (ROOT / "tests" / "blind_queries.jsonl", True),
    }
    figures = {}
    for name, (path, own) in sets.items():
        queries = mapped(path, names, own)
        report = evaluate(searcher, queries)
        figures[name] = report.figures()
        if name == "library blind":
            figures[name]["standard_in_top_3"] = sum(
                any(hit.standard for hit in searcher.search(q["query"], k=3).hits) for q in queries
            )
            figures[name]["misses"] = [
                (miss["id"], miss["rank"], miss["query"][:60]) for miss in report.misses
            ]
    searcher.close()
    return figures


def serve_and_load(index: Path, corpus: Path, clients: str) -> dict:
    env = {**os.environ, "KB_ANSWER_CACHE": "0"}
    process = subprocess.Popen(
        [KB, "serve", "--port", "5071", "--index", str(index), "--corpus", str(corpus)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen("http://127.0.0.1:5071/healthz", timeout=5) as answer:
                    if json.load(answer).get("status") == "ok":
                        break
            except OSError:
                time.sleep(0.5)
        rss = int(
            next(
                line.split()[1]
                for line in Path(f"/proc/{process.pid}/status").read_text().splitlines()
                if line.startswith("VmRSS")
            )
        )
        load = subprocess.run(
            [
                sys.executable,
                str(ROOT / "bench" / "load_test.py"),
                "--url",
                "http://127.0.0.1:5071",
                "--clients",
                clients,
                "--requests",
                "400",
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        return {"rss_mb": rss / 1024, "load": load.stdout.strip()}
    finally:
        process.terminate()
        process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/kb-library"))
    parser.add_argument("--skip-full", action="store_true")
    parser.add_argument("--clients", default="1,8")
    args = parser.parse_args()
    corpus, index = args.work / "corpus", args.work / "index"
    (corpus / ADDED).unlink(missing_ok=True)  # left by a run stopped early
    names = build_corpus(corpus)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KB_")}
    results: dict = {"files": sum(1 for path in corpus.rglob("*") if path.is_file())}
    reindex = [KB, "reindex", "--corpus", str(corpus), "--index", str(index)]
    if not args.skip_full:
        shutil.rmtree(index, ignore_errors=True)
        say("full reindex…")
        results["full"] = timed(reindex, env)
        say(json.dumps(results["full"]))
        say("raw encode of the same passages…")
        results["encode"] = raw_encode(index)
    say("one report added, then removed, then nothing to do…")
    added = corpus / ADDED
    added.write_bytes(ADDED_FROM.read_bytes() + b"\n% added by bench/library.py\n")
    results["add_one"] = timed(reindex, env)
    added.unlink()
    results["remove_one"] = timed(reindex, env)
    results["no_op"] = timed(reindex, env)
    say("queries…")
    from kb.evaluate import GOLDEN, load_queries

    queries = [q["query"] for q in load_queries(GOLDEN)] + [
        q["query"] for q in load_queries(ROOT / "tests" / "library_blind_queries.jsonl")
    ]
    results["queries_library"] = query_times(index, queries)
    small = args.work / "small-index"
    # Built if missing, made again by another chunker's index, else nothing to do.
    subprocess.run(
        [KB, "reindex", "--corpus", str(ROOT / "corpus"), "--index", str(small)],
        env=env,
        cwd=ROOT,
        capture_output=True,
    )
    results["queries_bundled"] = query_times(small, queries)
    say("retrieval…")
    results["retrieval"] = retrieval(index, names)
    say("kb serve and load…")
    results["serve"] = serve_and_load(index, corpus, args.clients)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
