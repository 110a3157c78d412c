"""A bounded load test of /api/search over loopback: concurrent clients, errors and latency
percentiles.

Start the server first (`.venv/bin/kb serve --port 5057`), then:

    .venv/bin/python bench/load_test.py [--url http://127.0.0.1:5057] [--clients 1,4,8]
        [--requests 200] [--seconds 60]

Each round sends at most --requests requests, for at most --seconds, from N clients that each send
the golden queries in turn, one request at a time. Only a server on this machine is accepted.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from kb.evaluate import GOLDEN, load_queries

LOOPBACK = ("127.0.0.1", "localhost", "::1")
MAX_REQUESTS, MAX_SECONDS = 5000, 600  # hard ceilings, whatever the flags say


def percentile(sorted_values: list[float], share: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, round(share * (len(sorted_values) - 1)))]


def round_of(url: str, queries: list[str], clients: int, requests: int, seconds: float) -> dict:
    """One round: `clients` threads share a budget of `requests` requests and `seconds` of time."""
    budget = iter(range(requests))
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    timings: list[float] = []
    outcomes: Counter[str] = Counter()

    def client(number: int) -> None:
        turn = number
        while time.monotonic() < deadline:
            with lock:
                if next(budget, None) is None:
                    return
            query = queries[turn % len(queries)]
            turn += clients
            started = time.perf_counter()
            try:
                with urllib.request.urlopen(
                    f"{url}/api/search?q={urllib.parse.quote(query)}", timeout=30
                ) as response:
                    response.read()
                    outcome = str(response.status)
            except urllib.error.HTTPError as error:
                outcome = str(error.code)
            except (urllib.error.URLError, OSError) as error:
                outcome = type(error).__name__
            took = (time.perf_counter() - started) * 1000
            with lock:
                timings.append(took)
                outcomes[outcome] += 1

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    wall = time.perf_counter() - started
    timings.sort()
    return {
        "clients": clients,
        "requests": len(timings),
        "errors": sum(count for outcome, count in outcomes.items() if outcome != "200"),
        "outcomes": dict(outcomes),
        "per_second": len(timings) / wall if wall else 0.0,
        "p50": statistics.median(timings) if timings else float("nan"),
        "p95": percentile(timings, 0.95) if timings else float("nan"),
        "p99": percentile(timings, 0.99) if timings else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:5057")
    parser.add_argument(
        "--clients", default="1,4,8", help="comma-separated client counts, one round each"
    )
    parser.add_argument(
        "--requests", type=int, default=200, help=f"requests per round (at most {MAX_REQUESTS})"
    )
    parser.add_argument(
        "--seconds", type=float, default=60, help=f"seconds per round (at most {MAX_SECONDS})"
    )
    args = parser.parse_args()
    if urllib.parse.urlparse(args.url).hostname not in LOOPBACK:
        parser.error("this load test only runs against a server on this machine")
    clients = [int(part) for part in args.clients.split(",") if part.strip()]
    if not clients or min(clients) < 1 or max(clients) > 64:
        parser.error("--clients takes counts from 1 to 64")
    requests, seconds = min(args.requests, MAX_REQUESTS), min(args.seconds, MAX_SECONDS)
    queries = [query["query"] for query in load_queries(GOLDEN)]
    print(f"/api/search at {args.url}: up to {requests} requests or {seconds:.0f} s per round")
    print("| clients | requests | errors | requests/s | p50 ms | p95 ms | p99 ms |")
    print("|---|---|---|---|---|---|---|")
    for count in clients:
        row = round_of(args.url.rstrip("/"), queries, count, requests, seconds)
        print(
            f"| {row['clients']} | {row['requests']} | {row['errors']} | {row['per_second']:.1f} | "
            f"{row['p50']:.1f} | {row['p95']:.1f} | {row['p99']:.1f} |"
        )
        if row["errors"]:
            print(f"  outcomes: {row['outcomes']}")


if __name__ == "__main__":
    main()
