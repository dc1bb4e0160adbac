"""Pages of these tests are read in English (the reader's language cookie). Every test here
ends with the figures kept as data equal to a recomputation from the cases and people."""

from __future__ import annotations

import pytest

from pbflow.engine import tally
from pbflow.extensions import db
from pbflow.services import training_totals


@pytest.fixture
def client(app):
    client = app.test_client()
    client.set_cookie("pbflow_lang", "en")
    return client


@pytest.fixture(autouse=True)
def figures_kept_as_data_match(app):
    """Whatever a test did (steps, votes, timers, escalations, notices, people, seeds,
    meetings), the counts the dashboard reads (``case_tally``, ``training_total``) are what
    ``pbflow figures check`` recomputes from the cases, people, meetings and records."""
    yield
    with app.app_context():
        db.session.remove()
        report = tally.check()
        assert report.ok, report.summary()
        training = training_totals.check()
        assert training.ok, training.summary()
