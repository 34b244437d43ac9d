"""The server options both programs share, each default defined and explained here, and the
waitress settings they become.
"""

from __future__ import annotations

import argparse
import ipaddress
from dataclasses import dataclass
from typing import Any

IDLE_TIMEOUT = 30  # seconds a connection may wait for its next request without sending a byte

# What a trusted proxy may tell us, by the header it uses. waitress trusts Forwarded
# (RFC 7239) or the X-Forwarded-* family, never both: a proxy rewrites only the one it sends,
# so trusting the other would let a client write it.
PROXY_HEADERS = {"x-forwarded-for": {"x-forwarded-for"}, "forwarded": {"forwarded"}}


@dataclass(frozen=True)
class Options:
    workers: int = 1                       # processes serving the port
    threads: int = 8                       # request threads per process
    header_timeout: float = 10.0           # seconds for a request head, from its first byte
    body_min_rate: int = 500               # bytes a second a body must average after that
    max_connections: int = 4000            # per process; the open-file limit is raised to fit
    max_connections_per_address: int = 64  # per process and source address; 0: no cap
    trusted_proxy: str | None = None       # the only peer whose forwarding headers count
    trusted_proxy_header: str = "x-forwarded-for"
    metrics_port: int | None = None        # the management port (metrics, health); None: off
    metrics_host: str = "127.0.0.1"        # loopback, as Keycloak's management interface


DEFAULTS = Options()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options about processes, logging and the transport, with their defaults."""
    add = parser.add_argument
    add("--workers", type=int, default=DEFAULTS.workers,
        help="processes serving the port (%(default)s)")
    add("--threads", type=int, default=DEFAULTS.threads,
        help="threads per process (%(default)s)")
    add("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING"],
        help="INFO logs one line per request (%(default)s)")
    add("--header-timeout", type=float, default=DEFAULTS.header_timeout, metavar="SECONDS",
        help="a request head must arrive within this from its first byte, or the connection "
        "is answered 408 and closed (%(default)s)")
    add("--body-min-rate", type=int, default=DEFAULTS.body_min_rate, metavar="BYTES",
        help="bytes per second a request body must average, beyond a first --header-timeout "
        "seconds, or 408 (%(default)s)")
    add("--max-connections", type=int, default=DEFAULTS.max_connections, metavar="N",
        help="open connections per process; more are reset at once (%(default)s)")
    add("--max-connections-per-address", type=int,
        default=DEFAULTS.max_connections_per_address, metavar="N",
        help="open connections per process from one source address (an IPv6 /64); 0 turns "
        "the cap off, as needed behind a reverse proxy (%(default)s)")
    add("--trusted-proxy", metavar="ADDR",
        help="IP address of the reverse proxy whose forwarding header gives the client's "
        "address; that header is ignored from anyone else (none)")
    add("--trusted-proxy-header", choices=sorted(PROXY_HEADERS),
        default=DEFAULTS.trusted_proxy_header,
        help="the header that proxy sets: X-Forwarded-For or RFC 7239 Forwarded (%(default)s)")
    add("--metrics-port", type=int, metavar="PORT",
        help="serve GET /metrics (Prometheus) and /health/live, /health/ready on this port, "
        "apart from the traffic; 0 picks a free one (off)")
    add("--metrics-host", default=DEFAULTS.metrics_host, metavar="HOST",
        help="interface of the --metrics-port (%(default)s)")


def options(args: argparse.Namespace) -> Options:
    """The parsed options, checked; a ValueError says what is wrong in one sentence."""
    for name in ("workers", "threads", "max_connections", "body_min_rate"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1, "
                             f"not {getattr(args, name)}")
    if args.max_connections_per_address < 0:
        raise ValueError("--max-connections-per-address must not be negative, "
                         f"not {args.max_connections_per_address}")
    if not 0 < args.header_timeout <= 3600:
        raise ValueError(f"--header-timeout must be in (0, 3600] seconds, "
                         f"not {args.header_timeout:g}")
    if args.metrics_port is not None and not 0 <= args.metrics_port <= 65535:
        raise ValueError(f"--metrics-port must be between 0 and 65535, not {args.metrics_port}")
    return Options(args.workers, args.threads, args.header_timeout, args.body_min_rate,
                   args.max_connections, args.max_connections_per_address,
                   _address(args.trusted_proxy), args.trusted_proxy_header,
                   args.metrics_port, args.metrics_host)


def _address(value: str | None) -> str | None:
    """The peer address as waitress compares it (REMOTE_ADDR, textually): canonical form."""
    if value is None:
        return None
    try:
        return str(ipaddress.ip_address(value.strip("[]")))
    except ValueError:
        raise ValueError(f"--trusted-proxy must be an IP address, not {value!r}") from None


def waitress_settings(opts: Options, limits: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for waitress's Adjustments: the program's size ``limits`` with ours."""
    settings = {
        **limits,
        "threads": opts.threads,
        "channel_timeout": IDLE_TIMEOUT,
        "clear_untrusted_proxy_headers": True,  # a client's own X-Forwarded-For is dropped
    }
    if opts.trusted_proxy:
        settings.update(trusted_proxy=opts.trusted_proxy, trusted_proxy_count=1,
                        trusted_proxy_headers=PROXY_HEADERS[opts.trusted_proxy_header])
    return settings
