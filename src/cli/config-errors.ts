import { ConfigError, ConfigFileError } from '../config/errors.js';

/** Prints a config problem for a human and says whether it was one; other errors are rethrown. */
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
  return false;
}
