"""Files under a root that is a local folder or an ``s3://bucket/prefix``: list, read, checksum, copy locally.

Metadata and landing files go through :func:`open_objects`, so ``--metadata`` and ``--landing`` accept either.
S3 access uses boto3 as configured by the environment: credentials from the standard chain, endpoints from
``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_S3`` (LocalStack, MinIO, a moto server), and botocore's standard retry
mode, which backs off on throttling and transient errors.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from paylake.errors import StorageError

CHUNK = 1 << 20


@dataclass(frozen=True)
class ObjectInfo:
    """One file: its full path (local path or ``s3://`` URI), base name, size in bytes and last change (UTC)."""

    path: str
    name: str
    size: int
    modified: datetime | None = None


class ObjectStore(Protocol):
    """Read-only access to the files below a root."""

    root: str

    def list(self, folder: str, suffixes: tuple[str, ...] = (), recursive: bool = False) -> list[ObjectInfo]:
        """Files in ``folder`` (relative to the root; also in its sub-folders if ``recursive``), sorted by path;
        only names ending in one of ``suffixes`` if given."""
        ...

    def read_bytes(self, path: str, limit: int | None = None) -> bytes:
        """A file's bytes (only the first ``limit`` bytes if given)."""
        ...

    def sha256(self, path: str) -> str:
        """Hex SHA-256 of a file's bytes, streamed."""
        ...

    def local_copy(self, path: str, folder: Path) -> str:
        """A local path with the file's content (the file itself when it is local)."""
        ...


class LocalObjects:
    """Files in a local folder."""

    def __init__(self, root: str) -> None:
        self.root = root

    def list(self, folder: str, suffixes: tuple[str, ...] = (), recursive: bool = False) -> list[ObjectInfo]:
        """The files under ``folder`` of the root; none when the folder is missing.

        Raises:
            StorageError: the root itself is not a folder (a mistyped landing path must not pass for a day
                without files).
        """
        if not Path(self.root).is_dir():
            raise StorageError(f"{self.root}: folder does not exist (or is not a folder)")
        base = Path(self.root) / folder
        if not base.is_dir():
            return []
        candidates = base.rglob("*") if recursive else base.iterdir()
        found = [p for p in candidates if p.is_file() and (not suffixes or p.suffix in suffixes)]
        stats = [(p, p.stat()) for p in sorted(found)]
        return [
            ObjectInfo(str(p), p.name, st.st_size, datetime.fromtimestamp(st.st_mtime, timezone.utc)) for p, st in stats
        ]

    def read_bytes(self, path: str, limit: int | None = None) -> bytes:
        with open(path, "rb") as handle:
            return handle.read(limit) if limit is not None else handle.read()

    def sha256(self, path: str) -> str:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(CHUNK), b""):
                digest.update(chunk)
        return digest.hexdigest()

    def local_copy(self, path: str, folder: Path) -> str:
        return path


