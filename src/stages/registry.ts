import { detect } from './detect/detect-stage.js';
import { ipRestriction } from './ip-restriction/ip-restriction.js';
import { loginFailures } from './login-failures/login-failures.js';
import { requestHeaders } from './headers/request-headers.js';
import { responseHeaders } from './headers/response-headers.js';
import type { StageKind } from './registry-types.js';

/** Every stage type the gateway knows, by the `type` a route's stage entry names. */
export const STAGE_KINDS: ReadonlyMap<string, StageKind> = new Map(
  ([ipRestriction, detect, loginFailures, requestHeaders, responseHeaders] as StageKind[]).map(
    (k) => [k.type, k],
  ),
);
