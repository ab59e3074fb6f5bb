import {
  buildContractStages,
  ContractBuildError,
  ContractSpecError,
} from '../stages/contract/contract-stages.js';
import { ConfigIssue } from './errors.js';
import type { Config } from './schema.js';

type Path = readonly (string | number)[];

/** The part of the config loader's reporter these checks use. */
export interface ContractReporter {
  report(path: Path, message: string): void;
  add(issue: ConfigIssue): void;
}

/** The value `portcullis init` writes where only the operator can decide (docs/contract.md). */
export const TODO_MARKER = 'TODO';

/**
 * Every place the config still says `TODO`: a starter config written by `portcullis init`
 * leaves its limits (and what it cannot know) as TODO, and no gateway starts on one until each
 * is set.
 */
export function todoMarkers(data: unknown, at: Path = []): Path[] {
  if (data === TODO_MARKER) return [at];
  if (Array.isArray(data)) return data.flatMap((v, i) => todoMarkers(v, [...at, i]));
  if (typeof data === 'object' && data !== null)
    return Object.entries(data).flatMap(([k, v]) => todoMarkers(v, [...at, k]));
  return [];
}

/**
 * The contracts of a config that is otherwise valid: every spec loads (a problem in one is
 * reported at the spec's own line and column), every route method has its operation, every
 * validator compiles. The same build the gateway runs at start and reload.
 */
export function checkContracts(r: ContractReporter, config: Config): void {
  try {
    buildContractStages(config);
  } catch (err) {
    if (err instanceof ContractSpecError) {
      const e = err.error;
      r.add(new ConfigIssue(e.file, e.line, e.column, `specs.${err.spec}`, e.detail));
    } else if (err instanceof ContractBuildError) r.report(err.path, err.message);
    else throw err;
  }
}
