import { dirname, resolve } from 'node:path';
import { loadConfigFile } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { STAGE_KINDS } from '../stages/registry.js';
import { reportConfigError } from './config-errors.js';

/** For commands that need a valid config: prints its problems and exits 1 when it is not. */
export function loadConfigOrExit(file: string): { config: Config; configDir: string } {
  try {
    const config = loadConfigFile(file, { env: process.env, stageKinds: STAGE_KINDS });
    return { config, configDir: dirname(resolve(file)) };
  } catch (err) {
    if (!reportConfigError(err)) throw err;
    process.exit(1);
  }
}
