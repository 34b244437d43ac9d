"""Property tests: whatever arrives, the token endpoint answers a well-formed RFC 6749 error
or a token, and never raises."""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from idp.client_auth import BasicError, parse_basic
from idp.errors import HTTPError
from idp.http import Request
from tests.idp_support import make_testapp, two_api_config

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
ERRORS = {"invalid_request", "invalid_client", "invalid_scope", "unauthorized_client",
          "unsupported_grant_type"}


@pytest.fixture(scope="module")
def app():
    return make_testapp(two_api_config())


def environ(body: bytes, content_type: str, authorization: str | None = None) -> dict:
    env = {"REQUEST_METHOD": "POST", "PATH_INFO": "/connect/token", "QUERY_STRING": "",
           "CONTENT_TYPE": content_type, "CONTENT_LENGTH": str(len(body)),
           "wsgi.input": io.BytesIO(body), "REMOTE_ADDR": "127.0.0.1"}
    if authorization is not None:
        env["HTTP_AUTHORIZATION"] = authorization
    return env


@SETTINGS
@given(st.binary(max_size=300))
def test_form_parser_returns_a_dict_or_a_request_error(body):
    request = Request.from_environ(environ(body, "application/x-www-form-urlencoded"))
    try:
        form = request.read_form()
    except HTTPError as exc:
        assert exc.error == "invalid_request"
    else:
        assert all(isinstance(k, str) and isinstance(v, str) and v for k, v in form.items())


@SETTINGS
@given(st.text(max_size=200))
def test_basic_decoder_returns_credentials_or_a_basic_error(header):
    try:
        credentials = parse_basic(header)
    except BasicError:
        return
    assert credentials.client_id and credentials.method == "client_secret_basic"


form_values = st.one_of(st.sampled_from(["client_credentials", "password", "api1", "api2",
                                         "client", "secret", "", "api1 api2"]),
                        st.text(max_size=20))
forms = st.dictionaries(st.sampled_from(["grant_type", "scope", "client_id", "client_secret",
                                         "other"]), form_values, max_size=5)


@SETTINGS
@given(forms, st.one_of(st.none(), st.text(max_size=60)),
       st.sampled_from(["application/x-www-form-urlencoded", "text/plain", ""]))
def test_token_endpoint_always_answers_well_formed_json(app, form, authorization, content_type):
    from urllib.parse import urlencode
    headers = {"Content-Type": content_type} if content_type else {}
    if authorization is not None:
        headers["Authorization"] = authorization.encode("utf-8").decode("latin-1")
    response = app.post("/connect/token", urlencode(form).encode(), headers=headers,
                        status="*", extra_environ={"REMOTE_ADDR": "198.51.100.7"})
    body = json.loads(response.body)
    if response.status_int == 200:
        assert body["token_type"] == "Bearer"
    else:
        assert response.status_int in (400, 401, 429)
        assert body["error"] in ERRORS and isinstance(body["error_description"], str)
        assert response.headers["Cache-Control"] == "no-store"
