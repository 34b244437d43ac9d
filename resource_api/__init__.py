"""The protected API of the quickstart: GET /identity behind an access-token filter
(RFC 6750 bearer tokens, RFC 9449 DPoP-bound tokens, RFC 7662 introspection).

It knows only an authority URL and an audience, as a real API does; it imports nothing from
the identity provider.
"""

from typing import Any

from .authority import Fetch
from .bearer import BearerAuth
from .identity import identity_app

__all__ = ["BearerAuth", "make_app"]


def make_app(
    authority: str = "http://localhost:5000",
    audience: str = "api1",
    scope: str = "api1",
    *,
    fetch: Fetch | None = None,
    **filter_options: Any,
) -> BearerAuth:
    """The identity app wrapped in the bearer filter; `filter_options` go to BearerAuth."""
    return BearerAuth(identity_app, authority, audience, scope, fetch=fetch, **filter_options)
