import type { Denial } from './problems.js';
import type {
  RequestChange,
  RequestContext,
  ResponseChange,
  ResponseVerdict,
  Stage,
  UpstreamResponse,
  Verdict,
} from './stage.js';
import { publishRefusal } from './events.js';

/** A stage as a route runs it: built once at load with its flags. */
export interface RouteStage {
  readonly stage: Stage;
  readonly type: string;
  /** false = shadow mode: the stage decides and its denial is recorded, but the request goes on. */
  readonly enforce: boolean;
  /** true when the route's `preflight.skipStages` names this stage's type. */
  readonly skipForOptions: boolean;
}

/** The result of running a route's request stages: either the changes to apply, or a refusal. */
export type PipelineResult =
  | { readonly ok: true; readonly changes: readonly RequestChange[] }
  | { readonly ok: false; readonly denial: Denial; readonly stage: string };

const NO_CHANGES: readonly RequestChange[] = Object.freeze([]);
const OK_NO_CHANGES: PipelineResult = Object.freeze({ ok: true, changes: NO_CHANGES });

const THREW: Denial = Object.freeze({
  kind: 'internal-error',
  reason: 'pipeline.stage_threw',
  detail: 'The request could not be checked.',
});

function isPromise<T>(v: T | Promise<T>): v is Promise<T> {
  return typeof (v as { then?: unknown }).then === 'function';
}

function recordDenial(
  ctx: RequestContext,
  stage: RouteStage,
  denial: Denial,
  enforced: boolean,
): void {
  publishRefusal(ctx, stage.type, denial, enforced);
}

/**
 * Runs the request stages in order. Stays synchronous while every stage answers synchronously
 * (no promise per request on the hot path); a stage that throws or rejects fails closed.
 */
export function runRequestStages(
  stages: readonly RouteStage[],
  ctx: RequestContext,
): PipelineResult | Promise<PipelineResult> {
  if (stages.length === 0) return OK_NO_CHANGES;
  return step(stages, ctx, 0, NO_CHANGES);
}

function step(
  stages: readonly RouteStage[],
  ctx: RequestContext,
  from: number,
  changesIn: readonly RequestChange[],
): PipelineResult | Promise<PipelineResult> {
  let changes = changesIn;
  const isOptions = ctx.method === 'OPTIONS';
  for (let i = from; i < stages.length; i++) {
    const rs = stages[i] as RouteStage;
    if (isOptions && rs.skipForOptions) continue;
    let verdict: Verdict | Promise<Verdict>;
    try {
      verdict = rs.stage.onRequest(ctx);
    } catch (err) {
      return failClosed(ctx, rs, err);
    }
    if (isPromise(verdict)) {
      const seen = changes;
      return verdict.then(
        (v) => {
          const out = apply(ctx, rs, v, seen);
          if (out.ok === false) return out;
          return step(stages, ctx, i + 1, out.changes);
        },
        (err: unknown) => failClosed(ctx, rs, err),
      );
    }
    const out = apply(ctx, rs, verdict, changes);
    if (out.ok === false) return out;
    changes = out.changes;
  }
  return changes === NO_CHANGES ? OK_NO_CHANGES : { ok: true, changes };
}

function apply(
  ctx: RequestContext,
  rs: RouteStage,
  verdict: Verdict,
  changes: readonly RequestChange[],
): PipelineResult {
  if (verdict.continue) {
    if (verdict.change === undefined) return { ok: true, changes };
    return { ok: true, changes: [...changes, verdict.change] };
  }
  recordDenial(ctx, rs, verdict.problem, rs.enforce);
  if (!rs.enforce) return { ok: true, changes };
  return { ok: false, denial: verdict.problem, stage: rs.type };
}

function failClosed(ctx: RequestContext, rs: RouteStage, err: unknown): PipelineResult {
  ctx.log.error({ err, requestId: ctx.id, stage: rs.type }, 'stage failed; request refused');
  recordDenial(ctx, rs, THREW, true);
  return { ok: false, denial: THREW, stage: rs.type };
}

export type ResponseResult =
  | { readonly ok: true; readonly changes: readonly ResponseChange[] }
  | { readonly ok: false; readonly denial: Denial; readonly stage: string };

const RESPONSE_THREW: Denial = Object.freeze({
  kind: 'bad-gateway',
  reason: 'pipeline.response_stage_threw',
  detail: 'The response could not be checked.',
});

/**
 * Runs the response stages in reverse order of the request stages (the onion model), staying
 * synchronous while every stage answers synchronously.
 */
export function runResponseStages(
  stages: readonly RouteStage[],
  ctx: RequestContext,
  res: UpstreamResponse,
): ResponseResult | Promise<ResponseResult> {
  return responseStep(stages, ctx, res, stages.length - 1, []);
}

function responseStep(
  stages: readonly RouteStage[],
  ctx: RequestContext,
  res: UpstreamResponse,
  from: number,
  changes: ResponseChange[],
): ResponseResult | Promise<ResponseResult> {
  for (let i = from; i >= 0; i--) {
    const rs = stages[i] as RouteStage;
    if (rs.stage.onResponse === undefined) continue;
    if (ctx.method === 'OPTIONS' && rs.skipForOptions) continue;
    let verdict: ResponseVerdict | Promise<ResponseVerdict>;
    try {
      verdict = rs.stage.onResponse(ctx, res);
    } catch (err) {
      return responseFailed(ctx, rs, err);
    }
    if (isPromise(verdict)) {
      return verdict.then(
        (v) => {
          const out = applyResponse(ctx, rs, v, changes);
          return out ?? responseStep(stages, ctx, res, i - 1, changes);
        },
        (err: unknown) => responseFailed(ctx, rs, err),
      );
    }
    const out = applyResponse(ctx, rs, verdict, changes);
    if (out !== undefined) return out;
  }
  return { ok: true, changes };
}

/** Records a verdict; returns the refusal when the pipeline must stop. */
function applyResponse(
  ctx: RequestContext,
  rs: RouteStage,
  verdict: ResponseVerdict,
  changes: ResponseChange[],
): ResponseResult | undefined {
  if (verdict.continue) {
    if (verdict.change !== undefined) changes.push(verdict.change);
    return undefined;
  }
  recordDenial(ctx, rs, verdict.problem, rs.enforce);
  return rs.enforce ? { ok: false, denial: verdict.problem, stage: rs.type } : undefined;
}

function responseFailed(ctx: RequestContext, rs: RouteStage, err: unknown): ResponseResult {
  ctx.log.error({ err, requestId: ctx.id, stage: rs.type }, 'response stage failed');
  recordDenial(ctx, rs, RESPONSE_THREW, true);
  return { ok: false, denial: RESPONSE_THREW, stage: rs.type };
}
