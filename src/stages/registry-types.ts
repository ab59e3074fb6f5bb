import type { TSchema } from '@sinclair/typebox';
import type { Logger } from 'pino';
import type { Clock, Stage } from '../gateway/stage.js';

/**
 * The documented order of stage phases. A route lists its stages in this order;
 * within one phase, in the order the config gives. See docs/stages.md.
 */
export const PHASES = [
  'blocks',
  'authn',
  'limits',
  'authz',
  'contract',
  'detect',
  'transform',
] as const;
export type Phase = (typeof PHASES)[number];

/** What a stage factory may use: passed explicitly, never global. */
export interface StageDeps {
  readonly clock: Clock;
  readonly log: Logger;
}

/** One kind of stage: its settings schema (checked at load) and its factory. */
export interface StageKind<S = unknown> {
  readonly type: string;
  readonly phase: Phase;
  readonly description: string;
  /** Settings beside `type`, `enabled` and `enforce`; closed, with defaults. */
  readonly settings: TSchema;
  create(settings: S, deps: StageDeps): Stage;
}
