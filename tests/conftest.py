"""Shared fixtures: one local Spark session with Delta for the whole test run, and test keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config.model import KeySource, Where
from engine.keys import MasterKey, fingerprint

REPO = Path(__file__).resolve().parents[1]
SYNTHEA = REPO / "data" / "synthea"
# Fixed test keys: 32 bytes each, never used outside tests.
TEST_KEY = bytes(range(32))
OTHER_KEY = bytes(range(100, 132))


@pytest.fixture(scope="session")
def spark():
    from engine.session import get_session

    session = get_session(
        "anon-engine tests",
        master="local[2]",
        extra={
            # Test tables are tiny; 200 shuffle partitions would only add scheduling time.
            "spark.sql.shuffle.partitions": "4",
            "spark.default.parallelism": "2",
            "spark.ui.enabled": "false",
        },
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture()
def master_key() -> MasterKey:
    return MasterKey(TEST_KEY, fingerprint(TEST_KEY))


@pytest.fixture()
def other_key() -> MasterKey:
    return MasterKey(OTHER_KEY, fingerprint(OTHER_KEY))


def key_source(env: str = "ANON_TEST_KEY") -> KeySource:
    return KeySource(env=env, file=None, where=Where("test", None, "key"))
