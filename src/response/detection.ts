import diagnostics from 'node:diagnostics_channel';
import type { DetectionKind, Severity } from '../config/response-schema.js';

/** Detections are published here; playbooks, the event pipeline and metrics subscribe. */
export const DETECTION_CHANNEL = 'portcullis:detection';
export const detectionChannel = diagnostics.channel(DETECTION_CHANNEL);

/** What a detection is about: the thing a playbook would block or an operator would look at. */
export interface DetectionSubject {
  readonly kind: 'ip' | 'consumer' | 'credential' | 'route' | 'username';
  /**
   * A canonical IP, a consumer id, a credential fingerprint (`fp:...`), a route name or a
   * username's digest (`un:...`, never the username).
   */
  readonly value: string;
}

export interface Detection {
  readonly kind: DetectionKind;
  readonly severity: Severity;
  readonly subject: DetectionSubject;
  /** Epoch milliseconds. */
  readonly time: number;
  /** The route the evidence came from, when there is one. */
  readonly route?: string;
  /** The consumer the subject belongs to, when known (a credential's owner). */
  readonly consumer?: string;
  /** The counts that crossed a threshold: numbers only, never a credential or a body. */
  readonly evidence: Readonly<Record<string, number>>;
}

const SEVERITY_RANK: Readonly<Record<Severity, number>> = {
  low: 0,
  medium: 1,
  high: 2,
  critical: 3,
};

export function atLeast(severity: Severity, min: Severity): boolean {
  return SEVERITY_RANK[severity] >= SEVERITY_RANK[min];
}
