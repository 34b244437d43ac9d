"""A conformance checker for OAuth 2.0 client-credentials servers and the APIs they protect.

Point it at any issuer (``python -m conformance ISSUER_URL ...``) or run it in-process from
tests with ``WSGITransport``. It imports nothing from ``idp`` or ``resource_api``.
"""

from conformance.context import Context, Credentials, Target
from conformance.result import Result, Status
from conformance.runner import all_checks, run, run_check
from conformance.transport import LiveTransport, Response, TransportError, WSGITransport

__all__ = [
    "Context",
    "Credentials",
    "LiveTransport",
    "Response",
    "Result",
    "Status",
    "Target",
    "TransportError",
    "WSGITransport",
    "all_checks",
    "run",
    "run_check",
]
