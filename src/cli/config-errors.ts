import { ConfigError, ConfigFileError } from '../config/errors.js';

/**
 * Prints an operator error (a config problem, or any error with a PCL_ code) for a human and says
 * whether it was one; other errors are the caller's to rethrow.
 */
export function reportConfigError(err: unknown): boolean {
  if (err instanceof ConfigError) {
    for (const issue of err.issues) process.stderr.write(`${String(issue)}\n`);
    process.stderr.write(`${err.code}: ${err.issues.length} problem(s) in the configuration\n`);
    return true;
  }
  if (err instanceof ConfigFileError) {
    process.stderr.write(`${err.code}: ${err.message}\n`);
    return true;
  }
  // Every other operator error (no master key, store unreachable...) has a PCL_ code and a
  // message that says what to do: print that, not a stack trace.
  const code = (err as { code?: unknown }).code;
  if (err instanceof Error && typeof code === 'string' && code.startsWith('PCL_')) {
    process.stderr.write(`${code}: ${err.message}\n`);
    return true;
  }
  return false;
}
