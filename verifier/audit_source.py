"""Where `govtrust audit` gets what it checks: a govtrust server's public API, or an offline
bundle. Nothing a source returns is trusted; `verifier.audit` verifies all of it.

A `CheckpointSource` gives a trust list and each region's latest checkpoint, and proves
consistency between tree sizes if it can (a bundle cannot: it holds no log). A `LogServer`
is a checkpoint source that also serves the log's entries and the published versions the
log names, which is what a replay needs.
"""

from __future__ import annotations

import base64
import binascii
import json
import urllib.parse
from dataclasses import dataclass
from types import MappingProxyType, TracebackType
from typing import Any, Protocol

from verifier.bundle import RegionMaterial, bundle_material
from verifier.errors import InputError

MAX_ANSWER_BYTES = 16 * 1024 * 1024
DEFAULT_TIMEOUT_SECONDS = 15.0


class SourceUnavailable(Exception):
    """The source gave no usable answer (unreachable, a server error, an unreadable body):
    the audit cannot decide what depends on it."""


class SourceRefused(Exception):
    """The server answered with a client error: it will not give what was asked. For
    something a log must be able to give (an entry its checkpoint covers, a proof up to its
    own tree size, a version its log names), that refusal is itself a disagreement."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class CurrentStatusList:
    number: int | None  # the version number the server states for it, if it does
    token: bytes


class CheckpointSource(Protocol):
    description: str

    def trust_list(self) -> bytes: ...

    def checkpoint(self, region: str) -> bytes | None:
        """The region's latest signed checkpoint; None if there is none yet."""
        ...

    def consistency_proof(self, region: str, first: int, second: int) -> list[bytes] | None:
        """PROOF(first, second) as the log gives it; None if this source cannot prove."""
        ...


class LogServer(CheckpointSource, Protocol):
    def entries(self, region: str, start: int, end: int) -> list[tuple[int, str]]: ...

    def status_list_version(self, region: str, number: int) -> bytes: ...

    def current_status_list(self, region: str) -> CurrentStatusList | None: ...

    def trust_list_version(self, sequence: int) -> bytes: ...


class BundleSource:
    """An offline bundle: its trust list and each region's checkpoint, no proofs."""

    def __init__(self, data: bytes, description: str = "bundle") -> None:
        token, regions = bundle_material(data)
        self.description = description
        self._token = token.encode("ascii", "replace")
        self._regions: MappingProxyType[str, RegionMaterial] = MappingProxyType(dict(regions))

    def trust_list(self) -> bytes:
        return self._token

    def checkpoint(self, region: str) -> bytes | None:
        material = self._regions.get(region)
        if material is None or material.checkpoint is None:
            return None
        return material.checkpoint.encode("utf-8")

    def consistency_proof(self, region: str, first: int, second: int) -> list[bytes] | None:
        return None


class HttpLogServer:
    """A govtrust server's public API over HTTP (httpx, imported only when used). A test may
    pass its own httpx-compatible `client` (for instance an in-process ASGI client)."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        client: Any | None = None,
    ) -> None:
        import httpx

        url = base_url.strip().rstrip("/")
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.hostname or parts.query:
            raise InputError(f"server {base_url!r} is not an http:// or https:// base URL")
        self.description = url
        self._api = f"{url}/api/v1"
        self._httpx = httpx
        self._own_client = client is None
        self._client = client or httpx.Client(
            timeout=timeout, follow_redirects=False, headers={"User-Agent": "govtrust-audit"}
        )
        self._trust_lists: dict[int, bytes] = {}

    def close(self) -> None:
        if self._own_client:
            self._client.close()

    def __enter__(self) -> HttpLogServer:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def trust_list(self) -> bytes:
        return self._get("/trust-list").content

    def trust_list_version(self, sequence: int) -> bytes:
        if sequence not in self._trust_lists:
            self._trust_lists[sequence] = self._get(f"/trust-list/{sequence}").content
        return self._trust_lists[sequence]

    def checkpoint(self, region: str) -> bytes | None:
        try:
            return self._get(f"/log/{region}/checkpoint").content
        except SourceRefused as exc:
            if exc.status == 404:
                return None
            raise

    def consistency_proof(self, region: str, first: int, second: int) -> list[bytes]:
        answer = self._json(f"/log/{region}/proof/consistency", {"first": first, "second": second})
        hashes = answer.get("hashes") if isinstance(answer, dict) else None
        if not isinstance(hashes, list) or not all(isinstance(h, str) for h in hashes):
            raise SourceUnavailable(f"{self.description}: a consistency proof without hashes")
        try:
            return [base64.b64decode(h, validate=True) for h in hashes]
        except binascii.Error:
            raise SourceUnavailable(
                f"{self.description}: a consistency proof hash is not base64"
            ) from None

    def entries(self, region: str, start: int, end: int) -> list[tuple[int, str]]:
        answer = self._json(f"/log/{region}/entries", {"start": start, "end": end})
        if not isinstance(answer, list):
            raise SourceUnavailable(f"{self.description}: log entries are not a JSON list")
        found = []
        for item in answer:
            index = item.get("index") if isinstance(item, dict) else None
            leaf = item.get("leaf") if isinstance(item, dict) else None
            if not isinstance(index, int) or isinstance(index, bool) or not isinstance(leaf, str):
                raise SourceUnavailable(f"{self.description}: a log entry is not {{index, leaf}}")
            found.append((index, leaf))
        return found

    def status_list_version(self, region: str, number: int) -> bytes:
        return self._get(f"/status-lists/{region}/{number}").content

    def current_status_list(self, region: str) -> CurrentStatusList | None:
        try:
            response = self._get(f"/status-lists/{region}")
        except SourceRefused as exc:
            if exc.status == 404:
                return None
            raise
        stated = response.headers.get("X-Status-List-Number", "")
        number = int(stated) if stated.isdigit() else None
        return CurrentStatusList(number, response.content)

    def _json(self, path: str, params: dict[str, int]) -> Any:
        response = self._get(path, params)
        try:
            return json.loads(response.content)
        except ValueError:
            raise SourceUnavailable(f"{self.description}{path}: the answer is not JSON") from None

    def _get(self, path: str, params: dict[str, int] | None = None) -> Any:
        where = f"{self.description}/api/v1{path}"
        try:
            response = self._client.get(f"{self._api}{path}", params=params)
        except self._httpx.HTTPError as exc:
            raise SourceUnavailable(f"{where}: {type(exc).__name__}: {exc}") from None
        if len(response.content) > MAX_ANSWER_BYTES:
            raise SourceUnavailable(f"{where}: the answer is larger than {MAX_ANSWER_BYTES} bytes")
        if 400 <= response.status_code < 500:
            raise SourceRefused(response.status_code, _detail(response))
        if response.status_code != 200:
            raise SourceUnavailable(f"{where}: HTTP {response.status_code}")
        return response


def _detail(response: Any) -> str:
    """The RFC 9457 problem's detail, or the start of the body."""
    try:
        problem = json.loads(response.content)
    except ValueError:
        problem = None
    if isinstance(problem, dict) and isinstance(problem.get("detail"), str):
        return str(problem["detail"])
    return response.content[:200].decode("utf-8", "replace") or "no detail"
