import { loadConfigFile } from '../config/load.js';
import { STAGE_KINDS } from '../stages/registry.js';
import { reportConfigError } from './config-errors.js';

/** `portcullis check -c FILE`: validates without starting; exit 0 when valid, 1 when not. */
export function runCheck(file: string): void {
  try {
    const config = loadConfigFile(file, { env: process.env, stageKinds: STAGE_KINDS });
    process.stdout.write(
      `${file}: valid (${config.routes.length} routes, ${Object.keys(config.upstreams).length} upstreams)\n`,
    );
    process.exitCode = 0;
  } catch (err) {
    if (!reportConfigError(err)) throw err;
    process.exitCode = 1;
  }
}
