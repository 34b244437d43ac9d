"""Security events: one JSON object per line on the ``idp.events`` logger, for a log pipeline.

Names and ids are IdentityServer's (its ``EventIds``) where it has the event, and ours, from
8000 up, where it has none:

| event                       | id   | level   | when                                           |
| --------------------------- | ---- | ------- | ---------------------------------------------- |
| ClientAuthenticationSuccess | 1010 | INFO    | a client proved who it is (token, revocation)  |
| ClientAuthenticationFailure | 1011 | WARNING | a client did not: answered invalid_client      |
| ApiAuthenticationSuccess    | 1020 | INFO    | an API resource proved who it is (introspection) |
| ApiAuthenticationFailure    | 1021 | WARNING | an API resource did not                        |
| TokenIssuedSuccess          | 2000 | INFO    | an access token was issued                     |
| TokenIssuedFailure          | 2001 | WARNING | a token request was refused, other than by     |
|                             |      |         | client authentication or the throttle          |
| TokenRevokedSuccess         | 2010 | INFO    | a client revoked one of its tokens             |
| TokenIntrospectionSuccess   | 2020 | INFO    | an API was told whether a token is active      |
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

The records go through the standard ``logging``, so a user's configuration applies (and
``--log-level WARNING`` keeps only the failures); ``--events FILE`` also appends each one to
FILE (``log_to_file``).
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

INFO, WARNING, ERROR = logging.INFO, logging.WARNING, logging.ERROR
EVENTS: dict[str, tuple[int, int, str]] = {  # name: (id, level, outcome)
    "ClientAuthenticationSuccess": (1010, INFO, "success"),
    "ClientAuthenticationFailure": (1011, WARNING, "failure"),
    "ApiAuthenticationSuccess": (1020, INFO, "success"),
    "ApiAuthenticationFailure": (1021, WARNING, "failure"),
    "TokenIssuedSuccess": (2000, INFO, "success"),
    "TokenIssuedFailure": (2001, WARNING, "failure"),
    "TokenRevokedSuccess": (2010, INFO, "success"),
    "TokenIntrospectionSuccess": (2020, INFO, "success"),
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
    """Emits events stamped with ``clock``; an event whose level the logger would drop
    costs one level check."""

    def __init__(self, clock: Callable[[], float] = time.time,
                 logger: logging.Logger = LOGGER) -> None:
        self.clock = clock
        self.logger = logger

    def emit(self, event: str, *, client_id: str | None = None, address: str | None = None,
             reason: str | None = None, **details: Any) -> None:
        event_id, level, outcome = EVENTS[event]
        if not self.logger.isEnabledFor(level):
            return
        record = {"time": rfc3339(self.clock()), "event": event, "id": event_id,
                  "client_id": None if client_id is None else client_id[:CLIENT_ID_LENGTH],
                  "address": address, "outcome": outcome, "reason": reason, **details}
        # ASCII only, control characters escaped: a line a caller's text cannot break.
        self.logger.log(level, json.dumps(record, separators=(",", ":")))


def rfc3339(epoch: float) -> str:
    """RFC 3339 §5.6, UTC, to the millisecond."""
    seconds = int(epoch)
    millis = int((epoch - seconds) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


class EventFile(logging.Handler):
    """Appends each record to a file as one line in one write(): the workers of a server share
    the file (O_APPEND), and no worker's line is ever cut by another's."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            os.write(self.fd, (self.format(record) + "\n").encode())
        except Exception:  # noqa: BLE001 - logging's contract: report, never raise
            self.handleError(record)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        super().close()


def log_to_file(path: str, logger: logging.Logger = LOGGER) -> EventFile:
    """``--events FILE``: every event the logger lets through is appended to FILE as well;
    OSError when FILE cannot be opened for appending."""
    handler = EventFile(path)
    logger.addHandler(handler)
    return handler
