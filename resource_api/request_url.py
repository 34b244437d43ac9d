"""RFC 9449 §4.3 step 9: the URL a request was sent to, and URLs put in one form to compare.

A DPoP proof's `htu` must be the request's URL without query and fragment. Both sides are
normalised before the comparison (RFC 9449 §4.3 asks for RFC 3986 §6.2.2 and §6.2.3): scheme
and host in lower case, the scheme's default port dropped, an empty path made "/", dot
segments removed, and the path compared percent-decoded and re-encoded one way. Decoding
every octet (not only unreserved ones, as §6.2.2.2 does) matches what the application sees:
a WSGI server hands it PATH_INFO already decoded, so two URLs equal here reach the same code.
"""

from typing import Any
from urllib.parse import quote, unquote_to_bytes, urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}
# RFC 3986 §3.3: pchar and "/" that need no encoding (unreserved, sub-delims, ":", "@").
_SAFE = "/:@!$&'()*+,;=-._~"


def _remove_dot_segments(path: bytes) -> bytes:
    """RFC 3986 §5.2.4 for an absolute path."""
    segments = path.split(b"/")[1:]
    out: list[bytes] = []
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment in (b".", b".."):
            if segment == b".." and out:
                out.pop()
            if last:
                out.append(b"")
        else:
            out.append(segment)
    return b"/" + b"/".join(out)


def _canonical(scheme: str, host: str, port: int | None, path: bytes) -> str | None:
    scheme = scheme.lower()
    if scheme not in DEFAULT_PORTS or not host:
        return None
    host = host.lower()
    if ":" in host:  # an IPv6 literal, which urlsplit gives without its brackets
        host = f"[{host}]"
    netloc = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    if not path.startswith(b"/"):
        path = b"/" + path
    return f"{scheme}://{netloc}{quote(_remove_dot_segments(path), safe=_SAFE)}"


def normalize(url: str) -> str | None:
    """`url` without query and fragment, normalised; None unless it is an http(s) URL
    without user information."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if "@" in parts.netloc:
        return None
    return _canonical(parts.scheme, parts.hostname or "", port, unquote_to_bytes(parts.path))


class PublicURL:
    """The URL of the application root as clients reach it (what SCRIPT_NAME stands for):
    configured for a server behind a proxy, else rebuilt from the environ (PEP 3333)."""

    def __init__(self, base: str | None = None) -> None:
        self.base = None
        if base is not None:
            parts = urlsplit(base)
            if normalize(base) is None or parts.query or parts.fragment:
                raise ValueError(f"the public URL must be an http(s) URL without query or fragment: {base!r}")
            prefix = unquote_to_bytes(parts.path.rstrip("/"))
            self.base = (parts.scheme, parts.hostname or "", parts.port, prefix)

    def of(self, environ: dict[str, Any]) -> str | None:
        """The normalised URL of this request without its query; None when the environ's
        Host cannot be part of a URL."""
        path = environ.get("PATH_INFO", "").encode("latin-1")  # PEP 3333: bytes as latin-1
        if self.base is not None:
            scheme, host, port, prefix = self.base
            return _canonical(scheme, host, port, prefix + path)
        scheme = environ.get("wsgi.url_scheme", "http")
        host_header = environ.get("HTTP_HOST") or "{}:{}".format(
            environ.get("SERVER_NAME", ""), environ.get("SERVER_PORT", "")
        )
        try:
            parts = urlsplit("//" + host_header)
            port = parts.port
        except ValueError:
            return None
        if "@" in parts.netloc or parts.path or parts.query or parts.fragment:
            return None
        prefix = environ.get("SCRIPT_NAME", "").encode("latin-1")
        return _canonical(scheme, parts.hostname or "", port, prefix + path)
