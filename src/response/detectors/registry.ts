import { BruteForce } from './brute-force.js';
import { CredentialSharing } from './credential-sharing.js';
import type { TrafficDetector, TrafficDetectorDeps } from './detector.js';
import { Enumeration } from './enumeration.js';
import { Probing } from './probing.js';
import { RateLimited } from './rate-limited.js';
import { UpstreamErrors } from './upstream-errors.js';
import { UsernameFailures } from './username-failures.js';
import { Volume } from './volume.js';

/** Every behavioural detector, in the order their flushes run. */
export function createDetectors(deps: TrafficDetectorDeps): TrafficDetector[] {
  return [
    new BruteForce(deps),
    new Enumeration(deps),
    new UpstreamErrors(deps),
    new Probing(deps),
    new CredentialSharing(deps),
    new UsernameFailures(deps),
    new Volume(deps),
    new RateLimited(deps),
  ];
}
