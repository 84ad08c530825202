"""A storage in an S3-compatible bucket (AWS, Backblaze B2, Wasabi, MinIO, Ceph, …), via botocore.

Objects are keys under ``PREFIX/`` in the bucket. ``put`` first asks whether the key
exists (HEAD), then uploads with ``If-None-Match: *``, so that of two writers of one name
only the first wins (a server that does not know the header answers 501 once; therabak
then relies on the HEAD alone for that storage). Up to ``multipart_threshold`` bytes go
in one PUT; a larger object is a multipart upload of ``part_size`` parts, each streamed
from the source and retried on its own; the object appears only when the upload is
completed, and an upload that fails is aborted. Either way a reader never sees half an
object. ``replace`` is a plain PUT (atomic in S3). Ranges are HTTP ``Range`` requests.

botocore's own retries are off (one try per call): :mod:`therabak.storage.network`
retries with one policy for every remote storage. botocore's newer default checksums
(``when_supported``) are turned down to ``when_required``, as S3-compatible providers
that do not know them refuse every upload otherwise.

Memory (issue 17: a backup off-site below 150 MB): the client is made by botocore's own
session, not boto3's (boto3 adds s3transfer, concurrent.futures and multiprocessing: ~65
modules, ~3 MB, none used here), and its endpoint table holds S3 alone, not every AWS service
(``endpoints.json``, ~7 MB as Python objects, kept as long as the client:
:func:`_slim_endpoint_table`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, BinaryIO

import botocore.exceptions
import botocore.session
from botocore.config import Config

from therabak.i18n import N_, _
from therabak.storage.base import (
    CredentialsError,
    LocationMissingError,
    ObjectExistsError,
    ObjectInfo,
    ObjectNotFoundError,
    Storage,
    StorageError,
    StorageFullError,
    check_name,
)
from therabak.storage.network import (
    NetworkOptions,
    SourceSlice,
    TokenBucket,
    Transient,
    with_retries,
)

MiB = 1 << 20
#: S3 allows parts of 5 MiB to 5 GiB and at most 10,000 of them.
MIN_PART_SIZE = 5 * MiB

_TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "TooManyRequests",
        "RequestTimeout",
        "RequestTimeTooSkewed",
        "InternalError",
        "ServiceUnavailable",
        "OperationAborted",
    }
)
_FULL_CODES = frozenset(
    {
        "QuotaExceeded",
        "XMinioStorageFull",
        "StorageFull",
        "InsufficientStorage",
        "StorageQuotaExceeded",
    }
)
_LOGIN_CODES = frozenset(
    {
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "AccessDenied",
        "InvalidToken",
        "ExpiredToken",
        "InvalidSecurity",
        "AllAccessDisabled",
    }
)
_TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class S3Storage(Storage):
    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        path_style: bool | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        options: NetworkOptions | None = None,
        multipart_threshold: int = 64 * MiB,
        part_size: int = 16 * MiB,
        location: str | None = None,
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError("part_size must be at least 5 MiB")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.endpoint_url = endpoint_url
        self.location = location or f"s3://{bucket}/{self.prefix}"
        self.options = options or NetworkOptions()
        self.multipart_threshold = max(multipart_threshold, 1)
        self.part_size = part_size
        self._bucket_checked = False
        self._conditional = True  # the server honours If-None-Match (until it says 501)
        self._bucket = TokenBucket(self.options.limit_upload) if self.options.limit_upload else None
        config = Config(
            connect_timeout=self.options.timeout_s,
            read_timeout=self.options.timeout_s,
            retries={"total_max_attempts": 1, "mode": "standard"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            s3={"addressing_style": {True: "path", False: "virtual", None: "auto"}[path_style]},
            user_agent_appid="therabak",
        )
        session = botocore.session.Session()
        _slim_endpoint_table(session)
        self._client = session.create_client(
            "s3",
            region_name=region or "us-east-1",
            endpoint_url=endpoint_url,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=config,
        )

    # ---- helpers ------------------------------------------------------------------

    def _key(self, name: str) -> str:
        return self.prefix + check_name(name)

    def _where(self) -> str:
        return self.location

    def _translate(self, e: BaseException, name: str | None = None) -> StorageError | Transient:
        what = name or self.location
        if isinstance(e, botocore.exceptions.ClientError):
            error = e.response.get("Error", {})
            code = str(error.get("Code", ""))
            status = int(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            if code in _FULL_CODES or status == 507:
                return StorageFullError(
                    _("{place} is full (the server says: {code})").format(
                        place=self.location, code=code or status
                    )
                )
            if code == "NoSuchBucket":
                return self._no_bucket()
            if code in _LOGIN_CODES or status in (401, 403):
                return CredentialsError(
                    _(
                        "{place}: the server refused the access key ({code}); store the "
                        "right one with: therabak remote login {url}"
                    ).format(place=self.location, code=code or status, url=self.location)
                )
            if code in (
                "PermanentRedirect",
                "AuthorizationHeaderMalformed",
                "IllegalLocationConstraintException",
            ):
                return StorageError(
                    _("{place}: the bucket is in another region ({code}); set the region").format(
                        place=self.location, code=code
                    )
                )
            if code in _TRANSIENT_CODES or status in _TRANSIENT_STATUS:
                return Transient(f"HTTP {status} {code}".strip())
            if code in ("NoSuchKey", "404") or status == 404:
                return ObjectNotFoundError(
                    _("{name} is missing in {place}").format(name=what, place=self.location)
                )
            return StorageError(
                _(
                    "{place}: the server refused the request for {name}: {code} (HTTP {status})"
                ).format(place=self.location, name=what, code=code, status=status)
            )
        if isinstance(
            e, botocore.exceptions.NoCredentialsError | botocore.exceptions.PartialCredentialsError
        ):
            return CredentialsError(
                _("{place}: no credentials; store them with: therabak remote login {url}").format(
                    place=self.location, url=self.location
                )
            )
        if isinstance(
            e,
            botocore.exceptions.EndpointConnectionError
            | botocore.exceptions.ConnectionClosedError
            | botocore.exceptions.ConnectTimeoutError
            | botocore.exceptions.ReadTimeoutError
            | botocore.exceptions.HTTPClientError,
        ):
            return Transient(_reason(e))
        if isinstance(
            e, botocore.exceptions.ResponseStreamingError | ConnectionError | TimeoutError
        ):
            return Transient(_reason(e))
        return StorageError(
            _("{place}: {name} failed ({error})").format(
                place=self.location, name=what, error=type(e).__name__
            )
        )

    def _no_bucket(self) -> LocationMissingError:
        if self.endpoint_url:
            message = _("the bucket {bucket} does not exist at {endpoint}; create it first")
        else:
            message = _("the bucket {bucket} does not exist; create it first")
        return LocationMissingError(message.format(bucket=self.bucket, endpoint=self.endpoint_url))

    def _call(self, operation: str, fn, name: str | None = None, before_retry=None):
        return with_retries(
            fn,
            translate=lambda e: self._translate(e, name),
            options=self.options,
            location=self.location,
            operation=operation,
            before_retry=before_retry,
        )

    def _check_bucket(self) -> None:
        if self._bucket_checked:
            return
        self._call("check", lambda: self._client.head_bucket(Bucket=self.bucket))
        self._bucket_checked = True

    def _head(self, name: str) -> dict[str, Any] | None:
        key = self._key(name)

        def head():
            try:
                return self._client.head_object(Bucket=self.bucket, Key=key)
            except botocore.exceptions.ClientError as e:
                status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                if status == 404:
                    return None
                raise

        found = self._call("size", head, name)
        if found is None:
            try:
                self._check_bucket()
            except StorageError as e:
                if isinstance(e, ObjectNotFoundError):
                    raise self._no_bucket() from None
                raise
        else:
            self._bucket_checked = True
        return found

    # ---- the interface ------------------------------------------------------------

    def size(self, name: str) -> int | None:
        head = self._head(name)
        return None if head is None else int(head["ContentLength"])

    def put(self, name: str, source: BinaryIO, size: int) -> None:
        key = self._key(name)
        if self._head(name) is not None:
            raise ObjectExistsError(_("{name} exists already").format(name=name))
        start = source.tell()
        if size <= self.multipart_threshold:
            self._put_single(name, key, source, start, size)
        else:
            self._put_multipart(name, key, source, start, size)

    def _conditional_args(self) -> dict[str, str]:
        return {"IfNoneMatch": "*"} if self._conditional else {}

    def _exists_answer(self, e: botocore.exceptions.ClientError, name: str, size: int, tried: int):
        """A 412 to our If-None-Match: the name exists. After a retry it may be our own
        earlier try whose answer was lost: the object of our size is taken as ours."""
        if tried > 1 and self.size(name) == size:
            return None
        return ObjectExistsError(_("{name} exists already").format(name=name))

    def _put_single(self, name: str, key: str, source: BinaryIO, start: int, size: int) -> None:
        body = SourceSlice(source, start, size, self._bucket)
        tries = [0]

        def put():
            tries[0] += 1
            body.seek(0)
            try:
                self._client.put_object(
                    Bucket=self.bucket,
                    Key=key,
                    Body=body,
                    ContentLength=size,
                    **self._conditional_args(),
                )
            except botocore.exceptions.ClientError as e:
                status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                code = e.response.get("Error", {}).get("Code")
                if status == 412 or code == "PreconditionFailed":
                    error = self._exists_answer(e, name, size, tries[0])
                    if error is None:
                        return
                    raise error from None
                if status == 501 and self._conditional:
                    self._conditional = False  # the server does not know If-None-Match
                    return put()
                raise

        self._call("put", put, name)

    def _put_multipart(self, name: str, key: str, source: BinaryIO, start: int, size: int) -> None:
        part_size = max(self.part_size, -(-size // 10_000))
        upload_id = self._call(
            "put",
            lambda: self._client.create_multipart_upload(Bucket=self.bucket, Key=key)["UploadId"],
            name,
        )
        try:
            parts = []
            offset = 0
            number = 1
            while offset < size:
                length = min(part_size, size - offset)
                body = SourceSlice(source, start + offset, length, self._bucket)

                def upload(body=body, number=number, length=length):
                    body.seek(0)
                    return self._client.upload_part(
                        Bucket=self.bucket,
                        Key=key,
                        UploadId=upload_id,
                        PartNumber=number,
                        Body=body,
                        ContentLength=length,
                    )["ETag"]

                etag = self._call("put", upload, name)
                parts.append({"ETag": etag, "PartNumber": number})
                offset += length
                number += 1
            tries = [0]

            def complete():
                tries[0] += 1
                try:
                    self._client.complete_multipart_upload(
                        Bucket=self.bucket,
                        Key=key,
                        UploadId=upload_id,
                        MultipartUpload={"Parts": parts},
                        **self._conditional_args(),
                    )
                except botocore.exceptions.ClientError as e:
                    status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                    code = e.response.get("Error", {}).get("Code")
                    if status == 412 or code == "PreconditionFailed":
                        error = self._exists_answer(e, name, size, tries[0])
                        if error is None:
                            return
                        raise error from None
                    if code == "NoSuchUpload" and tries[0] > 1 and self.size(name) == size:
                        return  # completed by the try whose answer was lost
                    if status == 501 and self._conditional:
                        self._conditional = False
                        return complete()
                    raise

            self._call("put", complete, name)
        except BaseException:
            with contextlib.suppress(Exception):
                self._client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            raise

    def replace(self, name: str, data: bytes) -> None:
        import io

        key = self._key(name)
        body = SourceSlice(io.BytesIO(data), 0, len(data), self._bucket)

        def put():
            body.seek(0)
            self._client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentLength=len(data))

        self._call("replace", put, name)

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        key = self._key(name)
        if length is not None and length <= 0:
            if self.size(name) is None:
                raise self._missing(name)
            return b""
        end = "" if length is None else str(offset + length - 1)

        def get():
            try:
                response = self._client.get_object(
                    Bucket=self.bucket, Key=key, Range=f"bytes={offset}-{end}"
                )
            except botocore.exceptions.ClientError as e:
                status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                if status == 416:  # the range starts at or past the end: nothing there
                    return b""
                raise
            with contextlib.closing(response["Body"]) as body:
                data = body.read()
            if response.get("ContentRange") is None and (offset or length is not None):
                # the server ignored the Range: the whole object came
                data = data[offset : None if length is None else offset + length]
            return data

        try:
            data = self._call("get", get, name)
        except ObjectNotFoundError:
            self._check_bucket_for(name)
            raise self._missing(name) from None
        self._bucket_checked = True  # an object came: the bucket is there (no HEAD later)
        return data

    def _check_bucket_for(self, name: str) -> None:
        try:
            self._check_bucket()
        except ObjectNotFoundError:
            raise self._no_bucket() from None

    def _missing(self, name: str) -> ObjectNotFoundError:
        return ObjectNotFoundError(
            _("{name} is missing in {place}").format(name=name, place=self.location)
        )

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        full = self.prefix + prefix
        token: str | None = None
        while True:
            args: dict[str, Any] = {"Bucket": self.bucket, "Prefix": full}
            if token:
                args["ContinuationToken"] = token
            page = self._call("list", lambda args=args: self._client.list_objects_v2(**args))
            self._bucket_checked = True  # listed: the bucket is there
            for item in page.get("Contents", []):
                name = item["Key"][len(self.prefix) :]
                if _listable(name):
                    yield ObjectInfo(name, int(item["Size"]))
            if not page.get("IsTruncated"):
                return
            token = page.get("NextContinuationToken")

    def delete(self, name: str) -> None:
        key = self._key(name)
        self._call("delete", lambda: self._client.delete_object(Bucket=self.bucket, Key=key), name)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._client.close()


def _slim_endpoint_table(session: botocore.session.Session) -> None:
    """Give *session* an endpoint resolver that knows only S3, before the client is made.
    botocore's table of every AWS endpoint (``endpoints.json``: ~300 services, ~7 MB as
    Python objects) would otherwise stay for the whole backup: the client's event handlers
    keep its creator, and the creator keeps the resolver. An S3 client asks the table only
    about S3 (its partition, its regions, its signature versions), so the answers are the
    same. Private parts of botocore: if they change, nothing happens (the whole table is
    used, as before)."""
    with contextlib.suppress(AttributeError, KeyError, TypeError, ValueError):
        from botocore.regions import EndpointResolver

        loader = session.get_component("data_loader")
        endpoints, path = loader.load_data_with_path("endpoints")
        slim = dict(endpoints)
        slim["partitions"] = [
            dict(partition, services={"s3": partition["services"]["s3"]})
            if "s3" in partition.get("services", {})
            else dict(partition, services={})
            for partition in endpoints["partitions"]
        ]
        resolver = EndpointResolver(slim, uses_builtin_data=loader.is_builtin_path(path))
        session._internal_components.register_component("endpoint_resolver", resolver)
        loader._cache.pop(("load_data_with_path", "endpoints"), None)


def _listable(name: str) -> bool:
    """A name the store may have written (and no hidden or foreign one)."""
    try:
        check_name(name)
    except StorageError:
        return False
    return not any(part.startswith(".") for part in name.split("/"))


def _reason(e: BaseException) -> str:
    """A short reason for a transient failure, without addresses or secrets."""
    names = {
        botocore.exceptions.EndpointConnectionError: N_("cannot connect"),
        botocore.exceptions.ConnectTimeoutError: N_("connecting timed out"),
        botocore.exceptions.ReadTimeoutError: N_("no answer in time"),
        botocore.exceptions.ConnectionClosedError: N_("connection dropped"),
    }
    for kind, text in names.items():
        if isinstance(e, kind):
            return text
    return N_("connection dropped") if not isinstance(e, TimeoutError) else N_("timed out")
