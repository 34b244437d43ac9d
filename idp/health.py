"""The IdP's readiness, for ``/health/ready`` on the management port: ready when every serving
process holds a key to sign with, and the store answers within a short bounded time.

The checks run in the process that serves the management port (the supervisor with
``--workers N``), which serves no request itself. So the signing key is read from what the
serving processes report (the ``idp_signing_key_loaded`` gauge, metrics.py), and the store is
asked through a connection of the check's own, opened with short timeouts and closed again
before the check ends, never one a worker could inherit.
"""

from __future__ import annotations

from serving import Check, Management

from .store import StoreOptions, StoreUnavailable, open_store

# Bounds of one readiness check of the store: connecting, then one statement.
PROBE = StoreOptions(connect_timeout=2.0, statement_timeout=2.0, pool_size=1)


def ready_checks(management: Management, store_url: str) -> dict[str, Check]:
    """The checks by name; each returns None when it passes, or why not in one sentence."""
    probe = open_store(store_url, PROBE)

    def signing_key() -> str | None:
        loaded = management.gauge("idp_signing_key_loaded")
        if loaded is None:
            return "no serving process has reported its signing key yet"
        return None if loaded >= 1 else "a serving process has no signing key"

    def store() -> str | None:
        try:
            probe.ping()
        except StoreUnavailable as exc:
            return str(exc)
        finally:
            probe.close()
        return None

    return {"signing key": signing_key, "store": store}
