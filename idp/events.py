"""Security events: one JSON object per line on the ``idp.events`` logger, for a log pipeline.

Names and ids are IdentityServer's (its ``EventIds``) where it has the event, and ours, from
8000 up, where it has none:

| event                       | id   | level   | when                                           |
| --------------------------- | ---- | ------- | ---------------------------------------------- |
| ClientAuthenticationSuccess | 1010 | DEBUG   | a client proved who it is (token, revocation)  |
| ClientAuthenticationFailure | 1011 | WARNING | a client did not: answered invalid_client      |
| ApiAuthenticationSuccess    | 1020 | DEBUG   | an API resource proved who it is (introspection) |
| ApiAuthenticationFailure    | 1021 | WARNING | an API resource did not                        |
| TokenIssuedSuccess          | 2000 | DEBUG   | an access token was issued                     |
| TokenIssuedFailure          | 2001 | WARNING | a token request was refused, other than by     |
|                             |      |         | client authentication or the throttle          |
| TokenRevokedSuccess         | 2010 | INFO    | a client revoked one of its tokens             |
| TokenIntrospectionSuccess   | 2020 | DEBUG   | an API was told whether a token is active      |
| TokenIntrospectionFailure   | 2021 | WARNING | an introspection request was refused after the |
|                             |      |         | API authenticated                              |
| UnhandledException          | 3000 | ERROR   | a request failed with an unexpected error      |
| Throttled                   | 8000 | WARNING | a request was answered 429 (RFC 6749 §10.10)   |
| TokenRevokedFailure         | 8001 | WARNING | a client asked to revoke another's token       |
| KeyAnnounced                | 8010 | INFO    | a signing key is published, not yet signing    |
| KeyActivated                | 8011 | INFO    | a signing key signs                            |
| KeyRetired                  | 8012 | INFO    | a signing key stopped signing, still published |
| KeyRevoked                  | 8013 | WARNING | a signing key was withdrawn at once            |

Every event has these fields, in this order: ``time`` (RFC 3339, UTC, milliseconds), ``event``,
``id``, ``client_id`` (as presented, at most 64 characters; null when there is none),
``address`` (the caller's, as the throttle sees it), ``outcome`` (IdentityServer's event
types: success, failure, information, error) and ``reason`` (null on success); then the
details that matter to it: ``method``, ``jti``, ``kid``, ``alg``, ``scope``, ``active``,
``description``. Never a secret, a token, a handle or an assertion.

The records go through the standard ``logging``, so a user's configuration applies. The
successes every request has are DEBUG, as Keycloak's logging event listener has them: at the
default INFO a token request logs no event, since each record costs about a tenth of the
request (measured with callgrind); set ``idp.events`` to DEBUG to have them.
``--events FILE`` (``EventFile``) appends every event to FILE, whatever the log level.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from typing import Any

LOGGER = logging.getLogger("idp.events")
CLIENT_ID_LENGTH = 64  # a presented client id is the caller's text: bounded in every event

DEBUG, INFO, WARNING, ERROR = logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR
EVENTS: dict[str, tuple[int, int, str]] = {  # name: (id, level, outcome)
    "ClientAuthenticationSuccess": (1010, DEBUG, "success"),
    "ClientAuthenticationFailure": (1011, WARNING, "failure"),
    "ApiAuthenticationSuccess": (1020, DEBUG, "success"),
    "ApiAuthenticationFailure": (1021, WARNING, "failure"),
    "TokenIssuedSuccess": (2000, DEBUG, "success"),
    "TokenIssuedFailure": (2001, WARNING, "failure"),
    "TokenRevokedSuccess": (2010, INFO, "success"),
    "TokenIntrospectionSuccess": (2020, DEBUG, "success"),
    "TokenIntrospectionFailure": (2021, WARNING, "failure"),
    "UnhandledException": (3000, ERROR, "error"),
    "Throttled": (8000, WARNING, "failure"),
    "TokenRevokedFailure": (8001, WARNING, "failure"),
    "KeyAnnounced": (8010, INFO, "information"),
    "KeyActivated": (8011, INFO, "information"),
    "KeyRetired": (8012, INFO, "information"),
    "KeyRevoked": (8013, WARNING, "information"),
}


class Events:
    """Emits events stamped with ``clock`` to the logger and to ``file``; an event neither
    would take costs a level check."""

    def __init__(self, clock: Callable[[], float] = time.time, logger: logging.Logger = LOGGER,
                 file: EventFile | None = None) -> None:
        self.clock = clock
        self.logger = logger
        self.file = file

    def wants(self, event: str) -> bool:
        """Whether ``event`` would go anywhere: the hot paths ask before they gather its
        details (about 5,000 instructions saved per event dropped)."""
        return self.file is not None or self.logger.isEnabledFor(EVENTS[event][1])

    def emit(self, event: str, *, client_id: str | None = None, address: str | None = None,
             reason: str | None = None, **details: Any) -> None:
        event_id, level, outcome = EVENTS[event]
        logged = self.logger.isEnabledFor(level)
        if not logged and self.file is None:
            return
        record = {"time": rfc3339(self.clock()), "event": event, "id": event_id,
                  "client_id": None if client_id is None else client_id[:CLIENT_ID_LENGTH],
                  "address": address, "outcome": outcome, "reason": reason, **details}
        # ASCII only, control characters escaped: a line a caller's text cannot break.
        line = json.dumps(record, separators=(",", ":"))
        if self.file is not None:
            self.file.write(line)
        if logged:
            self.logger.log(level, line)


def rfc3339(epoch: float) -> str:
    """RFC 3339 §5.6, UTC, to the millisecond."""
    seconds = int(epoch)
    millis = int((epoch - seconds) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


class EventFile:
    """``--events FILE``: each event appended as one line in one write(), so that the workers
    of a server share the file (O_APPEND) and no worker's line is ever cut by another's.
    Opening raises OSError; a failed write is logged, never the request's failure."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def write(self, line: str) -> None:
        try:
            os.write(self.fd, (line + "\n").encode())
        except OSError as exc:
            logging.getLogger("idp").warning("cannot append an event to %s: %s", self.path,
                                             exc.strerror)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
