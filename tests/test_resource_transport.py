"""The HTTP exchanges with the authority (transport.py) against a raw-socket stub on a free
loopback port: one deadline for connect, headers and body (issue 14, finding 4), 200 only for
GET, no redirects, a size limit, chunked answers, POST; and the API in front of a slow or
dripping authority."""

import datetime
import ipaddress
import json
import socket
import socketserver
import ssl
import threading
import time

import pytest
import webtest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from resource_api import make_app
from resource_api.transport import MAX_ANSWER_BYTES, default_fetch, default_post, exchange
from resource_helpers import bearer, mint

GENEROUS = 10.0  # seconds: "answered within a generous limit", never a timing claim


def answer(status: str, body: bytes, *headers: str) -> bytes:
    head = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", "Connection: close", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


class Handler(socketserver.BaseRequestHandler):
    """Each path is one behaviour of a misbehaving authority, written byte by byte."""

    def handle(self) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.request.recv(65536)
            if not chunk:
                return
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ")
        fields = dict(line.split(": ", 1) for line in lines[1:])
        while len(body) < int(fields.get("Content-Length", "0")):
            body += self.request.recv(65536)
        send = self.request.sendall
        if path == "/ok":
            send(answer("200 OK", b'{"issuer": "x"}', "Cache-Control: public, max-age=60"))
        elif path == "/echo":
            seen = {"method": method, "fields": fields, "body": body.decode()}
            send(answer("200 OK", json.dumps(seen).encode(), "Content-Type: application/json"))
        elif path == "/missing":
            send(answer("404 Not Found", b"{}"))
        elif path == "/redirect":
            send(answer("302 Found", b"", "Location: /ok"))
        elif path == "/huge":
            send(answer("200 OK", b" " * (MAX_ANSWER_BYTES + 1)))
        elif path in ("/chunked", "/huge-chunked"):
            send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
            size = 1000 if path == "/chunked" else MAX_ANSWER_BYTES * 2
            for _ in range(0, size, 50000):
                piece = b"x" * min(50000, size)
                send(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            send(b"0\r\n\r\n")
        elif path == "/garbage":
            send(b"this is not HTTP\r\n\r\n")
        elif path.startswith("/drip"):
            # One byte every 2 s: never slow enough for a per-read timeout to notice.
            whole = answer("200 OK", b"{}" + b" " * 100)
            start = 0 if path == "/drip-headers" else whole.index(b"\r\n\r\n") + 4
            send(whole[:start])
            for byte in whole[start:]:
                send(bytes([byte]))
                time.sleep(2)
        else:  # /silent: read the request, never answer
            time.sleep(30)


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that gave up (our deadlines) breaks the pipe; that is the point


@pytest.fixture(scope="module")
def stub():
    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def tls_stub(tmp_path_factory):
    """The same stub behind TLS, with a certificate for 127.0.0.1 in its own CA file."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    day = datetime.timedelta(days=1)
    loopback = x509.IPAddress(ipaddress.ip_address("127.0.0.1"))
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - day).not_valid_after(now + day)
        .add_extension(x509.SubjectAlternativeName([loopback]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")

    class TLSServer(Server):
        def get_request(self):
            sock, address = super().get_request()
            return context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

    server = TLSServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{server.server_address[1]}", str(folder / "cert.pem")
    server.shutdown()
    server.server_close()


def test_fetch_returns_status_headers_and_body_of_a_200(stub):
    reply = default_fetch(stub + "/ok", 5.0)
    assert (reply.status, reply.body) == (200, b'{"issuer": "x"}')
    assert reply.headers["cache-control"] == "public, max-age=60"


def test_fetch_raises_on_other_statuses(stub):
    with pytest.raises(OSError, match="404"):
        default_fetch(stub + "/missing", 5.0)


def test_fetch_does_not_follow_redirects(stub):
    with pytest.raises(OSError, match="302"):
        default_fetch(stub + "/redirect", 5.0)


def test_answers_over_the_size_limit_are_refused(stub):
    with pytest.raises(OSError, match="more than 1048576 bytes"):
        default_fetch(stub + "/huge", 5.0)


def test_chunked_answers_are_read_and_held_to_the_size_limit(stub):
    assert default_fetch(stub + "/chunked", 5.0).body == b"x" * 1000
    with pytest.raises(OSError, match="more than 1048576 bytes"):
        default_fetch(stub + "/huge-chunked", 5.0)


def test_an_answer_that_is_not_http_is_an_oserror(stub):
    with pytest.raises(OSError, match="malformed HTTP answer"):
        default_fetch(stub + "/garbage", 5.0)


def test_post_sends_the_form_and_headers_and_returns_any_status(stub):
    reply = default_post(stub + "/echo", b"token=abc", {"Authorization": "Basic eDp5"}, 5.0)
    seen = json.loads(reply.body)
    assert (reply.status, seen["method"], seen["body"]) == (200, "POST", "token=abc")
    assert (seen["fields"]["Authorization"], seen["fields"]["Content-Length"]) == ("Basic eDp5", "9")
    assert exchange("POST", stub + "/missing", 5.0).status == 404


def deadline_hit(url: str, timeout: float) -> float:
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        default_fetch(url, timeout)
    return time.monotonic() - started


def test_a_silent_server_is_cut_off_at_the_deadline(stub):
    assert deadline_hit(stub + "/silent", 1.0) < GENEROUS


def test_headers_dripping_one_byte_every_2_s_are_cut_off_at_the_deadline(stub):
    # Finding 4: each byte arrived within the per-read timeout, so nothing ever ended.
    assert deadline_hit(stub + "/drip-headers", 3.0) < GENEROUS


def test_a_body_dripping_one_byte_every_2_s_is_cut_off_at_the_deadline(stub):
    assert deadline_hit(stub + "/drip-body", 3.0) < GENEROUS


def test_a_connection_that_is_never_accepted_is_cut_off_at_the_deadline():
    # A listening socket whose one-place queue is full drops further SYNs: connect hangs.
    with socket.socket() as full:
        full.bind(("127.0.0.1", 0))
        full.listen(0)
        held = socket.create_connection(full.getsockname(), timeout=5)
        try:
            assert deadline_hit(f"http://127.0.0.1:{full.getsockname()[1]}/ok", 1.0) < GENEROUS
        finally:
            held.close()


def test_https_is_verified_against_the_trusted_certificates(tls_stub, monkeypatch):
    url, ca_file = tls_stub
    with pytest.raises(OSError, match="CERTIFICATE_VERIFY_FAILED"):
        default_fetch(url + "/ok", 5.0)
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    assert default_fetch(url + "/ok", 5.0).body == b'{"issuer": "x"}'


def test_a_tls_handshake_that_never_completes_is_cut_off_at_the_deadline(stub):
    # The plain stub reads the ClientHello as the start of a request and waits for more.
    assert deadline_hit(stub.replace("http:", "https:") + "/ok", 1.0) < GENEROUS


def test_an_https_body_dripping_one_byte_every_2_s_is_cut_off_at_the_deadline(tls_stub, monkeypatch):
    url, ca_file = tls_stub
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    assert deadline_hit(url + "/drip-body", 3.0) < GENEROUS


def test_an_api_in_front_of_a_slow_authority_answers_503_within_the_wait_bound(stub):
    app = webtest.TestApp(make_app(stub + "/silent", wait=0.2, timeout=1.0), lint=True)
    started = time.monotonic()
    response = app.get("/identity", headers=bearer(mint()), status=503)
    assert time.monotonic() - started < GENEROUS
    assert response.json["error"] == "temporarily_unavailable"
