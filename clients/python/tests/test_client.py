"""The client against a running basin stack (edge, runner, S3): test/clients/python.test.ts starts
one and sets BASIN_URL, BASIN_API_KEY, BASIN_WEBHOOK_SECRET, BASIN_EXAMPLE and BASIN_REQUEST."""

from __future__ import annotations

import http.server
import json
import os
import struct
import tempfile
import threading
import unittest
import uuid
from pathlib import Path
from typing import Any, Dict, List

from basin import BasinError, Client, Job, MergeFailed, verify_webhook

ENV = ("BASIN_URL", "BASIN_API_KEY", "BASIN_WEBHOOK_SECRET", "BASIN_EXAMPLE", "BASIN_REQUEST")


class Receiver:
    """A webhook endpoint on loopback that keeps every delivery's exact bytes and headers."""

    def __init__(self) -> None:
        self.received: List[Dict[str, Any]] = []
        self.arrived = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                outer.received.append({"body": body, "headers": dict(self.headers.items())})
                outer.arrived.set()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/basin"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def safetensors_metadata(path: Path) -> Dict[str, str]:
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        meta: Dict[str, str] = json.loads(f.read(n)).get("__metadata__", {})
        return meta


class LiveStack(unittest.TestCase):
    client: Client
    example: Path
    request: Dict[str, Any]

    @classmethod
    def setUpClass(cls) -> None:
        missing = [k for k in ENV if not os.environ.get(k)]
        if missing:
            raise unittest.SkipTest(f"no stack to talk to ({', '.join(missing)} not set): run test/clients/python.test.ts")
        cls.client = Client(os.environ["BASIN_URL"], os.environ["BASIN_API_KEY"], timeout=30)
        cls.example = Path(os.environ["BASIN_EXAMPLE"])
        cls.request = json.loads(os.environ["BASIN_REQUEST"])

    def test_upload_merge_wait_report_weights_webhook(self) -> None:
        receiver = Receiver()
        self.addCleanup(receiver.close)
        # one upload from a path, one from bytes in memory
        models = [
            {"upload": self.client.upload(self.example / "seed1.safetensors")},
            {"upload": self.client.upload((self.example / "seed2.safetensors").read_bytes(), filename="seed2.safetensors")},
        ]
        request = {**self.request, "models": models, "webhook": {"url": receiver.url}}
        key = f"run-{uuid.uuid4()}"
        job = self.client.merge(request, idempotency_key=key)
        self.assertEqual(job["status"], "queued")
        self.assertEqual(self.client.merge(request, idempotency_key=key)["id"], job["id"], "the same key finds the same job")

        seen: List[Job] = []
        done = self.client.wait(job["id"], on_progress=seen.append, poll_seconds=0.2, timeout=300)
        self.assertEqual(done["status"], "succeeded")
        progress = [j["progress"] for j in seen]
        self.assertEqual(progress, sorted(progress), "progress never goes back")
        self.assertEqual(progress[-1], 1)
        for p in progress:
            self.assertEqual(p, round(p, 3), f"progress {p!r} is rounded")
        self.assertIn(job["id"], [j["id"] for j in self.client.list(limit=2)])

        report = self.client.report(job["id"])
        self.assertEqual(set(report["variants"]), {"naive", "aligned", "repaired"})
        reduction = report["reduction"]["alignment"]
        assert reduction is not None
        self.assertGreater(reduction, 0.5)
        self.assertEqual(report["modelNames"], [models[0]["upload"], models[1]["upload"]])
        self.assertTrue(self.client.report_svg(job["id"]).startswith("<svg"))
        html = self.client.report_html(job["id"])
        self.assertIn("<svg", html)
        self.assertIn("Permutation spaces", html)

        with tempfile.TemporaryDirectory() as tmp:
            path = self.client.download_weights(job["id"], Path(tmp) / "out" / "merged.safetensors")
            meta = safetensors_metadata(path)
            self.assertEqual(meta["producer"], "basin")
            self.assertEqual(meta["variant"], "repaired")
            self.assertEqual(os.listdir(path.parent), ["merged.safetensors"], "no temporary file left behind")
        link = self.client.weights_link(job["id"])
        self.assertTrue(link["url"].startswith("http"))

        self.assertTrue(receiver.arrived.wait(120), "the webhook arrived")
        delivery = receiver.received[0]
        event = verify_webhook(os.environ["BASIN_WEBHOOK_SECRET"], delivery["body"], delivery["headers"])
        self.assertEqual(event["type"], "merge.succeeded")
        self.assertEqual(event["data"]["id"], job["id"])

    def test_errors_carry_the_api_code(self) -> None:
        with self.assertRaises(BasinError) as bad:
            self.client.merge({**self.request, "models": [{"upload": "upl_missing1"}, {"upload": "upl_missing2"}], "alignment": {"method": "weight", "maxSteps": 5}})
        self.assertEqual(bad.exception.status, 422)
        self.assertEqual(bad.exception.code, "validation_failed")
        self.assertIn("does not apply", bad.exception.errors[0]["message"])
        with self.assertRaises(BasinError) as missing:
            self.client.get("job_0000000000zzzzzzzzzz")
        self.assertEqual(missing.exception.code, "not_found")
        with self.assertRaises(BasinError) as unauthorized:
            Client(os.environ["BASIN_URL"], "not-a-key").get("job_0000000000zzzzzzzzzz")
        self.assertEqual(unauthorized.exception.code, "unauthorized")

    def test_a_failed_merge_says_why(self) -> None:
        models = [{"upload": self.client.upload(self.example / f"seed{i}.safetensors")} for i in (1, 2)]
        wrong = {**self.request["architecture"], "widths": [64, 64]}
        job = self.client.merge({**self.request, "models": models, "architecture": wrong})
        with self.assertRaises(MergeFailed) as failed:
            self.client.wait(job["id"], poll_seconds=0.2, timeout=120)
        self.assertEqual(failed.exception.code, "shape_mismatch")
        with self.assertRaises(BasinError) as report:
            self.client.report(job["id"])
        self.assertEqual((report.exception.status, report.exception.code), (409, "job_failed"))
        self.assertEqual(report.exception.problem["error"]["code"], "shape_mismatch")


if __name__ == "__main__":
    unittest.main()
