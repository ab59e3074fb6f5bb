import type { Static } from '@sinclair/typebox';
import { ALLOW, type ResponseVerdict, type Stage } from '../../gateway/stage.js';
import type { StageKind } from '../registry-types.js';
import { compileHeaderChange, HeaderChangeSettings } from './header-changes.js';

type Settings = Static<typeof HeaderChangeSettings>;

/** Sets and removes response headers, e.g. security headers or an upstream's X-Powered-By. */
export const responseHeaders: StageKind<Settings> = {
  type: 'response-headers',
  phase: 'transform',
  description: 'Set or remove headers on the response to the client',
  settings: HeaderChangeSettings,
  create(settings): Stage {
    const verdict: ResponseVerdict = Object.freeze({
      continue: true,
      change: compileHeaderChange(settings),
    });
    return {
      name: 'response-headers',
      onRequest: () => ALLOW,
      onResponse: () => verdict,
    };
  },
};
