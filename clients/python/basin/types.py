"""The API's JSON shapes as TypedDicts (openapi.yaml is the full contract)."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, TypedDict


class JobError(TypedDict):
    code: str
    message: str


class _ResultLinks(TypedDict, total=False):
    """Present once the job succeeded."""

    report: str
    reportSvg: str
    reportHtml: str
    weights: str


class JobLinks(_ResultLinks):
    self: str


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


class _Correction(TypedDict, total=False):
    method: str  # repaired variant: "repair" or "reset"


class VariantReport(_Correction):
    loss: List[float]
    accuracy: List[float]
    barrier: Dict[str, Barrier]  # "loss", "accuracy"


class _ReportNames(TypedDict, total=False):
    modelNames: List[str]  # a short name per model (file, object or upload id)


class Report(_ReportNames):
    alphas: List[float]
    variants: Dict[str, VariantReport]  # naive, aligned, repaired
    reduction: Dict[str, Optional[float]]
    alignment: Dict[str, Any]
    timings: Dict[str, float]
    backend: str
    merged: Dict[str, Any]
    models: int
    evaluation: Dict[str, Any]  # samples, calibrationSamples, dataset, calibrationDataset
    unusedTensors: List[str]
    warnings: List[str]
    siteIssues: List[Dict[str, Any]]
