"""Demo assessment data (filled in below)."""


def load(world) -> None:
    return None
