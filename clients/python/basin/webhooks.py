"""Standard Webhooks verification (https://www.standardwebhooks.com), standard library only.

basin signs every outbound event with the tenant's secret: ``webhook-signature`` holds
``v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">`` (several, space-separated,
while a secret is rotated).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any, Mapping, Optional, Union

from .errors import WebhookVerificationError

#: How far a webhook's timestamp may be from now, in seconds (replays older than this are refused).
TOLERANCE_SECONDS = 5 * 60


def _secret_bytes(secret: str) -> bytes:
    if secret.startswith("whsec_"):
        secret = secret[len("whsec_"):]
    try:
        return base64.b64decode(secret, validate=True)
    except (ValueError, TypeError) as e:
        raise ValueError("webhook secret: expected whsec_<base64>") from e


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    raise WebhookVerificationError(f"missing header {name}")


def sign(secret: str, msg_id: str, timestamp: int, body: Union[bytes, str]) -> str:
    """The ``webhook-signature`` value for a payload (for tests and for forwarding)."""
    payload = body if isinstance(body, bytes) else body.encode("utf-8")
    signed = f"{msg_id}.{timestamp}.".encode("utf-8") + payload
    digest = hmac.new(_secret_bytes(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def verify_webhook(secret: str, body: Union[bytes, str], headers: Mapping[str, str], *, tolerance: int = TOLERANCE_SECONDS, now: Optional[float] = None) -> Any:
    """Verify a delivery and return its parsed JSON body (a ``MergeEvent``: ``type``, ``timestamp``, ``data``).

    ``body`` must be the exact bytes received (verify before parsing). Raises
    ``WebhookVerificationError`` for a missing or wrong signature, or a timestamp more than
    ``tolerance`` seconds away from now.
    """
    msg_id = _header(headers, "webhook-id")
    stamp = _header(headers, "webhook-timestamp")
    try:
        timestamp = int(stamp)
    except ValueError as e:
        raise WebhookVerificationError("webhook-timestamp is not an integer") from e
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise WebhookVerificationError("webhook-timestamp is too old or in the future")
    expected = sign(secret, msg_id, timestamp, body).split(",", 1)[1]
    for candidate in _header(headers, "webhook-signature").split():
        version, _, signature = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(signature, expected):
            return json.loads(body)
    raise WebhookVerificationError("no matching signature")
