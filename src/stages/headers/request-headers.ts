import type { Static } from '@sinclair/typebox';
import type { Stage, Verdict } from '../../gateway/stage.js';
import type { StageKind } from '../registry-types.js';
import { compileHeaderChange, HeaderChangeSettings } from './header-changes.js';

type Settings = Static<typeof HeaderChangeSettings>;

/**
 * Sets and removes headers on the request to the upstream. Headers the gateway owns
 * (X-Forwarded-*, Forwarded, the request ID) are set after every stage and cannot be forged here.
 */
export const requestHeaders: StageKind<Settings> = {
  type: 'request-headers',
  phase: 'transform',
  description: 'Set or remove headers on the request to the upstream',
  settings: HeaderChangeSettings,
  create(settings): Stage {
    const verdict: Verdict = Object.freeze({
      continue: true,
      change: compileHeaderChange(settings),
    });
    return { name: 'request-headers', onRequest: () => verdict };
  },
};
