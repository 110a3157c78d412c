"""Query latency against its floor, in process and over HTTP, plus start-up times; ratios from one
run.

The floor is what no search can beat: the model encoding the query alone. Absolute times drift
between runs on a shared machine; ratios measured in the same run do not drift much.

    .venv/bin/python bench/latency.py [--index index] [--rounds 3]

Needs an index (`kb reindex`). Starts its own `kb serve` on a free loopback port, and stops it.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import replace
from functools import partial
from pathlib import Path

from kb.evaluate import GOLDEN, load_queries
from kb.search import open_searcher
from kb.settings import Settings

KB = str(Path(sys.executable).with_name("kb"))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def timed(call, repeat: int) -> list[float]:
    spent = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        spent.append((time.perf_counter() - started) * 1000)
    return spent


def over_queries(queries: list[str], rounds: int, call) -> list[float]:
    return [ms for _ in range(rounds) for query in queries for ms in timed(partial(call, query), 1)]


def start_server(index: Path, cache: int) -> tuple[subprocess.Popen, str, float]:
    """`kb serve` on a free port; its URL and the seconds from start to a healthy /healthz."""
    env = {**os.environ, "KB_ANSWER_CACHE": str(cache), "KB_INDEX_DIR": str(index)}
    started = time.perf_counter()
    process = subprocess.Popen(
        [KB, "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    line = process.stdout.readline()
    url = re.search(r"http://127\.0\.0\.1:\d+", line)
    if not url:
        process.kill()
        raise SystemExit(f"kb serve did not start: {line!r}")
    while True:
        try:
            urllib.request.urlopen(url.group(0) + "/healthz", timeout=5).close()
            return process, url.group(0), time.perf_counter() - started
        except OSError:
            time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", default=None)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    settings = Settings.from_env(index_dir=args.index)
    queries = [query["query"] for query in load_queries(GOLDEN)]
    remembered = open_searcher(settings)
    embedder = remembered.embedder
    fresh = open_searcher(replace(settings, answer_cache=0), embedder)  # each query ranked anew

    rows: list[tuple[str, list[float]]] = []
    floor = over_queries(queries, args.rounds, lambda query: embedder.encode([query]))
    rows.append(("floor: encode the query alone", floor))
    rows.append(
        (
            "in process, full ranking",
            over_queries(queries, args.rounds, lambda query: fresh.search(query)),
        )
    )
    for query in queries:
        remembered.search(query)
    rows.append(
        (
            "in process, repeated query (memory)",
            over_queries(queries, args.rounds, remembered.search),
        )
    )

    process, url, ready = start_server(Path(settings.index_dir), cache=0)
    try:
        address = urllib.parse.urlparse(url)

        def fetch(
            query: str,
        ) -> (
            None
        ):  # a new connection each time (http.client: urllib's opener adds 0.5 ms of its own)
            fresh_connection = http.client.HTTPConnection(
                address.hostname, address.port, timeout=30
            )
            fresh_connection.request("GET", f"/api/search?q={urllib.parse.quote(query)}")
            fresh_connection.getresponse().read()
            fresh_connection.close()

        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)

        def fetch_kept(query: str) -> None:  # one connection kept open, as a browser does
            connection.request("GET", f"/api/search?q={urllib.parse.quote(query)}")
            connection.getresponse().read()

        rows.append(
            ("HTTP /api/search, new connection each", over_queries(queries, args.rounds, fetch))
        )
        rows.append(
            (
                "HTTP /api/search, connection kept open",
                over_queries(queries, args.rounds, fetch_kept),
            )
        )
        connection.close()
    finally:
        process.terminate()
        process.wait(timeout=30)

    started = time.perf_counter()
    subprocess.run(
        [KB, "search", queries[0], "--index", str(settings.index_dir)],
        check=True,
        capture_output=True,
    )
    cold = time.perf_counter() - started

    base = statistics.median(floor)
    print(
        f"{len(queries)} golden queries x {args.rounds} rounds, {fresh.store.count()} passages, "
        f"{os.cpu_count()} CPUs"
    )
    print("| what | p50 ms | p95 ms | p50 / floor |")
    print("|---|---|---|---|")
    for name, values in rows:
        median = statistics.median(values)
        print(f"| {name} | {median:.1f} | {percentile(values, 0.95):.1f} | {median / base:.2f} |")
    print(f"\nkb serve, start to a healthy /healthz: {ready:.1f} s")
    print(f"kb search, one query, cold (a new process): {cold:.1f} s")


if __name__ == "__main__":
    main()
