import pytest

from tests.member_development.test_member_development import Walk


@pytest.fixture
def walk(world, clock):
    """A member's development walked step by step by the world's people (``Walk``)."""
    return Walk(world, clock)
