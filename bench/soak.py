"""python -m bench.soak MINUTES: good and hostile traffic against real servers (issue 4, Proof).

Starts an idp and a resource_api on free loopback ports (access logs on, as in production),
then for MINUTES sends from CONCURRENCY threads, each with its own keep-alive connections, a
weighted mix of good and bad requests (``bench/soak_kinds.py``), beside slow clients that
trickle requests a byte a second (``bench/soak_slow.py``), and checks every answer's status
and body against what its kind must get. Reports per kind the counts, every unexpected
answer (there must be none), transport errors, the resident memory of both servers sampled
over the run, and whether a secret or a token ever reached a log. Exit status 0 only with no
unexpected answer, no error and no leak. Bounded by the clock and by a request count.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import re
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import servers
from .soak_kinds import ATTACKER, GOOD, GRANT, KINDS, VICTIMS, Context, token_request
from .soak_slow import SLOW, SLOW_KINDS, run_slow_clients
from .targets import basic, probe

MAX_REQUESTS_PER_THREAD = 5_000_000
TIMEOUT = 15.0          # seconds for one request
SAMPLES = 10            # memory samples over the run
MAX_EXAMPLES = 20       # unexpected answers and errors kept verbatim
FLAT_KIB = 10 * 1024    # "memory flat": the second half grows less than this
LEAK = re.compile(r"eyJ[\w-]{8,}\.|soak-secret-")  # a JWT, or any secret the soak sends


@dataclass
class Tally:
    sent: int = 0
    expected: int = 0
    unexpected: int = 0
    errors: int = 0
    statuses: Counter = field(default_factory=Counter)


@dataclass
class Shared:
    tallies: list[dict[str, Tally]] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def example(self, text: str) -> None:
        with self.lock:
            if len(self.examples) < MAX_EXAMPLES:
                self.examples.append(text)


def worker(index: int, ports: dict[str, int], ctx: Context, deadline: float, seed: int,
           shared: Shared) -> None:
    rng = random.Random(seed * 1000 + index)
    cum_weights = list(_cumulative([k.weight for k in KINDS]))
    tallies = {kind.name: Tally() for kind in KINDS}
    conns: dict[tuple[str, str], http.client.HTTPConnection] = {}
    for _ in range(MAX_REQUESTS_PER_THREAD):
        if time.monotonic() >= deadline:
            break
        kind = rng.choices(KINDS, cum_weights=cum_weights)[0]
        request = kind.build(rng, ctx)
        tally = tallies[kind.name]
        tally.sent += 1
        conn = conns.get((kind.server, kind.source))
        if conn is None:
            conn = conns[kind.server, kind.source] = http.client.HTTPConnection(
                servers.HOST, ports[kind.server], timeout=TIMEOUT,
                source_address=(kind.source, 0))
        try:
            conn.request(request.method, request.path, body=request.body or None,
                         headers=dict(request.headers))
            response = conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            tally.errors += 1
            shared.example(f"{kind.name}: error {exc!r}")
            continue
        tally.statuses[response.status] += 1
        check = kind.expect.get(response.status)
        if check is not None and check(body):
            tally.expected += 1
            if kind.name == "token_basic":  # the API calls use the newest token
                ctx.token = json.loads(body)["access_token"]
        else:
            tally.unexpected += 1
            shared.example(f"{kind.name}: expected {kind.describe()}, got {response.status} "
                           f"{body[:200]!r}")
    for conn in conns.values():
        conn.close()
    with shared.lock:
        shared.tallies.append(tallies)


def _cumulative(weights: list[int]) -> list[int]:
    total, out = 0, []
    for weight in weights:
        total += weight
        out.append(total)
    return out


def slow_worker(ports: dict[str, int], deadline: float, shared: Shared) -> None:
    tallies = {kind.name: Tally() for kind in SLOW_KINDS}
    run_slow_clients(ports, deadline, tallies, shared)
    with shared.lock:
        shared.tallies.append(tallies)


def run_soak(minutes: float, concurrency: int, seed: int = 1,
             progress: Any = lambda _line: None,
             header_timeout: float | None = None) -> dict[str, Any]:
    """``header_timeout`` is passed to both servers (their default when None)."""
    duration = minutes * 60
    extra = ("--header-timeout", str(header_timeout)) if header_timeout else ()
    with servers.make_workdir("soak-") as tmp:
        work = Path(tmp)
        good_secret = f"soak-secret-good-{seed}"
        victims = {f"victim-{i}": f"soak-secret-victim-{i}" for i in range(VICTIMS)}
        with servers.start_idp(work, clients={"client": good_secret, **victims},
                               extra=extra) as idp, \
                servers.start_api(work, idp.port, extra=extra) as api:
            status, body = probe(servers.HOST, idp.port,
                                 token_request(GRANT, basic("client", good_secret)))
            if status != 200:
                raise RuntimeError(f"the first token request answered {status}: {body[:200]!r}")
            ctx = Context("client", good_secret, ("client", *victims),
                          json.loads(body)["access_token"], "soak-secret-wrong")
            procs = {"idp": idp, "api": api}
            memory: dict[str, list[int]] = {name: [p.rss_kib()] for name, p in procs.items()}
            shared = Shared()
            started = time.monotonic()
            deadline = started + duration
            ports = {"idp": idp.port, "api": api.port}
            threads = [threading.Thread(target=worker, daemon=True, args=(
                i, ports, ctx, deadline, seed, shared)) for i in range(concurrency)]
            threads.append(threading.Thread(target=slow_worker, daemon=True,
                                            args=(ports, deadline, shared)))
            for thread in threads:
                thread.start()
            for sample in range(1, SAMPLES + 1):
                time.sleep(max(0.0, started + duration * sample / SAMPLES - time.monotonic()))
                for name, proc in procs.items():
                    memory[name].append(proc.rss_kib())
                progress(f"soak: {sample * 100 // SAMPLES}% idp {memory['idp'][-1]} KiB, "
                         f"api {memory['api'][-1]} KiB")
            for thread in threads:
                thread.join(timeout=TIMEOUT + 5)
            elapsed = time.monotonic() - started
            alive = sum(thread.is_alive() for thread in threads)
        logs = {name: proc.log_path.read_text(errors="replace") for name, proc in procs.items()}
    leaks = {name: len(LEAK.findall(text)) for name, text in logs.items()}
    totals = {kind.name: Tally() for kind in (*KINDS, *SLOW_KINDS)}
    for tallies in shared.tallies:
        for name, tally in tallies.items():
            total = totals[name]
            total.sent += tally.sent
            total.expected += tally.expected
            total.unexpected += tally.unexpected
            total.errors += tally.errors
            total.statuses.update(tally.statuses)
    return {
        "minutes": minutes, "concurrency": concurrency, "seed": seed, "elapsed": elapsed,
        "stuck_threads": alive,
        "kinds": {name: {"sent": t.sent, "expected": t.expected, "unexpected": t.unexpected,
                         "errors": t.errors, "statuses": dict(sorted(t.statuses.items()))}
                  for name, t in totals.items()},
        "unexpected": sum(t.unexpected for t in totals.values()),
        "errors": sum(t.errors for t in totals.values()),
        "examples": shared.examples,
        "memory_kib": memory,
        "log_leaks": leaks,
    }


def flat(samples: list[int]) -> bool:
    return samples[-1] - samples[len(samples) // 2] <= FLAT_KIB


def markdown(report: dict[str, Any]) -> str:
    sent = sum(k["sent"] for k in report["kinds"].values())
    lines = [
        f"# Soak: {report['minutes']:g} min at concurrency {report['concurrency']}",
        "",
        f"{sent:,} requests in {report['elapsed']:.0f} s ({sent / report['elapsed']:,.0f}/s), "
        f"good traffic from {GOOD}, failed authentication from {ATTACKER}, slow clients "
        f"from {SLOW}; real idp and resource_api on loopback ports, access logs on.",
        "",
        "| kind | server | from | expected | sent | as expected | unexpected | errors | statuses |",
        "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for kind in (*KINDS, *SLOW_KINDS):
        k = report["kinds"][kind.name]
        statuses = ", ".join(f"{s}: {n}" for s, n in k["statuses"].items())
        lines.append(f"| {kind.name} | {kind.server} | {kind.source} | {kind.describe()} "
                     f"| {k['sent']} | {k['expected']} | {k['unexpected']} | {k['errors']} "
                     f"| {statuses} |")
    lines += ["", f"Unexpected answers: {report['unexpected']}. Errors: {report['errors']}. "
              f"Threads still running at the end: {report['stuck_threads']}."]
    lines += [f"- {example}" for example in report["examples"]]
    lines += ["", f"Resident memory (VmRSS, MiB) at start and at each tenth of the run; flat "
              f"means the second half grew less than {FLAT_KIB // 1024} MiB:", ""]
    for name, samples in report["memory_kib"].items():
        series = " ".join(f"{kib / 1024:.1f}" for kib in samples)
        lines.append(f"- {name}: {series} ({'flat' if flat(samples) else 'GROWING'})")
    leaks = report["log_leaks"]
    lines += ["", "Secrets or tokens in the server logs: "
              + ", ".join(f"{name} {count}" for name, count in leaks.items()) + "."]
    return "\n".join(lines) + "\n"


def passed(report: dict[str, Any]) -> bool:
    return (report["unexpected"] == 0 and report["errors"] == 0 and report["stuck_threads"] == 0
            and not any(report["log_leaks"].values()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("minutes", type=float, help="how long to run, in minutes (e.g. 10)")
    parser.add_argument("--concurrency", type=int, default=16,
                        help="threads, each with its own keep-alive connections (16)")
    parser.add_argument("--seed", type=int, default=1, help="of the request mix (1)")
    parser.add_argument("--header-timeout", type=float, metavar="SECONDS",
                        help="passed to both servers; the slow clients' 408s come after it "
                        "(the servers' default)")
    parser.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    args = parser.parse_args(argv)
    if not 0 < args.minutes <= 24 * 60 or args.concurrency < 1:
        parser.error("minutes must be in (0, 1440] and --concurrency at least 1")
    report = run_soak(args.minutes, args.concurrency, args.seed,
                      progress=lambda line: print(line, file=sys.stderr, flush=True),
                      header_timeout=args.header_timeout)
    print(markdown(report), end="")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0 if passed(report) else 1


if __name__ == "__main__":
    sys.exit(main())
