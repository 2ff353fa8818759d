"""The API's JSON shapes as TypedDicts (openapi.yaml is the full contract)."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

try:  # Python 3.11+
    from typing import NotRequired, TypedDict
except ImportError:  # pragma: no cover - older Pythons read them as plain keys
    from typing import TypedDict

    NotRequired = Optional  # type: ignore[assignment,misc]


class JobError(TypedDict):
    code: str
    message: str


class JobLinks(TypedDict):
    self: str
    report: NotRequired[str]
    reportSvg: NotRequired[str]
    reportHtml: NotRequired[str]
    weights: NotRequired[str]


class Job(TypedDict):
    id: str
    tenant: str
    status: str  # queued | running | succeeded | failed | canceled
    stage: Optional[str]
    progress: float
    createdAt: str
    updatedAt: str
    heartbeatAt: Optional[str]
    error: Optional[JobError]
    result: JobLinks
    requestHash: str
    attempts: int
    deliveries: List[Dict[str, Any]]


class JobList(TypedDict):
    items: List[Job]
    nextCursor: Optional[str]


class Upload(TypedDict):
    id: str
    url: str
    method: str
    headers: Dict[str, str]
    expiresAt: str


class WeightsLink(TypedDict):
    url: str
    expiresAt: str


class Barrier(TypedDict):
    mid: float
    max: float
    argmax: float


class VariantReport(TypedDict):
    loss: List[float]
    accuracy: List[float]
    barrier: Dict[str, Barrier]  # "loss", "accuracy"
    method: NotRequired[str]


class Report(TypedDict):
    alphas: List[float]
    variants: Dict[str, VariantReport]  # naive, aligned, repaired
    reduction: Dict[str, Optional[float]]
    alignment: Dict[str, Any]
    timings: Dict[str, float]
    backend: str
    merged: Dict[str, Any]
    models: int
    evaluation: Dict[str, Any]
    unusedTensors: List[str]
    warnings: List[str]
    siteIssues: List[Dict[str, Any]]
