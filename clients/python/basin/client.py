"""The basin HTTP API from Python, standard library only.

    client = Client("http://127.0.0.1:8787", api_key)
    models = [{"upload": client.upload("seed1.safetensors")}, {"upload": client.upload("seed2.safetensors")}]
    job = client.merge({**request, "models": models})
    job = client.wait(job["id"], on_progress=lambda j: print(j["stage"], j["progress"]))
    client.download_weights(job["id"], "merged.safetensors")
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import IO, Any, Callable, Dict, Iterator, Mapping, Optional, Union, cast

from .errors import BasinError, MergeFailed
from .types import Job, JobList, Report, Upload, WeightsLink

__all__ = ["Client"]

TERMINAL = ("succeeded", "failed", "canceled")
#: answers worth trying again: the service says so, or it is briefly unreachable
RETRYABLE = (502, 503, 504)
_CHUNK = 1 << 20


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """The API key must never follow a redirect to another host (presigned URLs need none)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        return None


class Client:
    """One API key on one basin API. Thread-safe: it keeps no state between calls."""

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 60.0, retries: int = 3) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be http(s)://..., got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self._auth = f"Bearer {api_key}"
        self.timeout = timeout
        self.retries = retries
        self._api = urllib.request.build_opener(_NoRedirect())
        self._plain = urllib.request.build_opener()

    # -- transport ---------------------------------------------------------------------------

    def _request(self, method: str, path: str, body: Any = None, headers: Optional[Mapping[str, str]] = None, *, raw: bool = False) -> Any:
        """One API call; JSON in and out. Transient failures (network, 502-504) are retried."""
        data = None if body is None else json.dumps(body).encode("utf-8")
        hdrs = {"authorization": self._auth, "accept": "application/json", **(headers or {})}
        if data is not None:
            hdrs["content-type"] = "application/json"
        for attempt in range(self.retries + 1):
            req = urllib.request.Request(self.base_url + path, data=data, method=method, headers=hdrs)
            try:
                with self._api.open(req, timeout=self.timeout) as res:
                    payload = res.read()
                    return payload.decode("utf-8") if raw else (json.loads(payload) if payload else None)
            except urllib.error.HTTPError as e:
                if e.code in RETRYABLE and attempt < self.retries:
                    time.sleep(min(2 ** attempt, 10))
                    continue
                raise _problem(e) from None
            except (urllib.error.URLError, ConnectionError, TimeoutError) as e:
                if attempt < self.retries:
                    time.sleep(min(2 ** attempt, 10))
                    continue
                raise BasinError(0, "unreachable", f"{method} {self.base_url}{path}: {getattr(e, 'reason', e)}") from e
        raise AssertionError("unreachable")  # the loop returns or raises

    # -- uploads -----------------------------------------------------------------------------

    def upload(self, source: Union[str, "os.PathLike[str]", bytes], *, kind: str = "checkpoint", filename: Optional[str] = None) -> str:
        """Upload a checkpoint or dataset (a path or bytes) through a presigned PUT; returns its upload id.

        Use it in a request as ``{"upload": id}``. The file streams straight to storage, never
        through the API.
        """
        if isinstance(source, bytes):
            size, name = len(source), filename
        else:
            path = Path(source)
            size, name = path.stat().st_size, filename or path.name
        body: Dict[str, Any] = {"size": size, "kind": kind}
        if name:
            body["filename"] = name[:255]
        up: Upload = self._request("POST", "/v1/uploads", body)
        stream: IO[bytes]
        with (io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")) as stream:
            req = urllib.request.Request(up["url"], data=stream, method=up.get("method", "PUT"), headers=dict(up["headers"]))
            try:
                with self._plain.open(req, timeout=self.timeout) as res:
                    res.read()
            except urllib.error.HTTPError as e:
                raise BasinError(e.code, "upload_failed", f"PUT to storage answered {e.code}: {e.read()[:200]!r}") from None
            except urllib.error.URLError as e:
                raise BasinError(0, "unreachable", f"PUT to storage: {e.reason}") from e
        return up["id"]

    # -- merges ------------------------------------------------------------------------------

    def merge(self, request: Mapping[str, Any], *, idempotency_key: Optional[str] = None) -> Job:
        """Start a merge (POST /v1/merges); returns the queued job.

        Always sent with an ``Idempotency-Key`` (a fresh one unless given), so a retry after a lost
        answer finds the same job instead of starting a second merge. Reuse your own key (say, the
        training run's id) to make the call safe to repeat across processes.
        """
        key = idempotency_key or f"py-{uuid.uuid4()}"
        return cast(Job, self._request("POST", "/v1/merges", dict(request), {"idempotency-key": key}))

    def get(self, job_id: str) -> Job:
        """The job: status, stage, progress (0..1), error, result links."""
        return cast(Job, self._request("GET", f"/v1/merges/{_segment(job_id)}"))

    def list(self, *, limit: int = 20) -> Iterator[Job]:
        """Every job of this key's tenant, oldest first, page by page."""
        cursor: Optional[str] = None
        while True:
            query = {"limit": str(limit), **({"cursor": cursor} if cursor else {})}
            page: JobList = self._request("GET", "/v1/merges?" + urllib.parse.urlencode(query))
            yield from page["items"]
            cursor = page["nextCursor"]
            if not cursor:
                return

    def cancel(self, job_id: str) -> Job:
        return cast(Job, self._request("DELETE", f"/v1/merges/{_segment(job_id)}"))

    def wait(self, job_id: str, *, on_progress: Optional[Callable[[Job], None]] = None, poll_seconds: float = 2.0, timeout: Optional[float] = None) -> Job:
        """Poll until the job ends; ``on_progress(job)`` sees every change of stage or progress.

        Returns the succeeded job; raises ``MergeFailed`` (with the job's error code) if it failed
        or was canceled, ``TimeoutError`` after ``timeout`` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        last = None
        while True:
            job = self.get(job_id)
            seen = (job["status"], job["stage"], job["progress"])
            if on_progress and seen != last:
                on_progress(job)
            last = seen
            if job["status"] == "succeeded":
                return job
            if job["status"] in TERMINAL:
                raise MergeFailed(job)
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"merge {job_id} still {job['status']} after {timeout} s")
            time.sleep(poll_seconds)

    # -- results -----------------------------------------------------------------------------

    def report(self, job_id: str) -> Report:
        """The barrier report (``variants``, ``alphas``, ``reduction``, ``alignment``, ...)."""
        return cast(Report, self._request("GET", f"/v1/merges/{_segment(job_id)}/report"))

    def report_svg(self, job_id: str) -> str:
        return cast(str, self._request("GET", f"/v1/merges/{_segment(job_id)}/report.svg", headers={"accept": "image/svg+xml"}, raw=True))

    def report_html(self, job_id: str) -> str:
        """One self-contained page: the plot, the barrier table and the permutation spaces."""
        return cast(str, self._request("GET", f"/v1/merges/{_segment(job_id)}/report.html", headers={"accept": "text/html"}, raw=True))

    def weights_link(self, job_id: str) -> WeightsLink:
        """A presigned URL of the merged safetensors file (no API key needed) and its expiry."""
        return cast(WeightsLink, self._request("GET", f"/v1/merges/{_segment(job_id)}/weights"))

    def download_weights(self, job_id: str, dest: Union[str, "os.PathLike[str]"]) -> Path:
        """Stream the merged safetensors file to ``dest`` (written whole or not at all)."""
        link = self.weights_link(job_id)
        target = Path(dest)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        try:
            with os.fdopen(fd, "wb") as out, self._plain.open(urllib.request.Request(link["url"]), timeout=self.timeout) as res:
                shutil.copyfileobj(res, out, _CHUNK)
            os.replace(tmp, target)
        except urllib.error.HTTPError as e:
            os.unlink(tmp)
            raise BasinError(e.code, "download_failed", f"GET of the presigned URL answered {e.code}") from None
        except BaseException:
            os.unlink(tmp)
            raise
        return target


def _segment(value: str) -> str:
    """An id as one path segment: never lets a value reach another path."""
    return urllib.parse.quote(value, safe="")


def _problem(e: urllib.error.HTTPError) -> BasinError:
    body = e.read()
    try:
        problem = json.loads(body)
    except ValueError:
        problem = None
    if isinstance(problem, dict) and "code" in problem:
        return BasinError(e.code, str(problem["code"]), str(problem.get("detail", problem.get("title", ""))), problem.get("errors"), problem)
    return BasinError(e.code, "http_error", f"HTTP {e.code}: {body[:200]!r}")

