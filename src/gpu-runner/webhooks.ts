import { Webhook } from 'standardwebhooks';
import { z } from 'zod';
import { JobId, terminalStatuses, type MergeEvent, type WebhookDelivery } from '../contracts/job.ts';
import { isKeySegment, keys } from '../storage/keys.ts';
import type { Outbound } from '../storage/outbound/client.ts';
import { OutboundError } from '../storage/outbound/errors.ts';
import { nodeOutbound } from '../storage/outbound/node.ts';
import type { BlobStore } from '../storage/store.ts';
import type { WebhookConfig } from './config.ts';
import { JobDocument } from './jobDocument.ts';

type EventType = MergeEvent['type'];

/** An undelivered webhook, kept in S3 until delivered or given up, so a runner crash loses none. */
const Pending = z.object({
  tenant: z.string().refine(isKeySegment),
  jobId: JobId,
  event: z.enum(['merge.succeeded', 'merge.failed']),
  url: z.string(),
  /** the `webhook-id`: one per event, the same on every retry, so receivers can deduplicate */
  messageId: z.string(),
  attempt: z.number().int().min(1),
  dueAt: z.number(),
});
type Pending = z.infer<typeof Pending>;

export interface WebhookSenderOptions {
  /** default: the Node guard with the configured policy */
  outbound?: Outbound;
  random?: () => number;
}

/**
 * Outbound webhooks (Standard Webhooks): signed with the tenant's secret, retried with exponential
 * backoff and full jitter on any non-2xx answer or network error, every attempt logged on the job.
 * Receivers are reached through the outbound guard: a target that is not public (unless
 * allow-listed) is refused, logged and not retried; redirects are not followed.
 */
export class WebhookSender {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly running = new Set<string>();
  private stopped = false;

  private readonly outbound: Outbound;

  constructor(
    private readonly store: BlobStore,
    private readonly config: WebhookConfig,
    private readonly options: WebhookSenderOptions = {},
  ) {
    this.outbound = options.outbound ?? nodeOutbound(config.outbound);
  }

  /** Records the event as owed. Call before the job's final status is written. */
  async record(tenant: string, jobId: string, event: EventType, url: string): Promise<void> {
    const pending: Pending = { tenant, jobId, event, url, messageId: `msg_${jobId}_${event.split('.')[1]}`, attempt: 1, dueAt: Date.now() };
    await this.store.putJson(keys.pendingWebhook(jobId), pending);
  }

  /** Starts delivering a recorded event now (after the final status is written). */
  async start(jobId: string): Promise<void> {
    const p = await this.read(keys.pendingWebhook(jobId));
    if (p) this.schedule(p);
  }

  /** Picks up owed events (after a restart): each at its due time. */
  async resume(): Promise<number> {
    let cursor: string | undefined;
    let n = 0;
    do {
      const page = await this.store.list(keys.pendingWebhooks(), { cursor });
      for (const obj of page.objects) {
        const p = await this.read(obj.key);
        if (p && !this.timers.has(p.jobId) && !this.running.has(p.jobId)) { this.schedule(p); n++; }
      }
      cursor = page.cursor;
    } while (cursor);
    return n;
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  /** Resolves once nothing is scheduled or in flight (tests). */
  async settled(): Promise<void> {
    while (this.timers.size || this.running.size) await new Promise((r) => setTimeout(r, 20));
  }

  private async read(key: string): Promise<Pending | undefined> {
    const raw = await this.store.getJson(key).catch(() => undefined);
    const p = Pending.safeParse(raw);
    if (!p.success) {
      if (raw !== undefined) await this.store.delete(key);
      return undefined;
    }
    return p.data;
  }

  private schedule(p: Pending): void {
    if (this.stopped) return;
    clearTimeout(this.timers.get(p.jobId));
    const timer = setTimeout(() => {
      this.timers.delete(p.jobId);
      this.running.add(p.jobId);
      this.attempt(p)
        .catch((err: unknown) => {
          // S3 trouble while logging: the marker is still there, so the next scan retries
          console.error(`basin runner: webhook for ${p.jobId}: ${(err as Error).message}`);
        })
        .finally(() => this.running.delete(p.jobId));
    }, Math.max(0, p.dueAt - Date.now()));
    timer.unref?.();
    this.timers.set(p.jobId, timer);
  }

  /** Delay before attempt `attempt + 1`: base * 2^(attempt-1), capped, times a jitter in [0.5, 1.5). */
  backoff(attempt: number): number {
    const exp = Math.min(this.config.maxDelayMs, this.config.baseDelayMs * 2 ** (attempt - 1));
    return Math.round(exp * (0.5 + (this.options.random ?? Math.random)()));
  }

  private async attempt(p: Pending): Promise<void> {
    const doc = new JobDocument(this.store, p.tenant, p.jobId);
    const current = await doc.read();
    const done = () => this.store.delete(keys.pendingWebhook(p.jobId));
    if (!current) return done();
    // recorded just before the job's final status: that write has not landed yet, and the runner
    // finishing the job starts this delivery itself (or the next scan does)
    if (!terminalStatuses.includes(current.job.status)) return;
    const log = (status: number | null, error: string | null, nextAttemptAt: number | null) =>
      doc.appendDelivery({
        event: p.event, id: p.messageId, attempt: p.attempt, at: new Date().toISOString(), status,
        error: error?.slice(0, 1000) ?? null, nextAttemptAt: nextAttemptAt === null ? null : new Date(nextAttemptAt).toISOString(),
      } satisfies WebhookDelivery);

    const secret = this.config.secrets.get(p.tenant);
    if (!secret) {
      await log(null, `no webhook signing secret is configured for tenant ${p.tenant} (BASIN_WEBHOOK_SECRETS); not sent`, null);
      return done();
    }
    let status: number | null = null;
    let error: string | null = null;
    try {
      const now = new Date();
      const event: MergeEvent = { type: p.event, timestamp: now.toISOString(), data: current.job };
      const body = JSON.stringify(event);
      // redirects are not followed: a 3xx is an answer like any other non-2xx
      const res = await this.outbound(p.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'basin-webhooks/1',
          'webhook-id': p.messageId,
          'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
          'webhook-signature': new Webhook(secret).sign(p.messageId, now, body),
        },
        body,
        timeoutMs: this.config.timeoutMs,
      });
      res.discard();
      status = res.status;
      if (status >= 200 && status < 300) {
        await log(status, null, null);
        return done();
      }
      error = `receiver answered ${res.status}`;
    } catch (err) {
      if (!(err instanceof OutboundError)) throw err;
      if (err.kind === 'refused') {
        await log(null, `webhook_target_refused: ${err.message}`, null);
        return done();
      }
      error = `webhook_unreachable: ${err.message}`; // our words, never the network stack's
    }
    if (p.attempt >= this.config.maxAttempts) {
      await log(status, `${error}; gave up after ${p.attempt} attempts`, null);
      return done();
    }
    const next: Pending = { ...p, attempt: p.attempt + 1, dueAt: Date.now() + this.backoff(p.attempt) };
    await this.store.putJson(keys.pendingWebhook(p.jobId), next);
    await log(status, error, next.dueAt);
    this.schedule(next);
  }
}
