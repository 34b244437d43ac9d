"""Stub servers for the client.py tests: a tiny quickstart IdP and API as WSGI apps, served by
real waitress on a free loopback port, a raw socket server that drips its answer, and JOSE
checks written apart from client.py's (with cryptography). No tests live here; the real idp
and resource_api are exercised by the end-to-end tests instead."""

import base64
import contextlib
import datetime
import hashlib
import ipaddress
import json
import socket
import ssl
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote_plus

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import NameOID
from webtest.http import StopableWSGIServer

# status, headers, and a body (bytes, or an iterable of bytes that the server streams)
Response = tuple[str, list[tuple[str, str]], bytes | Iterable[bytes]]


@dataclass
class Seen:
    """One request as the stub received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Stub:
    """A WSGI app answering from a table of path -> response (or function of the request),
    recording every request it receives."""

    routes: dict[str, Response | Callable[[Seen], Response]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    url: str = ""

    def reset(self) -> "Stub":
        """Forget routes and requests, so one server can serve a module's tests."""
        self.routes.clear()
        self.seen.clear()
        return self

    def __call__(self, environ: dict[str, Any],
                 start_response: Callable[..., Any]) -> Iterable[bytes]:
        headers = {key[5:].replace("_", "-").title(): value
                   for key, value in environ.items() if key.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        request = Seen(environ["REQUEST_METHOD"], environ["PATH_INFO"], headers, body)
        self.seen.append(request)
        route = self.routes.get(request.path, json_response({"error": "not_found"}, "404 Not Found"))
        status, response_headers, response_body = route(request) if callable(route) else route
        start_response(status, response_headers)
        return [response_body] if isinstance(response_body, bytes) else response_body


def json_response(value: Any, status: str = "200 OK",
                  headers: tuple[tuple[str, str], ...] = ()) -> Response:
    return status, [("Content-Type", "application/json"), *headers], json.dumps(value).encode()


@contextlib.contextmanager
def serve(app: Stub) -> Iterator[Stub]:
    """Serve the stub with waitress on 127.0.0.1 and a port the kernel picks; sets app.url."""
    server = StopableWSGIServer(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    app.url = f"http://127.0.0.1:{server.effective_port}"
    try:
        yield app
    finally:
        server.shutdown()
        thread.join(5)


@contextlib.contextmanager
def dripping_server(answer: bytes, interval: float = 0.2, at_once: int = 0,
                    tls: ssl.SSLContext | None = None) -> Iterator[str]:
    """A raw socket server on a free loopback port that reads a request, sends the first
    `at_once` bytes of `answer`, then the rest one byte every `interval` seconds (a server no
    socket timeout cuts off); over TLS with a `tls` server context. Yields its base URL; every
    connection stops when the block ends."""
    stop = threading.Event()

    def send_slowly(connection: socket.socket) -> None:
        connection.recv(65536)
        connection.sendall(answer[:at_once])
        for byte in answer[at_once:]:
            if stop.wait(interval):
                return
            connection.sendall(bytes([byte]))

    def drip(connection: socket.socket) -> None:
        connection.settimeout(5)
        with connection, contextlib.suppress(OSError):
            if tls is None:
                send_slowly(connection)
            else:
                with tls.wrap_socket(connection, server_side=True) as secure:
                    send_slowly(secure)

    def accept(listener: socket.socket) -> None:
        listener.settimeout(0.05)  # so that the loop sees `stop` soon after the block ends
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                connection, _ = listener.accept()
                threading.Thread(target=drip, args=(connection,), daemon=True).start()

    with socket.create_server(("127.0.0.1", 0)) as listener:
        thread = threading.Thread(target=accept, args=(listener,), daemon=True)
        thread.start()
        try:
            yield f"{'https' if tls else 'http'}://127.0.0.1:{listener.getsockname()[1]}"
        finally:
            stop.set()
            thread.join(5)


def self_signed(directory: Path) -> tuple[ssl.SSLContext, Path]:
    """A TLS server context with a self-signed certificate for 127.0.0.1 and idp.test, and the
    certificate's file (a client trusts it through SSL_CERT_FILE)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "idp.test")])
    now = datetime.datetime.now(datetime.UTC)
    names = [x509.DNSName("idp.test"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(days=1))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName(names), critical=False)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(key, hashes.SHA256()))
    (directory / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (directory / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(directory / "cert.pem", directory / "key.pem")
    return context, directory / "cert.pem"


@contextlib.contextmanager
def connect_proxy(target_port: int) -> Iterator[tuple[str, list[bytes]]]:
    """An HTTP proxy on a free loopback port that answers one CONNECT (RFC 9110 §9.3.6) by
    tunnelling to 127.0.0.1:target_port, whatever host was asked for. Yields its URL and the
    CONNECT request lines it received."""
    requests: list[bytes] = []

    def pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def serve_one(listener: socket.socket) -> None:
        with contextlib.suppress(OSError):
            connection, _ = listener.accept()
            with connection, socket.create_connection(("127.0.0.1", target_port)) as upstream:
                head = b""
                while b"\r\n\r\n" not in head:
                    head += connection.recv(1)
                requests.append(head.split(b"\r\n")[0])
                connection.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                thread = threading.Thread(target=pipe, args=(upstream, connection), daemon=True)
                thread.start()
                pipe(connection, upstream)
                thread.join(5)

    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(20)
        thread = threading.Thread(target=serve_one, args=(listener,), daemon=True)
        thread.start()
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", requests
    thread.join(5)


# An answer that takes 40 s at 0.2 s a byte: a deadline of a second or two must cut it off.
DRIPPED_ANSWER = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
                  b"X-Padding: " + b"." * 120 + b"\r\n\r\n{}")
# Headers at once, then a body of 200 bytes at 0.2 s a byte.
DRIPPED_BODY = b"HTTP/1.1 200 OK\r\nContent-Length: 200\r\n\r\n" + b" " * 200


def b64url(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def make_jwt(header: dict[str, Any], claims: dict[str, Any]) -> str:
    """A JWS-shaped token with a dummy signature: the client never verifies one."""
    return f"{b64url(header)}.{b64url(claims)}.c2lnbmF0dXJl"


def unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header, claims = token.split(".")[:2]
    return json.loads(b64decode(header)), json.loads(b64decode(claims))


def public_key(jwk: dict[str, str]) -> Any:
    """The cryptography public key of an RSA or P-256 JWK (RFC 7518 §6.2.1, §6.3.1)."""
    def number(member: str) -> int:
        return int.from_bytes(b64decode(jwk[member]), "big")
    if jwk["kty"] == "EC" and jwk["crv"] == "P-256":
        return ec.EllipticCurvePublicNumbers(number("x"), number("y"), ec.SECP256R1()).public_key()
    if jwk["kty"] == "RSA":
        return rsa.RSAPublicNumbers(number("e"), number("n")).public_key()
    raise ValueError(f"not an RSA or P-256 JWK: {jwk}")


def verify_jws(token: str, key: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Check an RS256 or ES256 signature (ES256 as 64 octets r || s, RFC 7518 §3.4) with
    cryptography; returns header and claims, raises InvalidSignature or ValueError."""
    encoded_header, encoded_claims, encoded_signature = token.split(".")
    header, claims = unverified(token)
    signing_input, signature = f"{encoded_header}.{encoded_claims}".encode(), b64decode(encoded_signature)
    if header["alg"] == "ES256" and len(signature) == 64:
        der = encode_dss_signature(int.from_bytes(signature[:32], "big"),
                                   int.from_bytes(signature[32:], "big"))
        key.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
    elif header["alg"] == "RS256":
        key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
    else:
        raise ValueError(f"alg {header['alg']} with a {len(signature)}-octet signature")
    return header, claims


def thumbprint(jwk: dict[str, str]) -> str:
    """RFC 7638 §3, written apart from client.py's."""
    required = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n")}[jwk["kty"]]
    canonical = "{" + ",".join(f'"{name}":"{jwk[name]}"' for name in required) + "}"
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


def ath(access_token: str) -> str:
    """RFC 9449 §4.2: base64url of the SHA-256 of the access token."""
    digest = hashlib.sha256(access_token.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


HEADER = {"alg": "RS256", "kid": "k1", "typ": "at+jwt"}
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def discovery(issuer: str) -> dict[str, Any]:
    return {"issuer": issuer, "jwks_uri": f"{issuer}/.well-known/openid-configuration/jwks",
            "token_endpoint": f"{issuer}/connect/token", "scopes_supported": ["api1"],
            "grant_types_supported": ["client_credentials"],
            "revocation_endpoint": f"{issuer}/connect/revocation"}


def form_of(request: Seen) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.body.decode(), keep_blank_values=True).items()}


def error_response(error: str, description: str, status: str = "400 Bad Request",
                   headers: tuple[tuple[str, str], ...] = ()) -> Response:
    return json_response({"error": error, "error_description": description}, status, headers)


INVALID_CLIENT = error_response("invalid_client", "client authentication failed",
                                "401 Unauthorized", (("WWW-Authenticate", 'Basic realm="idp"'),))


def dpop_problem(proof: str, method: str, url: str, nonce: str | None,
                 access_token: str | None = None) -> str | None:
    """RFC 9449 §4.3 checked as a server would (signature with the header's jwk, typ, htm,
    htu, nonce, ath); None when the proof is good, else what is wrong."""
    try:
        header, claims = verify_jws(proof, public_key(unverified(proof)[0]["jwk"]))
    except (InvalidSignature, ValueError, KeyError):
        return "bad signature"
    if header.get("typ") != "dpop+jwt" or (claims.get("htm"), claims.get("htu")) != (method, url):
        return "wrong typ, htm or htu"
    if access_token is not None and claims.get("ath") != ath(access_token):
        return "wrong ath"
    if nonce is not None and claims.get("nonce") != nonce:
        return "nonce"
    return None


def quickstart_idp(stub: Stub, clients: dict[str, str] | None = None,
                   allowed_scopes: tuple[str, ...] = ("api1",), keys: dict[str, Any] | None = None,
                   dpop_nonce: str | None = None) -> None:
    """Routes of an IdP holding the quickstart's client (client_secret_basic or _post), and
    for the clients in `keys` (client id -> public key) private_key_jwt with aud its issuer.
    A DPoP proof (checked, with `dpop_nonce` required when given) binds the token (cnf.jkt);
    `resource` becomes the token's aud. /connect/revocation authenticates the same way."""
    clients = {"client": "secret"} if clients is None else clients
    keys = keys or {}

    def authenticated(request: Seen, form: dict[str, str]) -> str | None:
        if "client_assertion" in form:
            if form.get("client_assertion_type") != JWT_BEARER:
                return None
            assertion = form["client_assertion"]
            client_id = unverified(assertion)[1].get("sub")
            try:
                header, claims = verify_jws(assertion, keys[client_id])
            except (KeyError, InvalidSignature, ValueError):
                return None
            good = (claims["iss"] == client_id and claims["aud"] == stub.url
                    and header["typ"] == "client-authentication+jwt")
            return client_id if good else None
        basic = request.headers.get("Authorization", "")
        if basic.startswith("Basic "):
            pair = base64.b64decode(basic[6:]).decode()
            client_id, secret = (unquote_plus(part) for part in pair.split(":", 1))
        else:
            client_id, secret = form.get("client_id"), form.get("client_secret")
        return client_id if secret is not None and clients.get(client_id) == secret else None

    def token(request: Seen) -> Response:
        form = form_of(request)
        client_id = authenticated(request, form)
        if client_id is None:
            return INVALID_CLIENT
        scope = form.get("scope", " ".join(allowed_scopes))
        if not set(scope.split()) <= set(allowed_scopes):
            return error_response("invalid_scope", "scope not allowed for this client")
        claims = {"iss": stub.url, "sub": client_id, "aud": form.get("resource", "api1"),
                  "client_id": client_id, "scope": scope, "iat": 1700000000, "exp": 1700003600,
                  "jti": f"j{len(stub.seen)}"}
        token_type, headers = "Bearer", [("Cache-Control", "no-store")]
        if proof := request.headers.get("Dpop"):
            problem = dpop_problem(proof, "POST", stub.url + "/connect/token", dpop_nonce)
            if problem == "nonce":
                return error_response("use_dpop_nonce", "a DPoP nonce is required", headers=(
                    ("DPoP-Nonce", dpop_nonce),))
            if problem:
                return error_response("invalid_dpop_proof", problem)
            claims["cnf"] = {"jkt": thumbprint(unverified(proof)[0]["jwk"])}
            token_type = "DPoP"
        return json_response({"access_token": make_jwt(HEADER, claims), "token_type": token_type,
                              "expires_in": 3600, "scope": scope}, headers=tuple(headers))

    def revocation(request: Seen) -> Response:
        form = form_of(request)
        if authenticated(request, form) is None:
            return INVALID_CLIENT
        if "token" not in form:
            return error_response("invalid_request", "token is missing")
        return "200 OK", [("Cache-Control", "no-store")], b""

    stub.routes["/.well-known/openid-configuration"] = json_response(discovery(stub.url))
    stub.routes["/connect/token"] = token
    stub.routes["/connect/revocation"] = revocation


def quickstart_api(stub: Stub, required_scope: str = "api1", dpop_nonce: str | None = None) -> None:
    """Routes of an API that accepts any JWS-shaped token whose scope holds required_scope: a
    Bearer token without cnf, or a DPoP token (RFC 9449 §7) with a good proof of its key,
    carrying `dpop_nonce` when given."""

    def identity(request: Seen) -> Response:
        scheme, _, access_token = request.headers.get("Authorization", "").partition(" ")
        if scheme not in ("Bearer", "DPoP"):
            return "401 Unauthorized", [("WWW-Authenticate", "Bearer")], b""
        claims = unverified(access_token)[1]
        if scheme == "DPoP":
            proof = request.headers.get("Dpop", "")
            problem = dpop_problem(proof, "GET", stub.url + "/identity", dpop_nonce, access_token)
            if problem == "nonce":
                challenge = 'DPoP error="use_dpop_nonce", error_description="nonce required"'
                return "401 Unauthorized", [("WWW-Authenticate", challenge),
                                            ("DPoP-Nonce", dpop_nonce)], b""
            if problem or claims.get("cnf", {}).get("jkt") != thumbprint(unverified(proof)[0]["jwk"]):
                challenge = f'DPoP error="invalid_dpop_proof", error_description="{problem or "key"}"'
                return "401 Unauthorized", [("WWW-Authenticate", challenge)], b""
        elif "cnf" in claims:
            return "401 Unauthorized", [("WWW-Authenticate", 'Bearer error="invalid_token"')], b""
        if required_scope not in claims["scope"].split():
            challenge = ('Bearer error="insufficient_scope", error_description="the token '
                         f'lacks the required scope", scope="{required_scope}"')
            return "403 Forbidden", [("WWW-Authenticate", challenge)], b""
        return json_response([{"type": k, "value": v} for k, v in claims.items()])

    stub.routes["/identity"] = identity