def split_s3(uri: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` -> ``("bucket", "a/b")``.

    Raises:
        StorageError: not an ``s3://bucket[/prefix]`` URI.
    """
    if not uri.startswith("s3://") or not uri[5:].split("/", 1)[0]:
        raise StorageError(f"{uri!r} is not an s3://bucket/prefix URI")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key.strip("/")


# Error codes with which S3 sheds load or fails transiently; botocore retries them before paylake sees them.
UNAVAILABLE = {"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "503", "ServiceUnavailable"}
UNAVAILABLE |= {"InternalError", "500", "RequestTimeout"}


@lru_cache(maxsize=4)
def s3_client(
    region: str | None = None, retries: int = 8, read_timeout: float = 60.0, connect_timeout: float = 10.0
) -> Any:
    """A boto3 S3 client with standard retries (exponential backoff with jitter on throttling, transient errors
    and timeouts: a call is tried ``1 + retries`` times), cached per settings."""
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"mode": "standard", "max_attempts": retries},  # botocore's max_attempts counts the retries
        read_timeout=read_timeout,
        connect_timeout=connect_timeout,
    )
    return boto3.client("s3", region_name=region, config=config)


class S3Objects:
    """Files under ``s3://bucket/prefix``."""

    def __init__(self, root: str, client: Any | None = None) -> None:
        self.root = root.rstrip("/")
        self.bucket, self.prefix = split_s3(self.root)
        self.client = client or s3_client()

    def _call(self, what: str, call: Any, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError

        try:
            return call(**kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in {"NoSuchBucket"}:
                raise StorageError(f"{what}: bucket {self.bucket!r} does not exist") from None
            if code in {"AccessDenied", "403", "AllAccessDisabled", "InvalidAccessKeyId", "SignatureDoesNotMatch"}:
                raise StorageError(
                    f"{what}: access denied ({code}); the credentials need s3:ListBucket and s3:GetObject on "
                    f"{self.root}"
                ) from None
            if code in {"NoSuchKey", "404"}:
                raise StorageError(f"{what}: no such object") from None
            if code in UNAVAILABLE:
                attempts = 1 + int(exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0))
                raise StorageError(
                    f"{what}: S3 answered {code} (throttled or unavailable) to {attempts} attempts with backoff; "
                    "nothing was loaded from it, run again later"
                ) from None
            raise StorageError(f"{what}: {code or exc}") from None
        except (HTTPClientError, ConnectionError) as exc:
            raise StorageError(
                f"{what}: no answer from S3 after {self._attempts()} attempts ({exc}); nothing was loaded from it, "
                "check the endpoint and the network, then run again"
            ) from None
        except BotoCoreError as exc:
            raise StorageError(f"{what}: {exc}") from None

    def _attempts(self) -> int:
        retries = getattr(self.client.meta.config, "retries", None) or {}
        return int(retries.get("total_max_attempts") or retries.get("max_attempts") or 1)

    def _key(self, path: str) -> str:
        bucket, key = split_s3(path)
        if bucket != self.bucket:
            raise StorageError(f"{path} is not under {self.root}")
        return key

    def _pages(self, prefix: str, recursive: bool) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            kwargs = {"Bucket": self.bucket, "Prefix": prefix, **({"ContinuationToken": token} if token else {})}
            if not recursive:
                kwargs["Delimiter"] = "/"
            page = self._call(f"s3://{self.bucket}/{prefix}", self.client.list_objects_v2, **kwargs)
            yield page
            if not page.get("IsTruncated"):
                return
            token = page["NextContinuationToken"]

    def list(self, folder: str, suffixes: tuple[str, ...] = (), recursive: bool = False) -> list[ObjectInfo]:
        prefix = "/".join(p for p in (self.prefix, folder.strip("/")) if p)
        prefix = f"{prefix}/" if prefix else ""  # the bucket's root: every key
        found = []
        for page in self._pages(prefix, recursive):
            for item in page.get("Contents", []):
                key: str = item["Key"]
                name = key.rsplit("/", 1)[-1]
                if name and (not suffixes or Path(name).suffix in suffixes):
                    path = f"s3://{self.bucket}/{key}"
                    found.append(ObjectInfo(path, name, int(item["Size"]), item.get("LastModified")))
        return sorted(found, key=lambda o: o.path)

    def read_bytes(self, path: str, limit: int | None = None) -> bytes:
        extra = {"Range": f"bytes=0-{limit - 1}"} if limit else {}
        response = self._call(path, self.client.get_object, Bucket=self.bucket, Key=self._key(path), **extra)
        body: bytes = response["Body"].read()
        return body

    def sha256(self, path: str) -> str:
        response = self._call(path, self.client.get_object, Bucket=self.bucket, Key=self._key(path))
        digest = hashlib.sha256()
        for chunk in response["Body"].iter_chunks(CHUNK):
            digest.update(chunk)
        return digest.hexdigest()

    def local_copy(self, path: str, folder: Path) -> str:
        target = folder / self._key(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        self._call(path, self.client.download_file, Bucket=self.bucket, Key=self._key(path), Filename=str(target))
        return str(target)


def open_objects(root: str | Path) -> ObjectStore:
    """The object store of a root: ``s3://`` URIs on S3, anything else a local folder."""
    text = str(root)
    return S3Objects(text) if text.startswith("s3://") else LocalObjects(text)
