import { Webhook } from 'standardwebhooks';
import type { MergeEvent } from '../contracts/job.ts';
import type { JobStore, OutboxEntry } from '../jobs/store.ts';
import { checkWebhookTarget, TargetRefused } from './addresses.ts';
import type { WebhookConfig } from './config.ts';

export interface WebhookSenderOptions {
  fetch?: typeof fetch;
  lookup?: (host: string) => Promise<{ address: string }[]>;
  random?: () => number;
}

/**
 * The one outbound HTTP call of a webhook: the target check (private addresses refused unless
 * allow-listed), then a POST that does not follow redirects (they could lead where the check refuses).
 */
export async function postWebhook(url: string, headers: Record<string, string>, body: string, config: WebhookConfig, options: WebhookSenderOptions = {}): Promise<Response> {
  await checkWebhookTarget(url, config.allow, options.lookup);
  return (options.fetch ?? fetch)(url, { method: 'POST', redirect: 'manual', headers, body, signal: AbortSignal.timeout(config.timeoutMs) });
}

/**
 * Outbound webhooks (Standard Webhooks) from the transactional outbox: an event row is written in
 * the transaction that ends its job, so it exists exactly when that status has committed. Any runner
 * takes due rows (for a lease of a few timeouts, so one that dies mid-send lets them come due again:
 * at least once), signs with the tenant's secret, retries on any non-2xx answer or network error
 * with exponential backoff and full jitter, and logs every attempt on the job.
 */
export class WebhookSender {
  private timer: NodeJS.Timeout | undefined;
  private pass: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly jobs: JobStore,
    private readonly config: WebhookConfig,
    private readonly options: WebhookSenderOptions = {},
  ) {}

  /** Looks for due webhooks every `pollMs` (and at once). */
  start(pollMs: number): void {
    void this.deliverDue();
    this.timer = setInterval(() => void this.deliverDue(), pollMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.pass;
  }

  /** One pass over what is due; one pass at a time. Resolves with the number of attempts made. */
  deliverDue(): Promise<void> {
    if (this.pass || this.stopped) return this.pass ?? Promise.resolve();
    this.pass = (async () => {
      try {
        for (;;) {
          const due = await this.jobs.claimWebhooks(10, 2 * this.config.timeoutMs + 30_000);
          if (due.length === 0) return;
          await Promise.all(due.map((entry) => this.attempt(entry)));
        }
      } catch (err) {
        console.warn(`basin runner: webhook pass: ${(err as Error).message}`);
      }
    })().finally(() => {
      this.pass = undefined;
    });
    return this.pass;
  }

  /** Delay before attempt `attempt + 1`: base * 2^(attempt-1), capped, times a jitter in [0.5, 1.5). */
  backoff(attempt: number): number {
    const exp = Math.min(this.config.maxDelayMs, this.config.baseDelayMs * 2 ** (attempt - 1));
    return Math.round(exp * (0.5 + (this.options.random ?? Math.random)()));
  }

  private async attempt(entry: OutboxEntry): Promise<void> {
    const record = (status: number | null, error: string | null, retry: boolean) => {
      const nextAttemptAt = retry && entry.attempt < this.config.maxAttempts ? Date.now() + this.backoff(entry.attempt) : null;
      const given = retry && nextAttemptAt === null ? `${error}; gave up after ${entry.attempt} attempts` : error;
      return this.jobs.recordWebhookAttempt(entry, { status, error: given, nextAttemptAt, delivered: status !== null && status < 300 && status >= 200 && !error });
    };
    const secret = this.config.secrets.get(entry.tenant);
    if (!secret) return record(null, `no webhook signing secret is configured for tenant ${entry.tenant} (BASIN_WEBHOOK_SECRETS); not sent`, false);
    const job = await this.jobs.find(entry.tenant, entry.jobId).catch((err: unknown) => err as Error);
    if (!job || job instanceof Error) return record(null, `the job cannot be read: ${job?.message ?? 'gone'}`, false);
    let status: number | null = null;
    try {
      const now = new Date();
      const body = JSON.stringify({ type: entry.event, timestamp: now.toISOString(), data: job } satisfies MergeEvent);
      const res = await postWebhook(entry.url, {
        'content-type': 'application/json',
        'user-agent': 'basin-webhooks/1',
        'webhook-id': entry.messageId,
        'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
        'webhook-signature': new Webhook(secret).sign(entry.messageId, now, body),
      }, body, this.config, this.options);
      await res.body?.cancel().catch(() => {});
      status = res.status;
      if (res.ok) return record(status, null, false);
      return record(status, `receiver answered ${res.status}`, true);
    } catch (err) {
      if (err instanceof TargetRefused) return record(null, `${err.code}: ${err.message}`, false);
      return record(status, (err as Error).message, true);
    }
  }
}
