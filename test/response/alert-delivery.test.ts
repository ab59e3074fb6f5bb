import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/gateway/stage.js';
import { AlertDelivery, signature, type AlertOutcome } from '../../src/response/alert-delivery.js';
import type { Detection } from '../../src/response/detection.js';
import { MemoryClusterState } from '../../src/state/cluster/memory-cluster-state.js';
import {
  startWebhookReceiver,
  verifySignature,
  type WebhookReceiver,
} from '../support/webhook-receiver.js';
import { responseConfig } from './response-config.js';

const log = pino({ level: 'silent' });
const SECRET = 'whsec-test-0123456789';

let receiver: WebhookReceiver;
let cluster: MemoryClusterState;
let n = 0;

beforeAll(async () => {
  receiver = await startWebhookReceiver(SECRET);
});
afterAll(async () => {
  await receiver.close();
});
afterEach(async () => {
  receiver.received.length = 0;
  receiver.failNext.length = 0;
  await cluster?.close();
});

function detection(ip = `203.0.113.${++n}`): Detection {
  return {
    kind: 'brute_force.client',
    severity: 'high',
    subject: { kind: 'ip', value: ip },
    time: Date.now(),
    route: 'login',
    evidence: { failures: 31 },
  };
}

function delivery(hasSecret = true) {
  const secret = hasSecret ? SECRET : undefined;
  cluster = new MemoryClusterState({ clock: systemClock, log });
  return new AlertDelivery({
    cluster,
    clock: systemClock,
    log,
    secrets: { get: (name) => Promise.resolve(name === 'alerts/hook' ? secret : undefined) },
  });
}

function config(over: Record<string, unknown> = {}, format = 'json') {
  return responseConfig({
    webhooks: [{ name: 'hook', url: receiver.url, secret: 'alerts/hook', format }],
    ...over,
  });
}

async function sendAll(
  alerts: AlertDelivery,
  cfg: ReturnType<typeof config>,
  ds: Detection[],
): Promise<AlertOutcome[]> {
  const outcomes: AlertOutcome[] = [];
  for (const d of ds) {
    alerts.send(cfg, d, { playbook: 'page', incident: 'inc_0123456789abcdef' }, (_w, o) =>
      outcomes.push(o),
    );
  }
  await alerts.settled();
  return outcomes;
}

describe('alert delivery to webhooks', () => {
  it('posts the detection as JSON signed over its timestamp and body', async () => {
    const d = detection('203.0.113.200');
    expect(await sendAll(delivery(), config(), [d])).toEqual(['delivered']);
    const [got] = receiver.received;
    expect(got?.verified).toBe(true);
    expect(JSON.parse(got?.body ?? '')).toEqual({
      type: 'portcullis.detection',
      time: new Date(d.time).toISOString(),
      kind: 'brute_force.client',
      severity: 'high',
      subject: { kind: 'ip', value: '203.0.113.200' },
      route: 'login',
      evidence: { failures: 31 },
      incident: 'inc_0123456789abcdef',
      playbook: 'page',
    });
  });

  it('posts a Slack-compatible message when asked to', async () => {
    await sendAll(delivery(), config({}, 'slack'), [detection('203.0.113.201')]);
    const body = JSON.parse(receiver.received[0]?.body ?? '{}') as { text?: string };
    expect(body.text).toContain('brute_force.client (high) from ip 203.0.113.201 on route login');
    expect(receiver.received[0]?.verified).toBe(true);
  });

  it.each([
    ['a different secret', (h: string, b: string) => verifySignature('other', h, b, Date.now())],
    ['a changed body', (h: string, b: string) => verifySignature(SECRET, h, `${b} `, Date.now())],
    [
      'a replay ten minutes later',
      (h: string, b: string) => verifySignature(SECRET, h, b, Date.now() + 600_000),
    ],
  ])('has a signature that fails verification with %s', (_name, verify) => {
    const body = '{"kind":"x"}';
    const header = signature(SECRET, Math.floor(Date.now() / 1000), body);
    expect(verifySignature(SECRET, header, body, Date.now())).toBe(true);
    expect(verify(header, body)).toBe(false);
  });

  it('retries with backoff until the receiver takes it', async () => {
    receiver.failNext.push(500, 503);
    expect(await sendAll(delivery(), config(), [detection()])).toEqual(['delivered']);
    expect(receiver.received).toHaveLength(3);
    expect(receiver.received.every((r) => r.verified)).toBe(true);
  });

  it('gives up after its attempts and says so', async () => {
    receiver.failNext.push(500, 500, 500);
    const cfg = config({ alerting: { attempts: 2 } });
    expect(await sendAll(delivery(), cfg, [detection()])).toEqual(['failed']);
    expect(receiver.received).toHaveLength(2);
  });

  it('sends one alert per kind and subject within the dedupe time', async () => {
    const d = detection();
    const outcomes = await sendAll(delivery(), config(), [
      d,
      d,
      { ...d, evidence: { failures: 90 } },
    ]);
    expect(outcomes.sort()).toEqual(['deduplicated', 'deduplicated', 'delivered']);
    expect(receiver.received).toHaveLength(1);
  });

  it('drops alerts beyond the webhook’s rate', async () => {
    const outcomes = await sendAll(delivery(), config({ alerting: { maxPerMinute: 2 } }), [
      detection(),
      detection(),
      detection(),
      detection(),
    ]);
    expect(outcomes.filter((o) => o === 'delivered')).toHaveLength(2);
    expect(outcomes.filter((o) => o === 'rate_limited')).toHaveLength(2);
    expect(receiver.received).toHaveLength(2);
  });

  it('never sends an unsigned alert when the secret is missing', async () => {
    expect(await sendAll(delivery(false), config(), [detection()])).toEqual(['failed']);
    expect(receiver.received).toEqual([]);
  });

  it('does not wait for the receiver: send returns at once', async () => {
    receiver.failNext.push(500);
    const alerts = delivery();
    const started = performance.now();
    alerts.send(config(), detection(), { playbook: 'p', incident: '' }, () => undefined);
    expect(performance.now() - started).toBeLessThan(50);
    await alerts.settled();
    expect(receiver.received).toHaveLength(2);
  });
});
