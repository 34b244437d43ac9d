"""Fixtures every test module may use: one throwaway PostgreSQL server per test session."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from tests.pg_server import PostgresServer

_databases = itertools.count(1)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """Started at first use; skips (or fails under CI=true) without PostgreSQL."""
    server = PostgresServer()
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> str:
    """A new, empty database on the session's server."""
    return pg_server.create_database(f"test_{next(_databases)}")
