"""The artifact store: where every host of a site finds images, checkpoints, exports and training outputs.

One interface, two backends, chosen by ARTIFACT_STORE_URL: a folder (the default, for one host) and
any S3-compatible object store (``s3://bucket/prefix``, ARTIFACT_STORE_ENDPOINT_URL for a server other
than AWS). Keys name content or names, never a host's paths (docs/storage.md lists them):
``images/<image id>/<width>.jpg``, ``checkpoints/<sha256>.pt``, ``onnx/<architecture>/<digest>/<file>``,
``training/job-<id>/<file>``. A host's local caches read through the store.

``download`` writes a temporary file beside its destination and renames it into place, so a reader
never sees half a file and any number of downloads of one key at once each end with the whole file.
A folder store hard-links where it can, so that on one host an artifact and its cached copy are one
file on disk, not two.

Failures: ``ArtifactMissing`` when a key is not in the store (what was asked for does not exist),
``StoreUnavailable`` for everything else the store answers or fails to answer (unreachable, refused
credentials, a missing bucket): it heals when the store comes back, so tasks wait it out and try again
(``core.retry.TRANSIENT_ERRORS``). Both messages name the key and the store.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import shutil
import tempfile
import uuid
from abc import ABC, abstractmethod
from collections.abc import Collection
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

# A ``pretrained`` value (or any reference) that names an artifact rather than a path on one host.
ARTIFACT_REFERENCE = "artifact:"
# Each part starts with a letter or digit: no absolute keys, no "." or "..", no hidden temporary names.
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=+-]*(/[A-Za-z0-9][A-Za-z0-9._=+-]*)*$")
_PARTIAL_SUFFIX = ".part"


class ArtifactError(RuntimeError):
    """An artifact cannot be stored or had; the message names the key and the store."""


class ArtifactMissing(ArtifactError):
    """The key is not in the store."""


class StoreUnavailable(ArtifactError):
    """The store cannot be reached or refuses the request: a failure that ends when the store is back."""


def check_key(key: str) -> str:
    """``key`` if it is a relative key of plain parts; raises ArtifactError otherwise."""
    if not _KEY.match(key) or len(key) > 900:
        raise ArtifactError(f"{key[:200]!r} is not an artifact key (relative parts of letters, digits and ._=+-)")
    return key


def check_prefix(prefix: str) -> str:
    """A non-empty key prefix (``images/abc/`` or ``training/job-3``); nothing deletes or lists a whole store."""
    if not prefix or not _KEY.match(prefix.rstrip("/")):
        raise ArtifactError(f"{prefix[:200]!r} is not an artifact key prefix")
    return prefix


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def is_reference(value: str) -> bool:
    """Whether ``value`` (a model's ``pretrained``) names an artifact: ``artifact:<key>``."""
    return value.strip().startswith(ARTIFACT_REFERENCE)


def reference(key: str) -> str:
    return ARTIFACT_REFERENCE + check_key(key)


def referenced_key(value: str) -> str:
    """The key of an ``artifact:<key>`` reference."""
    return check_key(value.strip().removeprefix(ARTIFACT_REFERENCE))


class ArtifactStore(ABC):
    """Artifacts by key. Every method raises StoreUnavailable when the store cannot answer."""

    location: str  # what messages call the store

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def upload(self, source: Path, key: str) -> None:
        """Store the file ``source`` under ``key``, replacing what was there."""

    @abstractmethod
    def list_keys(self, prefix: str) -> list[str]:
        """The keys that begin with ``prefix``, sorted."""

    @abstractmethod
    def _delete_keys(self, keys: list[str]) -> None: ...

    @abstractmethod
    def _fetch(self, key: str, partial: Path) -> None:
        """Write the artifact to ``partial`` (raising ArtifactMissing when there is none)."""

    def _same_file(self, key: str, destination: Path) -> bool:
        """Whether ``destination`` already is the stored file itself (a folder store's hard link)."""
        return False

    def download(self, key: str, destination: Path) -> Path:
        """Put the artifact at ``destination`` (written beside it, then renamed into place); returns it."""
        check_key(key)
        if self._same_file(key, destination):
            return destination
        destination.parent.mkdir(parents=True, exist_ok=True)
        partial = _partial_beside(destination)
        try:
            self._fetch(key, partial)
            os.replace(partial, destination)
        finally:
            partial.unlink(missing_ok=True)
        return destination

    def delete(self, prefix: str) -> int:
        """Delete every artifact whose key begins with ``prefix``; how many there were."""
        keys = self.list_keys(check_prefix(prefix))
        if keys:
            self._delete_keys(keys)
        return len(keys)

    def upload_folder(self, folder: Path, prefix: str, *, last: str | Collection[str] = ()) -> list[str]:
        """Store every file under ``folder`` as ``<prefix>/<relative path>``; the keys written. Hidden
        files and temporary ones (a write still under way) stay behind. The files ``last`` (relative
        paths) go after all the others: a reader that looks for one of them first never takes half a folder."""
        last = {last} if isinstance(last, str) else set(last)
        files = []
        for path in sorted(folder.rglob("*")):
            relative = path.relative_to(folder).as_posix()
            hidden = any(part.startswith(".") for part in path.relative_to(folder).parts)
            if path.is_file() and not hidden and not path.name.endswith(_PARTIAL_SUFFIX):
                files.append((relative in last, relative, path))
        keys: list[str] = []
        for _, relative, path in sorted(files):
            key = check_key(f"{prefix.rstrip('/')}/{relative}")
            self.upload(path, key)
            keys.append(key)
        return keys

    def download_folder(self, prefix: str, destination: Path) -> Path:
        """Every artifact under ``<prefix>/`` as one folder at ``destination``, which appears whole or not at all.

        Raises ArtifactMissing when nothing is stored under the prefix. Another process that put the
        folder there first wins; its copy is kept.
        """
        base = check_prefix(prefix.rstrip("/") + "/")
        keys = self.list_keys(base)
        if not keys:
            raise ArtifactMissing(f"no artifacts under {base} in {self.location}")
        destination.parent.mkdir(parents=True, exist_ok=True)
        partial = destination.with_name(f"{destination.name}.{uuid.uuid4().hex}{_PARTIAL_SUFFIX}")
        try:
            for key in keys:
                self.download(key, partial / key.removeprefix(base))
            try:
                partial.rename(destination)
            except OSError as exc:
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
        finally:
            shutil.rmtree(partial, ignore_errors=True)
        return destination


class FolderStore(ArtifactStore):
    """Artifacts as files under one folder: ``<root>/<key>``. Hard links where the filesystem allows."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.location = f"the folder store {root}"

    def path_of(self, key: str) -> Path:
        return self.root / check_key(key)

    def exists(self, key: str) -> bool:
        return self.path_of(key).is_file()

    def upload(self, source: Path, key: str) -> None:
        try:
            _place(source, self.path_of(key))
        except FileNotFoundError as exc:
            if not source.is_file():
                raise
            raise StoreUnavailable(f"cannot store {key} in {self.location}: {exc}") from exc
        except OSError as exc:
            raise StoreUnavailable(f"cannot store {key} in {self.location}: {exc}") from exc

    def _same_file(self, key: str, destination: Path) -> bool:
        return _same_inode(self.path_of(key), destination)

    def _fetch(self, key: str, partial: Path) -> None:
        source = self.path_of(key)
        try:
            _link_or_copy(source, partial)
        except FileNotFoundError:
            raise ArtifactMissing(f"{key} is not in {self.location}") from None
        except OSError as exc:
            raise StoreUnavailable(f"cannot read {key} from {self.location}: {exc}") from exc

    def list_keys(self, prefix: str) -> list[str]:
        check_prefix(prefix)
        folder = self.root / prefix.rpartition("/")[0] if "/" in prefix else self.root
        if not folder.is_dir():
            return []
        keys = []
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = [name for name in dirnames if not name.endswith(_PARTIAL_SUFFIX)]
            for name in filenames:
                key = Path(dirpath, name).relative_to(self.root).as_posix()
                if key.startswith(prefix) and _KEY.match(key):
                    keys.append(key)
        return sorted(keys)

    def _delete_keys(self, keys: list[str]) -> None:
        for key in keys:
            path = self.path_of(key)
            path.unlink(missing_ok=True)
            # Empty folders left behind go too, up to the root.
            for parent in path.parents:
                if parent == self.root or not parent.is_relative_to(self.root):
                    break
                try:
                    parent.rmdir()
                except OSError:
                    break


class S3Store(ArtifactStore):
    """Artifacts as objects ``<prefix>/<key>`` in one bucket of an S3-compatible store."""

    def __init__(self, bucket: str, prefix: str, client: Any, endpoint: str = "") -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = client
        where = f"s3://{bucket}/{self.prefix}".rstrip("/")
        self.location = f"the store {where}" + (f" at {endpoint}" if endpoint else "")

    def _name(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._name(check_key(key)))
        except Exception as exc:
            error = self._error(exc, key, "look up")
            if isinstance(error, ArtifactMissing):
                return False
            raise error from exc
        return True

    def upload(self, source: Path, key: str) -> None:
        try:
            self.client.upload_file(str(source), self.bucket, self._name(check_key(key)))
        except Exception as exc:
            if isinstance(exc, OSError) and not source.is_file():
                raise
            raise self._error(exc, key, "store") from exc

    def _fetch(self, key: str, partial: Path) -> None:
        try:
            self.client.download_file(self.bucket, self._name(key), str(partial))
        except Exception as exc:
            raise self._error(exc, key, "read") from exc

    def list_keys(self, prefix: str) -> list[str]:
        check_prefix(prefix)
        keys: list[str] = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self._name(prefix))
            for page in pages:
                keys.extend(item["Key"] for item in page.get("Contents", []))
        except Exception as exc:
            raise self._error(exc, prefix, "list") from exc
        cut = len(self._name(""))
        return sorted(key[cut:] for key in keys)

    def _delete_keys(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):  # the most one DeleteObjects request takes
            chunk = keys[start : start + 1000]
            try:
                self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": [{"Key": self._name(key)} for key in chunk], "Quiet": True}
                )
            except Exception as exc:
                raise self._error(exc, chunk[0], "delete") from exc

    def _error(self, exc: Exception, key: str, doing: str) -> ArtifactError:
        """What ``exc``, raised by boto3 while it meant to ``doing`` ``key``, means for the caller."""
        from botocore.exceptions import BotoCoreError, ClientError

        if isinstance(exc, ArtifactError):
            return exc
        if isinstance(exc, ClientError):
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("404", "NoSuchKey", "NotFound"):
                return ArtifactMissing(f"{key} is not in {self.location}")
            return StoreUnavailable(f"cannot {doing} {key} in {self.location}: {code or exc}")
        if isinstance(exc, (BotoCoreError, OSError)):
            return StoreUnavailable(f"cannot {doing} {key} in {self.location}: {type(exc).__name__}: {exc}")
        return StoreUnavailable(f"cannot {doing} {key} in {self.location}: {type(exc).__name__}: {exc}")


@dataclass(frozen=True)
class StoreSettings:
    url: str
    endpoint_url: str = ""
    access_key_id: str = ""
    secret_access_key: str = ""
    region: str = ""
    timeout: float = 10.0

    @classmethod
    def from_settings(cls) -> StoreSettings:
        return cls(
            url=settings.ARTIFACT_STORE_URL,
            endpoint_url=settings.ARTIFACT_STORE_ENDPOINT_URL,
            access_key_id=settings.ARTIFACT_STORE_ACCESS_KEY_ID,
            secret_access_key=settings.ARTIFACT_STORE_SECRET_ACCESS_KEY,
            region=settings.ARTIFACT_STORE_REGION,
            timeout=settings.ARTIFACT_STORE_TIMEOUT_SECONDS,
        )


def check_store_url(url: str) -> str:
    """``url`` if it names a store (``s3://bucket[/prefix]``, ``file:///folder`` or an absolute folder);
    raises ValueError otherwise."""
    if url.startswith("s3://"):
        bucket = url.removeprefix("s3://").partition("/")[0]
        if not re.match(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", bucket):
            raise ValueError(f"ARTIFACT_STORE_URL={url!r}: {bucket!r} is not an S3 bucket name")
        return url
    path = url.removeprefix("file://")
    if "://" in path or not Path(path).is_absolute():
        raise ValueError(f"ARTIFACT_STORE_URL={url!r} is neither s3://bucket/prefix nor an absolute folder")
    return url


def artifact_store() -> ArtifactStore:
    """The site's store, as the settings name it (one per process and configuration)."""
    return store_for(StoreSettings.from_settings())


@lru_cache(maxsize=8)
def store_for(config: StoreSettings) -> ArtifactStore:
    url = check_store_url(config.url)
    if not url.startswith("s3://"):
        return FolderStore(Path(url.removeprefix("file://")))
    import boto3
    from botocore.config import Config

    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=config.endpoint_url or None,
        region_name=config.region or None,
        # Empty: boto3's own chain (AWS_* variables, AWS_SHARED_CREDENTIALS_FILE, an instance role).
        aws_access_key_id=config.access_key_id or None,
        aws_secret_access_key=config.secret_access_key or None,
        config=Config(
            connect_timeout=config.timeout,
            read_timeout=config.timeout,
            retries={"max_attempts": 3, "mode": "standard"},
            # Checksums only where the API requires them: S3-compatible servers vary in the newer ones.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            signature_version="s3v4",
            s3={"addressing_style": "path"} if config.endpoint_url else {},
        ),
    )
    return S3Store(bucket, prefix, client, config.endpoint_url)


def _partial_beside(path: Path) -> Path:
    """A fresh temporary name in ``path``'s folder (same filesystem: the rename is atomic)."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=_PARTIAL_SUFFIX)
    os.close(fd)
    os.unlink(name)
    return Path(name)


def _same_inode(first: Path, second: Path) -> bool:
    try:
        return os.path.samefile(first, second)
    except OSError:
        return False


def _link_or_copy(source: Path, target: Path) -> None:
    """Hard-link ``source`` at ``target`` (one file on disk); copy where links cannot cross (another
    filesystem, a filesystem without them)."""
    try:
        os.link(source, target)
    except FileNotFoundError:
        raise
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES):
            raise
        shutil.copyfile(source, target)


def model_artifacts_dir() -> Path:
    """Where a host keeps its copies of stored checkpoints, by key: rebuildable from the store."""
    return Path(settings.MODEL_CACHE_DIR) / "artifacts"


def cached_artifact(key: str, root: Path) -> Path:
    """The local copy of an artifact that never changes (one named by its content): ``<root>/<key>``,
    downloaded from the store the first time it is wanted."""
    path = root / check_key(key)
    if path.is_file():
        return path
    return artifact_store().download(key, path)


def keep_local_copy(source: Path, key: str, root: Path) -> Path:
    """Put ``source`` at ``<root>/<key>`` (a hard link where it can), as if ``cached_artifact`` had
    downloaded it: the host that made an artifact does not download it back."""
    path = root / check_key(key)
    _place(source, path)
    return path


def _place(source: Path, path: Path) -> None:
    """``source`` at ``path`` (a hard link where it can), appearing whole or not at all."""
    if _same_inode(source, path):
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = _partial_beside(path)
    try:
        _link_or_copy(source, partial)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
