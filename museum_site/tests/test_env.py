from __future__ import annotations

from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from museum_site.env import env_bool, env_bool_or_auto, env_float, env_int, env_int_or_auto, env_list, env_secret


def test_it_reads_typed_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_BOOL", "yes")
    monkeypatch.setenv("X_INT", "42")
    monkeypatch.setenv("X_FLOAT", "0.5")
    monkeypatch.setenv("X_LIST", "a, b,,c")
    assert env_bool("X_BOOL") is True
    assert env_int("X_INT", 1, minimum=1, maximum=100) == 42
    assert env_float("X_FLOAT", 1.0) == 0.5
    assert env_list("X_LIST", []) == ["a", "b", "c"]
    assert env_int("X_UNSET", 7) == 7
    assert env_int_or_auto("X_INT", maximum=100) == 42
    assert env_int_or_auto("X_UNSET") is None
    monkeypatch.setenv("X_AUTO", " Auto ")
    assert env_int_or_auto("X_AUTO") is None
    assert env_bool_or_auto("X_AUTO") is None
    assert env_bool_or_auto("X_UNSET") is None
    assert env_bool_or_auto("X_BOOL") is True


@pytest.mark.parametrize(
    ("name", "value", "read", "message"),
    [
        ("X_BOOL", "maybe", lambda: env_bool("X_BOOL"), "not a boolean"),
        ("X_INT", "4.5", lambda: env_int("X_INT", 1), "not an integer"),
        ("X_INT", "0", lambda: env_int("X_INT", 1, minimum=1), "below the minimum"),
        ("X_INT", "101", lambda: env_int("X_INT", 1, maximum=100), "above the maximum"),
        ("X_FLOAT", "fast", lambda: env_float("X_FLOAT", 1.0), "not a number"),
        ("X_COUNT", "many", lambda: env_int_or_auto("X_COUNT", minimum=0), "not an integer"),
        ("X_COUNT", "-1", lambda: env_int_or_auto("X_COUNT", minimum=0), "below the minimum"),
        ("X_SWITCH", "sometimes", lambda: env_bool_or_auto("X_SWITCH"), "not a boolean"),
    ],
)
def test_it_fails_loudly_on_bad_values(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, read: object, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ImproperlyConfigured, match=message):
        read()  # type: ignore[operator]


def test_it_reads_a_secret_from_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret = tmp_path / "key"
    secret.write_text("s3cret\n")
    monkeypatch.setenv("X_SECRET_FILE", str(secret))
    assert env_secret("X_SECRET") == "s3cret"
    monkeypatch.setenv("X_SECRET_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="cannot be read"):
        env_secret("X_SECRET")
