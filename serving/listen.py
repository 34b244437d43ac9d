"""The listening sockets, bound once by the process that starts, and the open-file limit.

No SO_REUSEPORT: a port that anything already listens on is refused with the system's own
sentence ("Address already in use"), and no later server can join ours on it. Worker
processes inherit these sockets across fork, as gunicorn's do.
"""

from __future__ import annotations

import resource
import socket
from dataclasses import dataclass, replace

from .options import DEFAULTS, Options

RESERVED_FILES = 64  # besides connections: listening sockets, wake-up pipes, logs, key files


class ListenError(OSError):
    """The address cannot be bound; the message is one sentence."""


@dataclass
class Listener:
    sockets: list[socket.socket]  # one per address the host resolves to, all on one port
    options: Options              # max_connections fitted to the open-file limit
    file_limit: str = ""          # why max_connections was lowered, when it was

    def summary(self) -> str:
        """For the start line: processes, threads, and a lowered connection limit."""
        text = f"{self.options.workers} process(es) of {self.options.threads} threads"
        return f"{text}; {self.file_limit}" if self.file_limit else text


def bind(host: str, port: int, opts: Options = DEFAULTS, backlog: int = 1024) -> Listener:
    """Listen on every address ``host`` resolves to (as waitress does), all on one port, and
    raise the open-file limit to fit ``opts.max_connections``."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ListenError(f"cannot resolve {host}: {exc.strerror}") from None
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in infos:
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past TIME_WAIT only
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if len(sockets) > 1:  # the port the first socket got, when it was 0
                address = (address[0], sockets[0].getsockname()[1], *address[2:])
            sock.bind(address)
            sock.listen(backlog)
            sock.setblocking(False)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        raise ListenError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    fitted, note = _fit_file_limit(opts)
    return Listener(sockets, fitted, note)


def port_of(listener: Listener) -> int:
    return listener.sockets[0].getsockname()[1]


def close(listener: Listener) -> None:
    for sock in listener.sockets:
        sock.close()


def _fit_file_limit(opts: Options) -> tuple[Options, str]:
    """Raise RLIMIT_NOFILE's soft limit to fit the connections (workers inherit it); when the
    hard limit is lower, lower the connection limit instead and say so."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = opts.max_connections + RESERVED_FILES
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return opts, ""
    fitted = max(1, soft - RESERVED_FILES)
    return (replace(opts, max_connections=fitted),
            f"at most {fitted} connections per process: the open-file limit is {soft}")
