"""Latency of the search page and /api/search over loopback, one client, the golden queries twice.

Start the server first (`.venv/bin/kb serve --port 5057`), then:

    .venv/bin/python bench/http_latency.py [--url http://127.0.0.1:5057]
"""

from __future__ import annotations

import argparse
import statistics
import time
import urllib.parse
import urllib.request

from kb.evaluate import GOLDEN, load_queries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:5057")
    args = parser.parse_args()
    if urllib.parse.urlparse(args.url).hostname not in ("127.0.0.1", "localhost", "::1"):
        parser.error("this benchmark only runs against a server on this machine")
    queries = [query["query"] for query in load_queries(GOLDEN)] * 2
    for name, route in (("/api/search", "/api/search?q="), ("search page", "/?q=")):
        timings = []
        for query in queries:
            started = time.perf_counter()
            with urllib.request.urlopen(
                args.url + route + urllib.parse.quote(query), timeout=30
            ) as response:
                response.read()
            timings.append((time.perf_counter() - started) * 1000)
        timings.sort()
        p95 = timings[min(len(timings) - 1, round(0.95 * (len(timings) - 1)))]
        print(
            f"{name:<12} p50 {statistics.median(timings):6.1f} ms   p95 {p95:6.1f} ms   "
            f"({len(timings)} requests)"
        )


if __name__ == "__main__":
    main()
