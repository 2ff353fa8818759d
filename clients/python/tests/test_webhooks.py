"""Webhook verification, checked against signatures made by the reference JS library."""

from __future__ import annotations

import json
import os
import time
import unittest

from basin import WebhookVerificationError, verify_webhook
from basin.webhooks import sign

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


class VerifyWebhook(unittest.TestCase):
    def test_signature_from_the_standardwebhooks_library(self) -> None:
        raw = os.environ.get("BASIN_TEST_WEBHOOK_VECTOR")
        if not raw:
            self.skipTest("BASIN_TEST_WEBHOOK_VECTOR not set (test/clients/python.test.ts sets it)")
        v = json.loads(raw)
        headers = {"Webhook-Id": v["id"], "Webhook-Timestamp": str(v["timestamp"]), "Webhook-Signature": v["signature"]}
        event = verify_webhook(v["secret"], v["body"].encode(), headers, now=v["timestamp"])
        self.assertEqual(event, json.loads(v["body"]))
        self.assertEqual(sign(v["secret"], v["id"], v["timestamp"], v["body"]), v["signature"])

    def test_refuses_tampering_staleness_and_other_secrets(self) -> None:
        body = b'{"type":"merge.succeeded","data":{"id":"job_1"}}'
        now = int(time.time())
        headers = {"webhook-id": "msg_1", "webhook-timestamp": str(now), "webhook-signature": sign(SECRET, "msg_1", now, body)}
        self.assertEqual(verify_webhook(SECRET, body, headers)["data"]["id"], "job_1")
        with self.assertRaises(WebhookVerificationError):
            verify_webhook(SECRET, body.replace(b"job_1", b"job_2"), headers)
        with self.assertRaises(WebhookVerificationError):
            verify_webhook("whsec_" + "QUJD" * 8, body, headers)
        with self.assertRaises(WebhookVerificationError):
            verify_webhook(SECRET, body, {**headers, "webhook-id": "msg_2"})
        stale = {**headers, "webhook-timestamp": str(now - 600), "webhook-signature": sign(SECRET, "msg_1", now - 600, body)}
        with self.assertRaisesRegex(WebhookVerificationError, "too old"):
            verify_webhook(SECRET, body, stale)
        with self.assertRaisesRegex(WebhookVerificationError, "missing header webhook-signature"):
            verify_webhook(SECRET, body, {"webhook-id": "msg_1", "webhook-timestamp": str(now)})

    def test_accepts_any_of_several_signatures(self) -> None:
        body = "{}"
        now = int(time.time())
        good = sign(SECRET, "msg_3", now, body)
        headers = {"webhook-id": "msg_3", "webhook-timestamp": str(now), "webhook-signature": f"v1,AAAA {good} v2,xyz"}
        self.assertEqual(verify_webhook(SECRET, body, headers), {})


if __name__ == "__main__":
    unittest.main()
