import { pino, type Logger, type DestinationStream } from 'pino';
import { maskLogObject, maskText } from './log-masking.js';

/** Credential headers that never reach a log line, whatever else is configured. */
const ALWAYS_REDACTED = [
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'x-api-key',
];

export interface LoggerOptions {
  readonly level: string;
  readonly redactHeaders: readonly string[];
  readonly destination?: DestinationStream;
  /** Mask cards, keys, tokens... in every string of every line (docs/data-protection.md). */
  readonly maskSensitiveData?: boolean;
}

/** Structured JSON logs (pino) with credential headers redacted at the logger itself. */
export function createLogger(opts: LoggerOptions): Logger {
  const headers = [
    ...new Set([...ALWAYS_REDACTED, ...opts.redactHeaders.map((h) => h.toLowerCase())]),
  ];
  const paths = headers.flatMap((h) => [
    `headers["${h}"]`,
    `req.headers["${h}"]`,
    `res.headers["${h}"]`,
    `*.headers["${h}"]`,
  ]);
  return pino(
    {
      name: 'portcullis',
      level: opts.level,
      redact: { paths, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: {
        level: (label) => ({ level: label }),
        ...(opts.maskSensitiveData === true
          ? { log: (object: Record<string, unknown>) => maskLogObject(object) as typeof object }
          : {}),
      },
      ...(opts.maskSensitiveData === true
        ? {
            hooks: {
              logMethod(args: Parameters<Logger['info']>, method: (...a: unknown[]) => void) {
                method.apply(
                  this,
                  args.map((a) => (typeof a === 'string' ? maskText(a) : a)),
                );
              },
            },
          }
        : {}),
    },
    opts.destination ?? pino.destination({ dest: 1, sync: false }),
  );
}
