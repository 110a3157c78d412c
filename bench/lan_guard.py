"""What hostile clients on the network do to a real `kb serve` (issue 18), bounded and on loopback.

    .venv/bin/python bench/lan_guard.py [--index index/] [--attackers 4] [--per-attacker 100]

Starts `kb serve` on 127.0.0.1 over an index already built (`kb reindex`), then measures:
- a practitioner's search latency (p50, p95 of 100 searches) with nobody else connected;
- the same while --attackers other loopback addresses (127.0.0.2, …) each hold --per-attacker
  half-open connections (a slow-loris), and how many of those the server kept and refused;
- how long the server takes to cut off the half-open connections it kept (KB_REQUEST_TIMEOUT);
- the server's resident memory before and after two POSTs that announce 300 MB bodies.
Everything stays on this machine; the server is stopped at the end.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

KB = str(Path(sys.executable).with_name("kb"))
QUERY = "what does the hospital do for DA out of hours?"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def searches(port: int, count: int = 100) -> list[float]:
    url = f"http://127.0.0.1:{port}/api/search?" + urllib.parse.urlencode({"q": QUERY, "k": 5})
    timings = []
    for _ in range(count):
        started = time.perf_counter()
        with urllib.request.urlopen(url, timeout=30) as response:
            response.read()
        timings.append((time.perf_counter() - started) * 1000)
    return sorted(timings)


def half_open(port: int, source: str) -> socket.socket | None:
    connection = socket.socket()
    try:
        connection.bind((source, 0))
        connection.connect(("127.0.0.1", port))
        connection.sendall(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Slow: ".encode())
    except OSError:
        connection.close()
        return None
    return connection


def is_closed(connection: socket.socket, wait: float) -> bool:
    connection.settimeout(max(wait, 0.001))
    try:
        return connection.recv(4096) == b""
    except (TimeoutError, BlockingIOError):
        return False
    except OSError:
        return True


def figures(timings: list[float]) -> str:
    p95 = timings[min(len(timings) - 1, round(0.95 * (len(timings) - 1)))]
    return f"p50 {statistics.median(timings):.1f} ms, p95 {p95:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index", default="index")
    parser.add_argument("--attackers", type=int, default=4)
    parser.add_argument("--per-attacker", type=int, default=100)
    args = parser.parse_args()
    port = free_port()
    # Every search answered afresh, not from the answer cache.
    env = {**os.environ, "KB_INDEX_DIR": args.index, "HF_HUB_OFFLINE": "1", "KB_ANSWER_CACHE": "0"}
    server = subprocess.Popen(
        [KB, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    sys.exit("kb serve did not start: is there an index? run `kb reindex`")
                time.sleep(0.5)
        searches(port, 10)  # warm
        print(f"alone: {figures(searches(port))}")

        held = []
        opened = time.monotonic()
        for attacker in range(args.attackers):
            source = f"127.0.0.{attacker + 2}"
            for _ in range(args.per_attacker):
                connection = half_open(port, source)
                if connection is not None:
                    held.append(connection)
        time.sleep(0.5)
        refused = sum(is_closed(connection, 0.05) for connection in held)
        total = args.attackers * args.per_attacker
        timings = searches(port)
        print(
            f"with {total} half-open connections from {args.attackers} addresses: "
            f"{figures(timings)}; {total - refused} kept, {refused} refused at once"
        )
        kept = [connection for connection in held if not is_closed(connection, 0)]
        while kept and time.monotonic() - opened < 120:
            kept = [connection for connection in kept if not is_closed(connection, 0.01)]
            time.sleep(0.2)
        took = time.monotonic() - opened
        print(f"the kept half-open connections were all cut off {took:.1f} s after they opened")
        for connection in held:
            connection.close()

        before = rss_mb(server.pid)
        for _ in range(2):
            connection = socket.create_connection(("127.0.0.1", port))
            connection.sendall(
                f"POST /packs HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                "Content-Type: application/x-www-form-urlencoded\r\n"
                "Content-Length: 300000000\r\n\r\n".encode()
            )
            try:
                chunk = b"a" * (1 << 20)
                for _ in range(300):
                    connection.sendall(chunk)
            except OSError:
                pass  # refused and closed by the server, as it should be
            connection.close()
        time.sleep(1)
        print(
            f"two POSTs announcing 300 MB: resident memory {before:.0f} MB before, "
            f"{rss_mb(server.pid):.0f} MB after"
        )
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
