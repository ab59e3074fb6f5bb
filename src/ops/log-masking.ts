import { DETECTOR_IDS } from '../stages/data-protection/detectors/detector.js';
import { scanPolicy, scanWhole } from '../stages/data-protection/stream-scanner.js';

/** Every detector masks: a log line keeps its shape, never the data. */
const MASK_ALL = scanPolicy(new Map(DETECTOR_IDS.map((id) => [id, 'mask'])));
/** Log objects are small and flat; deeper ones are cut rather than walked without end. */
const MAX_DEPTH = 6;
/** Only strings long enough to hold the shortest secret (an SSN) are scanned. */
const MIN_LENGTH = 11;

/** The string with every sensitive value the detectors know masked, or itself when none. */
export function maskText(text: string): string {
  if (text.length < MIN_LENGTH) return text;
  const bytes = Buffer.from(text, 'latin1');
  // Text outside latin1 cannot be round-tripped that way: scan its UTF-8 bytes instead.
  const utf8 = bytes.toString('latin1') !== text;
  const input = utf8 ? Buffer.from(text, 'utf8') : bytes;
  const { out, scanner } = scanWhole(MASK_ALL, input);
  if (scanner.counts.size === 0) return text;
  return out.toString(utf8 ? 'utf8' : 'latin1');
}

/**
 * A log object with its strings masked (`logging.maskSensitiveData`): the gateway never logs
 * bodies, but an error message, a header someone added or a field of a stage's log line can
 * still carry a card number or a key.
 */
export function maskLogObject(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return maskText(value);
  if (typeof value !== 'object' || value === null || depth >= MAX_DEPTH) return value;
  if (Array.isArray(value)) return value.map((v) => maskLogObject(v, depth + 1));
  if (value instanceof Error) {
    return {
      type: value.name,
      message: maskText(value.message),
      stack: maskText(value.stack ?? ''),
    };
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = maskLogObject(v, depth + 1);
  return out;
}
