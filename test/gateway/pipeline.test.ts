import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { denyChannel, type DenyEvent } from '../../src/gateway/events.js';
import {
  runRequestStages,
  runResponseStages,
  type PipelineResult,
  type RouteStage,
} from '../../src/gateway/pipeline.js';
import type { Denial } from '../../src/gateway/problems.js';
import {
  ALLOW,
  deny,
  systemClock,
  type RequestContext,
  type Stage,
  type Verdict,
} from '../../src/gateway/stage.js';

const FORBIDDEN: Denial = { kind: 'forbidden', reason: 'test.denied', detail: 'No.' };

let events: DenyEvent[];
let logLines: Record<string, unknown>[];
const onDeny = (message: unknown): void => {
  events.push(message as DenyEvent);
};

beforeEach(() => {
  events = [];
  logLines = [];
  denyChannel.subscribe(onDeny);
});

afterEach(() => {
  denyChannel.unsubscribe(onDeny);
});

function context(method = 'GET'): RequestContext {
  const log = pino(
    { level: 'info' },
    { write: (line: string) => void logLines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  return {
    id: 'req-0001',
    method,
    path: '/accounts/acc_1',
    query: '',
    params: {},
    clientIp: '192.0.2.10',
    scheme: 'http',
    host: 'gateway.test',
    route: { name: 'accounts', upstream: 'demo' },
    headers: {},
    clock: systemClock,
    log,
    raw: new IncomingMessage(new Socket()),
    onFinished: () => undefined,
    readJsonBody: () => Promise.resolve(undefined),
    readBodyBytes: () => Promise.resolve(undefined),
  };
}

/** A stage that records that it ran, then answers `answer()`. */
function stage(
  type: string,
  answer: () => Verdict | Promise<Verdict>,
  ran: string[],
  flags: { enforce?: boolean; skipForOptions?: boolean } = {},
): RouteStage {
  const s: Stage = {
    name: type,
    onRequest: () => {
      ran.push(type);
      return answer();
    },
  };
  return {
    stage: s,
    type,
    enforce: flags.enforce ?? true,
    skipForOptions: flags.skipForOptions ?? false,
  };
}

async function settle(result: PipelineResult | Promise<PipelineResult>): Promise<PipelineResult> {
  return result;
}

describe('runRequestStages fails closed', () => {
  it.each([
    {
      how: 'throws',
      answer: (): Verdict => {
        throw new Error('boom: secret-db-password');
      },
    },
    {
      how: 'rejects',
      answer: (): Promise<Verdict> => Promise.reject(new Error('boom: secret-db-password')),
    },
    {
      how: 'rejects after an await',
      answer: async (): Promise<Verdict> => {
        await new Promise((resolve) => setTimeout(resolve, 1));
        throw new TypeError('cannot read properties of undefined');
      },
    },
  ])('refuses with 500 pipeline.stage_threw when a stage $how', async ({ answer }) => {
    const ran: string[] = [];
    const stages = [
      stage('first', () => ALLOW, ran),
      stage('broken', answer, ran),
      stage('after', () => ALLOW, ran),
    ];

    const result = await settle(runRequestStages(stages, context()));

    expect(result).toEqual({
      ok: false,
      stage: 'broken',
      denial: expect.objectContaining({
        kind: 'internal-error',
        reason: 'pipeline.stage_threw',
      }) as Denial,
    });
    expect(ran).toEqual(['first', 'broken']);
    expect(events).toEqual([
      expect.objectContaining({
        requestId: 'req-0001',
        reason: 'pipeline.stage_threw',
        status: 500,
        enforced: true,
        stage: 'broken',
        route: 'accounts',
      }),
    ]);
    // The operator gets the error with the request ID; the client only the fixed problem.
    expect(logLines).toEqual([
      expect.objectContaining({ level: 50, requestId: 'req-0001', stage: 'broken' }),
    ]);
    if (!result.ok) expect(JSON.stringify(result.denial)).not.toMatch(/boom|secret|undefined/);
  });
});

describe('runRequestStages shadow mode', () => {
  it.each([
    { enforce: true, ok: false, ran: ['limits'], event: true },
    { enforce: false, ok: true, ran: ['limits', 'after'], event: false },
  ])(
    'a denial with enforce: $enforce lets the request through: $ok',
    async ({ enforce, ok, ran: expectedRan }) => {
      const ran: string[] = [];
      const stages = [
        stage('limits', () => deny(FORBIDDEN), ran, { enforce }),
        stage('after', () => ALLOW, ran),
      ];

      const result = await settle(runRequestStages(stages, context()));

      expect(result.ok).toBe(ok);
      expect(ran).toEqual(expectedRan);
      // Decided and recorded either way; `enforced` tells the trail which one it was.
      expect(events).toEqual([
        expect.objectContaining({
          reason: 'test.denied',
          status: 403,
          enforced: enforce,
          stage: 'limits',
        }),
      ]);
    },
  );
});

describe('runRequestStages and OPTIONS', () => {
  it.each([
    { method: 'OPTIONS', ok: true, ran: ['audit'] },
    { method: 'GET', ok: false, ran: ['authn'] },
  ])(
    '$method skips only the stages listed in preflight.skipStages',
    async ({ method, ok, ran: expected }) => {
      const ran: string[] = [];
      const stages = [
        stage('authn', () => deny(FORBIDDEN), ran, { skipForOptions: true }),
        stage('audit', () => ALLOW, ran),
      ];

      const result = await settle(runRequestStages(stages, context(method)));

      expect(result.ok).toBe(ok);
      expect(ran).toEqual(expected);
    },
  );

  it('still refuses an OPTIONS request in a stage that is not listed', async () => {
    const ran: string[] = [];
    const stages = [
      stage('authn', () => ALLOW, ran, { skipForOptions: true }),
      stage('blocks', () => deny(FORBIDDEN), ran),
    ];

    const result = await settle(runRequestStages(stages, context('OPTIONS')));

    expect(result).toMatchObject({ ok: false, stage: 'blocks', denial: FORBIDDEN });
    expect(ran).toEqual(['blocks']);
    expect(events).toEqual([expect.objectContaining({ reason: 'test.denied', enforced: true })]);
  });
});

describe('runRequestStages changes and synchrony', () => {
  it('stays synchronous while every stage answers synchronously', () => {
    const ran: string[] = [];
    const result = runRequestStages(
      [
        stage('a', () => ({ continue: true, change: { setHeaders: { 'x-a': '1' } } }), ran),
        stage('b', () => ALLOW, ran),
      ],
      context(),
    );

    expect(result).not.toBeInstanceOf(Promise);
    expect(result).toEqual({ ok: true, changes: [{ setHeaders: { 'x-a': '1' } }] });
  });

  it('keeps the changes of every stage, in order, across an async stage', async () => {
    const ran: string[] = [];
    const result = runRequestStages(
      [
        stage('a', () => ({ continue: true, change: { setHeaders: { 'x-a': '1' } } }), ran),
        stage(
          'b',
          () => Promise.resolve({ continue: true, change: { removeHeaders: ['x-b'] } }),
          ran,
        ),
        stage('c', () => ({ continue: true, change: { setHeaders: { 'x-c': '3' } } }), ran),
      ],
      context(),
    );

    expect(result).toBeInstanceOf(Promise);
    expect(await result).toEqual({
      ok: true,
      changes: [
        { setHeaders: { 'x-a': '1' } },
        { removeHeaders: ['x-b'] },
        { setHeaders: { 'x-c': '3' } },
      ],
    });
  });
});

describe('runResponseStages fails closed', () => {
  it('refuses with 502 pipeline.response_stage_threw when a response stage throws', async () => {
    const ran: string[] = [];
    const broken: RouteStage = {
      stage: {
        name: 'broken',
        onRequest: () => ALLOW,
        onResponse: () => {
          ran.push('broken');
          throw new Error('boom');
        },
      },
      type: 'broken',
      enforce: true,
      skipForOptions: false,
    };
    const outer: RouteStage = {
      stage: {
        name: 'outer',
        onRequest: () => ALLOW,
        onResponse: () => {
          ran.push('outer');
          return { continue: true };
        },
      },
      type: 'outer',
      enforce: true,
      skipForOptions: false,
    };

    // Response stages run in reverse: `broken` (last on the way in) is first on the way out.
    const result = await runResponseStages([outer, broken], context(), {
      statusCode: 200,
      headers: {},
    });

    expect(result).toMatchObject({
      ok: false,
      stage: 'broken',
      denial: { kind: 'bad-gateway', reason: 'pipeline.response_stage_threw' },
    });
    expect(ran).toEqual(['broken']);
    expect(events).toEqual([
      expect.objectContaining({
        reason: 'pipeline.response_stage_threw',
        status: 502,
        enforced: true,
      }),
    ]);
  });
});
