"""Requests per second against a server on this machine, from a process of its own: what
``bench.search`` drives the site with where wrk is not installed.

    python -m bench.load --port PORT [--seconds 10] [--connections 4] PATH [PATH ...]

Each connection is a thread holding one keep-alive HTTP/1.1 connection, asking for the paths in
turn (each thread starting at its own place). An answer other than 200, or a connection that
fails (then opened again), counts as an error. Prints one JSON object: requests, errors,
requests_per_s, p50_ms, p99_ms. Python threads share one interpreter lock, so this client costs
the server more CPU than wrk does: its rate is a lower bound of wrk's on the same machine.
"""

from __future__ import annotations

import argparse
import http.client
import json
import threading
import time
from typing import Any

from bench.environment import percentile


class _Connection:
    """One client: its requests' latencies (ms) and errors until the deadline."""

    def __init__(self, port: int, paths: list[str], start: int, deadline: float) -> None:
        self.port = port
        self.paths = paths
        self.next = start
        self.deadline = deadline
        self.latencies: list[float] = []
        self.errors = 0

    def run(self) -> None:
        client = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        while time.perf_counter() < self.deadline:
            path = self.paths[self.next % len(self.paths)]
            self.next += 1
            started = time.perf_counter()
            try:
                client.request("GET", path)
                response = client.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                self.errors += 1
                client.close()
                client = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                continue
            if response.status == 200:
                self.latencies.append((time.perf_counter() - started) * 1000)
            else:
                self.errors += 1
        client.close()


def drive(port: int, paths: list[str], seconds: float, connections: int) -> dict[str, Any]:
    """Ask for ``paths`` over ``connections`` connections for ``seconds``; the figures."""
    if not paths:
        raise ValueError("no paths to ask for")
    started = time.perf_counter()
    clients = [
        _Connection(port, paths, index * len(paths) // connections, started + seconds) for index in range(connections)
    ]
    threads = [threading.Thread(target=client.run) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    latencies = [latency for client in clients for latency in client.latencies]
    return {
        "requests": len(latencies),
        "errors": sum(client.errors for client in clients),
        "requests_per_s": round(len(latencies) / elapsed, 1),
        "connections": connections,
        "seconds": seconds,
        "p50_ms": round(percentile(latencies, 0.5), 3),
        "p99_ms": round(percentile(latencies, 0.99), 3),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("paths", nargs="+")
    args = parser.parse_args(argv)
    if args.connections < 1 or args.seconds <= 0:
        parser.error("--connections must be at least 1 and --seconds above 0")
    figures = drive(args.port, args.paths, args.seconds, args.connections)
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
