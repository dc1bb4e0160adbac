import pytest

from pbflow.extensions import db
from pbflow.services import training_totals


@pytest.fixture(autouse=True)
def training_totals_match(app):
    """Whatever a test did with meetings and training records (recorded, corrected, deleted,
    refused, rolled back), the members' yearly minutes kept as data (``training_total``) are
    what ``pbflow figures check`` recomputes from them."""
    yield
    with app.app_context():
        db.session.remove()
        report = training_totals.check()
        assert report.ok, report.summary()
