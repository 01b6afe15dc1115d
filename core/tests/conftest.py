"""Artifact stores for the tests: a real S3-compatible server (SeaweedFS) for the session, and a
store of its own (a prefix of one bucket, or a folder) for each test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.tests.seaweedfs import ACCESS_KEY, BUCKET, SECRET_KEY, SeaweedFS


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    server = SeaweedFS(tmp_path_factory.mktemp("seaweedfs"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def s3_store(settings: Any, seaweedfs: SeaweedFS) -> Any:
    """The site's store set to a fresh prefix of the SeaweedFS bucket (caches shared through it)."""
    from core.artifacts import artifact_store

    settings.ARTIFACT_STORE_URL = f"s3://{BUCKET}/test-{uuid.uuid4().hex[:12]}"
    settings.ARTIFACT_STORE_ENDPOINT_URL = seaweedfs.endpoint
    settings.ARTIFACT_STORE_ACCESS_KEY_ID = ACCESS_KEY
    settings.ARTIFACT_STORE_SECRET_ACCESS_KEY = SECRET_KEY
    settings.ARTIFACT_STORE_SHARED_CACHES = True
    return artifact_store()


@pytest.fixture
def folder_store(settings: Any, tmp_path: Path) -> Any:
    """The site's store set to a folder of this test's own."""
    from core.artifacts import artifact_store

    settings.ARTIFACT_STORE_URL = str(tmp_path / "artifacts")
    settings.ARTIFACT_STORE_SHARED_CACHES = True
    return artifact_store()


@pytest.fixture(params=["folder", "s3"])
def any_store(request: pytest.FixtureRequest) -> Any:
    """Each backend in turn: one contract, two stores."""
    return request.getfixturevalue("folder_store" if request.param == "folder" else "s3_store")
