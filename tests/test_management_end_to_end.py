"""The management port of real servers (issue 12): one scrape of a two-worker server counts
every request exactly, health answers, the events file of two workers, and the metrics
directory that lives exactly as long as the server."""

from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.pg_server import PostgresServer, wait_until
from tests.servers import ROOT, free_port, running

pytestmark = pytest.mark.e2e

SECRET_SHA256 = "K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols="  # "secret"
API_SECRET_SHA256 = "AUwkP/lg6Hr8hIJkj0HiCE3OdlqgYtzcv04OQ8TbikE="  # "api-secret"
CONFIG = {
    "api_scopes": [{"name": "api1"}],
    "api_resources": [{"name": "api1", "scopes": ["api1"],
                       "secrets": [{"sha256": API_SECRET_SHA256}]}],
    "clients": [{"client_id": "client", "allowed_scopes": ["api1"],
                 "secrets": [{"sha256": SECRET_SHA256}]}],
}
READY = {"status": "UP", "checks": [{"name": "signing key", "status": "UP"},
                                    {"name": "store", "status": "UP"}]}


def basic(user: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode(),
            "Content-Type": "application/x-www-form-urlencoded"}


def get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=20) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


def health(port: int, path: str) -> tuple[int, dict]:
    status, body = get(port, path)
    return status, json.loads(body)


def samples(port: int) -> dict[tuple[str, frozenset], float]:
    """Every sample of one scrape, by name and labels."""
    status, body = get(port, "/metrics")
    assert status == 200
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(body.decode()) for s in family.samples}


def sample(scraped: dict, name: str, **labels: str) -> float | None:
    return scraped.get((name, frozenset(labels.items())))


def settled(scraped: dict, **requests: int) -> bool:
    """Whether the scrape has timed as many requests as each endpoint was sent."""
    return all(sample(scraped, "idp_request_duration_seconds_count", endpoint=endpoint) == count
               for endpoint, count in requests.items())


def post(connection: http.client.HTTPConnection, path: str, body: str,
         headers: dict[str, str]) -> tuple[int, dict]:
    connection.request("POST", path, body, headers)
    response = connection.getresponse()
    data = response.read()
    return response.status, json.loads(data) if data else {}


@pytest.fixture(scope="module")
def idp_run(tmp_path_factory):
    """A two-worker IdP with the management port and an events file, sent known traffic over
    two connections held open (the workers' balance gives them to different workers)."""
    tmp = tmp_path_factory.mktemp("management")
    config, events = tmp / "idp.json", tmp / "events.log"
    config.write_text(json.dumps(CONFIG))
    metrics_port = free_port()
    run = SimpleNamespace(events=events, metrics_port=metrics_port)
    with running("idp", "--workers", "2", "--metrics-port", str(metrics_port), "--config",
                 str(config), "--events", str(events), "--data-dir", str(tmp / "data"),
                 env_extra={"TMPDIR": str(tmp)}) as (port, process):
        assert wait_until(lambda: get(metrics_port, "/health/ready")[0] == 200, timeout=20)
        run.live, run.ready = health(metrics_port, "/health/live"), health(metrics_port,
                                                                            "/health/ready")
        run.directories_while_serving = sorted(p.name for p in tmp.glob("metrics-*"))
        connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=20) for _ in "ab"]
        form = "grant_type=client_credentials"
        run.tokens = [post(connections[i % 2], "/connect/token", form, basic("client", "secret"))
                      for i in range(7)]
        run.refusals = [post(connections[i % 2], "/connect/token", form,
                             basic("client", f"wrong-{i}")) for i in range(3)]
        run.refusals.append(post(connections[0], "/connect/token", form, basic("nobody", "x")))
        token = run.tokens[0][1]["access_token"]
        run.introspections = [
            post(connections[i], "/connect/introspect", f"token={value}",
                 basic("api1", "api-secret")) for i, value in enumerate((token, "not-a-token"))]
        for connection in connections:
            connection.close()
        assert wait_until(lambda: settled(samples(metrics_port), token=11, introspection=2),
                          timeout=10)  # each worker adds its counts once a second
        run.metrics = samples(metrics_port)
    run.directories_after = sorted(p.name for p in tmp.glob("metrics-*"))
    run.token = token
    return run


def test_one_scrape_of_a_two_worker_idp_counts_every_request_exactly(idp_run):
    assert [status for status, _ in idp_run.tokens] == [200] * 7
    assert [status for status, _ in idp_run.refusals] == [401] * 4
    assert [body for _, body in idp_run.introspections][1] == {"active": False}
    scraped = idp_run.metrics
    assert {labels: value for (name, labels), value in scraped.items()
            if name == "idp_token_requests_total"} == {
        frozenset({("client_id", "client"), ("outcome", "issued")}): 7,
        frozenset({("client_id", "client"), ("outcome", "invalid_client")}): 3,
        frozenset({("client_id", "unknown"), ("outcome", "invalid_client")}): 1}
    assert {labels: value for (name, labels), value in scraped.items()
            if name == "idp_introspection_requests_total"} == {
        frozenset({("api", "api1"), ("outcome", "active")}): 1,
        frozenset({("api", "api1"), ("outcome", "inactive")}): 1}
    assert sample(scraped, "idp_request_duration_seconds_count", endpoint="token") == 11
    assert sample(scraped, "idp_request_duration_seconds_count", endpoint="introspection") == 2
    assert sample(scraped, "idp_throttled_requests_total", endpoint="token") == 0
    assert sample(scraped, "idp_signing_key_loaded") == 1
    assert 0 <= sample(scraped, "idp_signing_key_age_seconds", alg="RS256") < 600


