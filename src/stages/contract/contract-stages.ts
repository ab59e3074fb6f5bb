import type { RouteContractConfig } from '../../config/contract-schema.js';
import type { Config, RouteConfig } from '../../config/schema.js';
import type { Stage } from '../../gateway/stage.js';
import { SpecError } from '../../openapi/spec-error.js';
import { loadSpec, type LoadedSpec } from '../../openapi/spec-loader.js';
import { createContractStage } from './contract-stage.js';
import {
  compileOperation,
  listOperations,
  OperationError,
  type OperationContract,
} from './operation-contract.js';
import { REQUEST_BASE, RESPONSE_BASE, specAjv, type SpecAjv } from './spec-ajv.js';
import { UndeclaredProperties } from './undeclared-properties.js';

/**
 * Builds each route's contract stage for one config generation: every spec loaded once, every
 * operation's validators compiled once. Anything that cannot be enforced exactly (a spec that
 * does not load, a route method without an operation, a pattern RE2 cannot run) throws a
 * ContractBuildError, and the config is refused: never a route silently unchecked.
 */
export interface ContractStages {
  /** The route's stage; undefined when the route has no contract (or both directions are off). */
  stageFor(route: RouteConfig): Stage | undefined;
}

/** Where in the config a contract cannot be built, and why. */
export class ContractBuildError extends Error {
  constructor(
    readonly path: readonly (string | number)[],
    message: string,
  ) {
    super(message);
    this.name = 'ContractBuildError';
  }
}

/** A spec that cannot be loaded, with the name `specs` gives it. */
export class ContractSpecError extends Error {
  constructor(
    readonly spec: string,
    readonly error: SpecError,
  ) {
    super(error.message);
    this.name = 'ContractSpecError';
  }
}

interface CompiledSpec {
  readonly ajv: SpecAjv;
  readonly operations: ReturnType<typeof listOperations>;
  readonly request: UndeclaredProperties;
  readonly response: UndeclaredProperties;
}

/** `/accounts/:accountId` and `/accounts/{id}` have the same shape. */
const shapeOf = (path: string) =>
  path.replace(/\{[^}/]+\}/g, '{}').replace(/:[A-Za-z0-9_]+/g, '{}');

export function contractOf(route: RouteConfig, config: Config): RouteContractConfig | undefined {
  return route.contract ?? config.defaults.contract;
}

function describe(err: unknown): string {
  if (err instanceof OperationError) return err.message;
  if (err instanceof Error) {
    // ajv's and RE2's messages name the schema or the pattern, never request data.
    return /regexp|pattern/i.test(err.message)
      ? `a pattern cannot run on the linear-time engine (lookaround and backreferences are refused): ${err.message.slice(0, 200)}`
      : err.message.slice(0, 300);
  }
  return String(err);
}

/**
 * The stages of each config object, built once: `portcullis check` (the loader) and the gateway
 * ask for the same config, which then compiles its specs once, not twice.
 */
const built = new WeakMap<Config, ContractStages>();

export function buildContractStages(config: Config): ContractStages {
  let stages = built.get(config);
  if (stages === undefined) {
    stages = build(config);
    built.set(config, stages);
  }
  return stages;
}

function build(config: Config): ContractStages {
  const specs = new Map<string, CompiledSpec>();
  const specOf = (name: string, at: readonly (string | number)[]): CompiledSpec => {
    const known = specs.get(name);
    if (known !== undefined) return known;
    const entry = Object.hasOwn(config.specs, name) ? config.specs[name] : undefined;
    if (entry === undefined)
      throw new ContractBuildError([...at, 'spec'], `no spec ${JSON.stringify(name)} in specs`);
    let spec: LoadedSpec;
    try {
      spec = loadSpec(entry.file);
    } catch (err) {
      // The SpecError has the spec's own position; the check also names the spec.
      if (err instanceof SpecError) throw new ContractSpecError(name, err);
      throw err;
    }
    let ajv: SpecAjv;
    try {
      ajv = specAjv(spec);
    } catch (err) {
      throw new ContractBuildError(['specs', name, 'file'], describe(err));
    }
    const compiled: CompiledSpec = {
      ajv,
      operations: listOperations(ajv.requestDoc),
      request: new UndeclaredProperties(ajv.requestDoc, REQUEST_BASE),
      response: new UndeclaredProperties(ajv.responseDoc, RESPONSE_BASE),
    };
    specs.set(name, compiled);
    return compiled;
  };

  const stages = new Map<string, Stage>();
  config.routes.forEach((route, i) => {
    const contract = contractOf(route, config);
    if (contract === undefined || (contract.request === 'off' && contract.response === 'off'))
      return;
    const at = route.contract !== undefined ? ['routes', i, 'contract'] : ['defaults', 'contract'];
    const spec = specOf(contract.spec, at);
    const skipsPreflight = route.preflight.skipStages.includes('contract');
    const operations = new Map<string, OperationContract>();
    for (const method of route.methods) {
      if (method === 'OPTIONS' && skipsPreflight) continue;
      let found = spec.operations.filter((o) => o.method === method);
      if (contract.operation !== undefined)
        found = found.filter((o) => o.id === contract.operation);
      else {
        const shapes = new Set(route.paths.map(shapeOf));
        if (shapes.size !== 1)
          throw new ContractBuildError(
            ['routes', i, 'paths'],
            'a route with a contract has one path (or name its operation with contract.operation)',
          );
        found = found.filter((o) => shapes.has(shapeOf(o.template)));
      }
      const target = found[0];
      if (target === undefined && method === 'HEAD') continue; // checked against GET
      if (target === undefined || found.length > 1) {
        const what =
          contract.operation !== undefined
            ? `operation ${JSON.stringify(contract.operation)} with method ${method}`
            : `operation ${method} ${route.paths[0] ?? ''}`;
        throw new ContractBuildError(
          at,
          found.length > 1
            ? `${what} is ambiguous in spec ${contract.spec}`
            : `spec ${contract.spec} has no ${what}${method === 'OPTIONS' ? ' (or add contract to preflight.skipStages)' : ''}`,
        );
      }
      try {
        operations.set(method, compileOperation(spec.ajv, target.method, target.template));
      } catch (err) {
        throw new ContractBuildError(at, `${target.method} ${target.template}: ${describe(err)}`);
      }
    }
    if (route.methods.includes('HEAD') && !operations.has('HEAD') && !operations.has('GET'))
      throw new ContractBuildError(
        at,
        `spec ${contract.spec} has no HEAD or GET operation for this route`,
      );
    const auth = route.auth ?? config.defaults.auth;
    const ignoredQuery = new Set<string>(
      auth !== undefined && !auth.public && auth.allowQueryKey === true
        ? [config.authn.apiKeys.queryParam]
        : [],
    );
    stages.set(
      route.name,
      createContractStage({
        operations,
        settings: contract,
        requestProperties: spec.request,
        responseProperties: spec.response,
        ignoredQuery,
      }),
    );
  });
  return { stageFor: (route) => stages.get(route.name) };
}
