"""Python client of the basin model-merging API (standard library only).

The client (``Client``) uploads checkpoints, starts merges, waits with progress and fetches the
report and the merged weights; ``verify_webhook`` checks basin's signed webhooks. The torch.fx
architecture exporter (``basin.fx``) is the only part that needs torch.
"""

from .client import Client
from .errors import BasinError, MergeFailed, WebhookVerificationError
from .types import Job, JobError, Report, WeightsLink
from .webhooks import verify_webhook

__all__ = ["Client", "BasinError", "MergeFailed", "WebhookVerificationError", "verify_webhook", "Job", "JobError", "Report", "WeightsLink"]
__version__ = "0.1.0"
