import { Webhook } from 'standardwebhooks';
import type { MergeEvent } from '../contracts/job.ts';
import type { JobStore, OutboxEntry } from '../jobs/store.ts';
import type { Outbound } from '../storage/outbound/client.ts';
import { OutboundError } from '../storage/outbound/errors.ts';
import { nodeOutbound } from '../storage/outbound/node.ts';
import type { WebhookConfig } from './config.ts';

export interface WebhookSenderOptions {
  /** default: the Node guard with the configured policy */
  outbound?: Outbound;
  random?: () => number;
}

/**
 * The one outbound HTTP call of a webhook, through the outbound guard: a receiver that is not
 * public (unless allow-listed) is refused before any connection, and redirects are not followed (a
 * 3xx is an answer like any other non-2xx). Resolves with the receiver's status; throws OutboundError.
 */
export async function postWebhook(outbound: Outbound, url: string, headers: Record<string, string>, body: string, timeoutMs: number): Promise<number> {
  const res = await outbound(url, { method: 'POST', headers, body, timeoutMs });
  res.discard();
  return res.status;
}

/**
 * Outbound webhooks (Standard Webhooks) from the transactional outbox: an event row is written in
 * the transaction that ends its job, so it exists exactly when that status has committed. Any runner
 * takes due rows (for a lease of a few timeouts, so one that dies mid-send lets them come due again:
 * at least once), signs with the tenant's secret, retries on any non-2xx answer or network error
 * with exponential backoff (jitter x0.5-1.5), and logs every attempt on the job. A receiver the
 * outbound guard refuses is logged (`webhook_target_refused`) and not tried again.
 */
export class WebhookSender {
  private timer: NodeJS.Timeout | undefined;
  private pass: Promise<void> | undefined;
  private stopped = false;
  private readonly outbound: Outbound;

  constructor(
    private readonly jobs: JobStore,
    private readonly config: WebhookConfig,
    private readonly options: WebhookSenderOptions = {},
  ) {
    this.outbound = options.outbound ?? nodeOutbound(config.outbound);
  }

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
    const now = new Date();
    const body = JSON.stringify({ type: entry.event, timestamp: now.toISOString(), data: job } satisfies MergeEvent);
    let status: number;
    try {
      status = await postWebhook(this.outbound, entry.url, {
        'content-type': 'application/json',
        'user-agent': 'basin-webhooks/1',
        'webhook-id': entry.messageId,
        'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
        'webhook-signature': new Webhook(secret).sign(entry.messageId, now, body),
      }, body, this.config.timeoutMs);
    } catch (err) {
      if (!(err instanceof OutboundError)) throw err;
      if (err.kind === 'refused') return record(null, `webhook_target_refused: ${err.message}`, false);
      return record(null, `webhook_unreachable: ${err.message}`, true); // our words, never the network stack's
    }
    if (status >= 200 && status < 300) return record(status, null, false);
    return record(status, `receiver answered ${status}`, true);
  }
}
