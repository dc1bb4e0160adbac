"""Pages of these tests are read in English (the reader's language cookie)."""

from __future__ import annotations

import pytest


@pytest.fixture
def client(app):
    client = app.test_client()
    client.set_cookie("pbflow_lang", "en")
    return client
