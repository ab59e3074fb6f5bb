/**
 * An API description that cannot be used: unreadable, not YAML or JSON, not OpenAPI 3.0, 3.1 or
 * Swagger 2.0, a `$ref` that leads nowhere, in a cycle or out of the spec's folder. The message
 * names the spec's own file, line and column, so the author can fix it there.
 */
export class SpecError extends Error {
  readonly code = 'PCL_SPEC_INVALID';

  constructor(
    readonly file: string,
    readonly line: number,
    readonly column: number,
    readonly detail: string,
  ) {
    super(`${file}:${line}:${column} ${detail}`);
    this.name = 'SpecError';
  }
}
