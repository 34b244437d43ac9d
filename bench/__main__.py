"""python -m bench: measure the idp and the API against a waitress hello-world, each other and
peers (issues 5, 8, 10-13).

Prints a markdown report on stdout (progress on stderr); ``--json FILE`` also writes the data.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

from . import loadgen, servers
from .peer import NODE_OIDC_PROVIDER, PeerError, parse_peers
from .report import as_json, markdown
from .runner import Settings, run_bench
from .targets import TARGETS

ROOT = Path(__file__).resolve().parent.parent


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    keys = [t.key for t in TARGETS]
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--duration", type=float, default=5.0,
                        help="seconds each target runs per round and connection count (5)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (3)")
    parser.add_argument("--connections", default="8,32",
                        help="comma-separated connection counts (8,32)")
    parser.add_argument("--generator", choices=["auto", "python", "wrk"], default="auto",
                        help="auto: wrk when it is on PATH, else the Python generator (auto)")
    parser.add_argument("--processes", type=int,
                        help="generator processes (or wrk threads); default half the cores, "
                        "leaving the rest to the server")
    parser.add_argument("--targets", default=",".join(keys),
                        help=f"comma-separated subset of {','.join(keys)}, or 'none' for the "
                        "baseline alone (all)")
    parser.add_argument("--peer", action="append", default=[], metavar="[NAME=]URL",
                        help="also measure another server's token endpoint with our token "
                        "request: an issuer URL (its discovery names the token endpoint) or the "
                        "token endpoint's URL, optionally named (NAME 'before' carries issue "
                        f"13's goal); '{NODE_OIDC_PROVIDER}' starts bench/peers/"
                        f"{NODE_OIDC_PROVIDER} (ES256 and RS256) itself; repeatable")
    parser.add_argument("--peer-pid", action="append", default=[], metavar="[NAME=]PID",
                        help="the process of a --peer given by URL, to measure its CPU time")
    parser.add_argument("--full", action="store_true",
                        help="also measure the idp's memory after 1,000 and after "
                        "--memory-requests token requests, and add the node-oidc-provider peer "
                        "when it is installed")
    parser.add_argument("--memory-requests", type=int, default=100_000,
                        help="the large count of the memory measurement (100000)")
    parser.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    args = parser.parse_args(argv)
    try:
        args.connections = tuple(int(c) for c in args.connections.split(","))
    except ValueError:
        parser.error("--connections must be numbers separated by commas, e.g. 8,32")
    args.targets = () if args.targets == "none" else tuple(args.targets.split(","))
    unknown = sorted(set(args.targets) - set(keys))
    if unknown:
        parser.error(f"unknown target {unknown[0]!r}; choose from {', '.join(keys)}")
    if (args.duration <= 0 or args.rounds < 1 or min(args.connections) < 1
            or (args.processes is not None and args.processes < 1)):
        parser.error("--duration, --rounds, --connections and --processes must be positive")
    if args.generator == "wrk" and not loadgen.wrk_available():
        parser.error("--generator wrk: wrk is not on PATH")
    if args.full and args.memory_requests <= 1000:
        parser.error("--memory-requests must be more than 1000")
    if args.full and NODE_OIDC_PROVIDER not in args.peer and not servers.node_peer_missing():
        args.peer.append(NODE_OIDC_PROVIDER)
    try:
        args.peers = tuple(parse_peers(args.peer, args.peer_pid))
    except PeerError as exc:
        parser.error(str(exc))
    if NODE_OIDC_PROVIDER in args.peer and servers.node_peer_missing():
        parser.error(servers.node_peer_missing())
    return args


def header() -> dict[str, str]:
    versions = ", ".join(f"{name} {metadata.version(name)}"
                         for name in ("waitress", "python-jose", "cryptography"))
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True, check=False).stdout.strip()
    return {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "commit": commit or "unknown",
        "machine": f"{os.cpu_count()} cores, {platform.system()} {platform.machine()}, "
                   f"Python {platform.python_version()}, {versions}",
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = Settings(
        duration=args.duration, rounds=args.rounds, connections=args.connections,
        generator=args.generator, processes=args.processes, targets=args.targets,
        peers=args.peers, memory_requests=(1000, args.memory_requests) if args.full else None,
    )
    try:
        bench = run_bench(settings, progress=lambda line: print(line, file=sys.stderr, flush=True))
    except PeerError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    if args.full and NODE_OIDC_PROVIDER not in args.peer:
        bench.notes.append(f"no {NODE_OIDC_PROVIDER} peer: {servers.node_peer_missing()}")
    info = header()
    print(markdown(bench, info), end="")
    if args.json:
        Path(args.json).write_text(json.dumps(as_json(bench, info), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