def test_health_answers_live_and_ready_in_json(idp_run):
    assert idp_run.live == (200, {"status": "UP", "checks": []})
    assert idp_run.ready == (200, READY)


def test_the_events_of_two_workers_are_whole_lines_in_the_events_file(idp_run):
    events = [json.loads(line) for line in idp_run.events.read_text().splitlines()]
    names = [event["event"] for event in events]
    assert {name: names.count(name) for name in set(names)} == {
        "KeyActivated": 1, "ClientAuthenticationSuccess": 7, "TokenIssuedSuccess": 7,
        "ClientAuthenticationFailure": 4, "ApiAuthenticationSuccess": 2,
        "TokenIntrospectionSuccess": 2}
    text = idp_run.events.read_text()
    assert "api-secret" not in text and "wrong-" not in text
    assert all(part not in text for part in idp_run.token.split("."))


def test_the_metrics_directory_lives_as_long_as_the_server(idp_run):
    assert len(idp_run.directories_while_serving) == 1
    assert idp_run.directories_after == []


def test_without_a_metrics_port_there_is_no_management_port_and_no_directory(tmp_path):
    with running("idp", "--data-dir", str(tmp_path / "data"),
                 env_extra={"TMPDIR": str(tmp_path)}) as (port, process):
        assert get(port, "/.well-known/openid-configuration")[0] == 200
        directories = list(tmp_path.glob("metrics-*"))
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)
        log = process.stderr.read()
    assert directories == []
    assert "idp: listening on" in log and "management port" not in log


def test_one_scrape_of_a_two_worker_api_counts_every_validation_exactly(tmp_path):
    metrics_port = free_port()
    with running("idp", "--data-dir", str(tmp_path / "data")) as (idp_port, _), \
            running("resource_api", "--authority", f"http://localhost:{idp_port}", "--workers",
                    "2", "--metrics-port", str(metrics_port)) as (port, _):
        assert wait_until(lambda: get(metrics_port, "/health/ready")[0] == 200, timeout=20)
        assert health(metrics_port, "/health/ready") == (
            200, {"status": "UP", "checks": [{"name": "signing keys", "status": "UP"}]})
        token_request = urllib.request.Request(
            f"http://127.0.0.1:{idp_port}/connect/token", b"grant_type=client_credentials",
            basic("client", "secret"))
        with urllib.request.urlopen(token_request, timeout=20) as response:
            token = json.load(response)["access_token"]
        connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=20) for _ in "ab"]
        statuses = []
        for i, authorization in enumerate([f"Bearer {token}"] * 5 + [None, "Bearer x.y.z"]):
            connection = connections[i % 2]
            connection.request("GET", "/identity", headers={"Authorization": authorization}
                               if authorization else {})
            response = connection.getresponse()
            response.read()
            statuses.append(response.status)

        def validated() -> float:
            return sum(value for (name, _), value in samples(metrics_port).items()
                       if name == "resource_api_token_validations_total")

        assert wait_until(lambda: validated() == 7, timeout=10)
        scraped = samples(metrics_port)
    assert statuses == [200] * 5 + [401, 401]
    assert {labels: value for (name, labels), value in scraped.items()
            if name == "resource_api_token_validations_total"} == {
        frozenset({("outcome", "accepted"), ("reason", "none")}): 5,
        frozenset({("outcome", "refused"), ("reason", "no_token")}): 1,
        frozenset({("outcome", "refused"), ("reason", "malformed")}): 1}
    assert (sample(scraped, "resource_api_key_refreshes_total"),
            sample(scraped, "resource_api_key_refresh_failures_total"),
            sample(scraped, "resource_api_signing_keys")) == (2, 0, 1)


def test_ready_is_503_while_the_store_is_stopped_and_200_again_after(tmp_path):
    server = PostgresServer()  # its own, to stop and start
    try:
        url = server.create_database("health")
        metrics_port = free_port()
        env = {"IDP_KEY_ENCRYPTION_KEY": base64.b64encode(os.urandom(32)).decode()}
        with running("idp", "--store", url, "--metrics-port", str(metrics_port),
                     env_extra=env):
            assert wait_until(lambda: get(metrics_port, "/health/ready")[0] == 200, timeout=20)
            server.stop()
            status, body = health(metrics_port, "/health/ready")
            store = body["checks"][1]
            assert (status, body["status"], body["checks"][0], store["name"], store["status"]) \
                == (503, "DOWN", {"name": "signing key", "status": "UP"}, "store", "DOWN")
            assert store["data"]["reason"].startswith(f"the store {url} cannot be used: ")
            assert health(metrics_port, "/health/live") == (200, {"status": "UP", "checks": []})
            server.start()
            assert wait_until(lambda: get(metrics_port, "/health/ready")[0] == 200, timeout=20)
    finally:
        server.destroy()


def test_a_metrics_port_in_use_is_refused_in_one_line(tmp_path):
    with running("idp", "--data-dir", str(tmp_path / "a")) as (busy, _):
        result = subprocess.run(
            [sys.executable, "-m", "idp", "--port", "0", "--metrics-port", str(busy),
             "--data-dir", str(tmp_path / "b")], cwd=ROOT, capture_output=True, text=True,
            timeout=30, env={**os.environ, "TMPDIR": str(tmp_path)})
    assert (result.returncode, result.stderr) == (
        1, f"idp: --metrics-port: cannot listen on 127.0.0.1:{busy}: Address already in use\n")
    assert list(Path(tmp_path).glob("metrics-*")) == []
