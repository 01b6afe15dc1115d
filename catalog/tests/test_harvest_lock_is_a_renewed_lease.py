"""The harvest lock is a lease in Redis: a running harvest keeps renewing it, a dead one's lapses."""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis
from django.conf import settings

from catalog import harvest
from catalog.harvest import harvest_lock


@pytest.fixture
def short_lease(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(harvest, "_HARVEST_LEASE_SECONDS", 1)
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete(harvest._HARVEST_LOCK)
    yield client
    client.delete(harvest._HARVEST_LOCK)


def test_a_running_harvest_keeps_its_lease_past_its_length(short_lease: redis.Redis) -> None:
    with harvest_lock() as held:
        assert held
        time.sleep(2.5)
        with harvest_lock() as second:
            assert not second
    with harvest_lock() as after_it_ended:
        assert after_it_ended


def test_the_lease_of_a_harvest_that_died_lapses(short_lease: redis.Redis) -> None:
    short_lease.set(harvest._HARVEST_LOCK, "a killed process's token", px=1000)
    with harvest_lock() as held:
        assert not held
    time.sleep(1.2)
    with harvest_lock() as held:
        assert held
