"""Errors the client raises: every one carries the API's machine-readable code."""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional


class BasinError(Exception):
    """A problem answered by the API (RFC 9457), or a transport failure (status 0).

    ``code`` is stable (``validation_failed``, ``input_not_found``, ``job_failed``, ...): branch on
    it, never on the message. ``errors`` lists field errors (``path``, ``message``) for 422s.
    """

    def __init__(self, status: int, code: str, detail: str = "", errors: Optional[List[Dict[str, str]]] = None, problem: Optional[Mapping[str, Any]] = None) -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.status = status
        self.code = code
        self.detail = detail
        self.errors = errors or []
        self.problem = dict(problem or {})


class MergeFailed(BasinError):
    """The merge ended ``failed`` (``job_error`` holds the job's own code and message) or ``canceled``."""

    def __init__(self, job: Mapping[str, Any]) -> None:
        error = job.get("error") or {}
        status = job.get("status", "failed")
        code = error.get("code", "job_canceled" if status == "canceled" else "job_failed")
        super().__init__(409, code, error.get("message", f"merge {job.get('id')} was {status}"))
        self.job = dict(job)
        self.job_error = error


class WebhookVerificationError(Exception):
    """A webhook whose signature or timestamp does not verify: answer it 4xx and ignore it."""
