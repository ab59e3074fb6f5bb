import { DEFAULT_IGNORED_HEADERS } from '../../src/stages/detect/detect-stage.js';
import {
  Detector,
  type Detection,
  type DetectorSettings,
} from '../../src/stages/detect/detector.js';
import type { RequestParts } from '../../src/stages/detect/request-values.js';

/** The detect stage's defaults, as the config loader fills them in. */
export const DEFAULT_DETECT: DetectorSettings = {
  paranoia: 1,
  threshold: 5,
  inspect: { path: true, query: true, headers: true, cookies: true, body: true },
  ignoreHeaders: DEFAULT_IGNORED_HEADERS,
  exclusions: [],
  inspectBytes: 1_048_576,
};

export function detector(overrides: Partial<DetectorSettings> = {}): Detector {
  return new Detector({ ...DEFAULT_DETECT, ...overrides });
}

/** A request with `parts` and nothing else: path `/`, no query, no headers, no body. */
export function request(parts: Partial<RequestParts>): RequestParts {
  return { path: '/', query: '', headers: {}, body: undefined, ...parts };
}

/** The rule ids that fired, sorted. */
export function rules(d: Detection): string[] {
  return d.findings.map((f) => f.rule).sort();
}
