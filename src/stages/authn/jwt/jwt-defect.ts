/**
 * A JWT check that failed: the refusal reason (one site each, docs/errors.md) and small facts
 * for the security event. Checks return one instead of throwing, so that no hostile token costs
 * an exception, and the authenticator turns it into the one 401 every refusal shows.
 */
export interface JwtDefect {
  readonly refused: true;
  readonly reason: string;
  /** Flat, short, never the token nor a value an attacker chose freely. */
  readonly details?: Readonly<Record<string, string | number | boolean>>;
}

export function isDefect(value: object): value is JwtDefect {
  return (value as { refused?: unknown }).refused === true;
}
