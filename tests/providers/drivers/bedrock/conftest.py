"""Fixtures for the bedrock driver tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes import bedrock as fake
from tests.fakes.server import FakeServer, serve
from tests.providers.drivers.bedrock.support import TOKEN


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with serve(fake.make_app(session_token=TOKEN)) as srv:
        yield srv
