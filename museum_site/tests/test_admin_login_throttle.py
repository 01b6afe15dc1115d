"""Failed admin logins are counted per username and per client address: past either limit a login gets
the login page with a clear message, 429 and Retry-After, and its password is not even checked."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.signals import user_login_failed
from django.test import Client

PASSWORD = "a-long-pass-phrase"


@pytest.fixture
def throttle(settings: Any, redis_client: Any, django_user_model: Any) -> Any:
    for key in redis_client.scan_iter("ratelimit:login-*"):
        redis_client.delete(key)
    settings.LOGIN_FAILURES_PER_ACCOUNT = 3
    settings.LOGIN_FAILURES_PER_ADDRESS = 5
    settings.LOGIN_THROTTLE_WINDOW_SECONDS = 60
    django_user_model.objects.create_superuser("sam_superuser", password=PASSWORD)
    django_user_model.objects.create_superuser("ada_admin", password=PASSWORD)
    return settings


def _login(address: str, username: str, password: str) -> Any:
    return Client(REMOTE_ADDR=address).post("/admin/login/", {"username": username, "password": password})


@pytest.mark.django_db
def test_an_account_is_throttled_across_addresses(throttle: Any) -> None:
    for n in range(3):
        assert _login(f"203.0.113.{n}", "sam_superuser", "wrong").status_code == 200
    throttled = _login("198.51.100.9", "SAM_superuser", "wrong")
    assert throttled.status_code == 429 and 1 <= int(throttled["Retry-After"]) <= 60
    assert "Too many failed logins" in throttled.content.decode()
    assert 'id="login-form"' in throttled.content.decode()
    # Another account from the same addresses logs in.
    assert _login("203.0.113.0", "ada_admin", PASSWORD).status_code == 302


@pytest.mark.django_db
def test_an_address_is_throttled_across_accounts(throttle: Any) -> None:
    for n in range(5):
        assert _login("2001:db8:9:9::1", f"guess{n}", "wrong").status_code == 200
    # The same /64, another account, the right password: refused.
    assert _login("2001:db8:9:9::2", "ada_admin", PASSWORD).status_code == 429
    assert _login("2001:db8:9:a::1", "ada_admin", PASSWORD).status_code == 302


@pytest.mark.django_db
def test_a_throttled_login_is_not_checked_and_a_success_clears_the_count(throttle: Any) -> None:
    checked: list[str] = []

    def note(sender: Any, credentials: dict[str, Any], **kwargs: Any) -> None:
        checked.append(credentials["username"])

    user_login_failed.connect(note)
    try:
        for _ in range(2):
            _login("203.0.113.50", "sam_superuser", "wrong")
        assert _login("203.0.113.50", "sam_superuser", PASSWORD).status_code == 302  # clears the account's count
        for _ in range(3):
            _login("203.0.113.51", "sam_superuser", "wrong")
        assert len(checked) == 5
        client = Client(REMOTE_ADDR="203.0.113.52")
        right = client.post("/admin/login/", {"username": "sam_superuser", "password": PASSWORD})
        wrong = client.post("/admin/login/", {"username": "sam_superuser", "password": "wrong"})
    finally:
        user_login_failed.disconnect(note)
    assert (right.status_code, wrong.status_code) == (429, 429)
    assert len(checked) == 5  # neither password was checked
    assert client.get("/admin/").status_code == 302  # not logged in
