/**
 * Errors of configuration loading. Both carry a stable `code` (docs/errors.md) and a message
 * that says where the problem is, so an operator can fix it without reading the source.
 */

/** One problem in a config file, at a line and column (both 1-based). */
export class ConfigIssue {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly column: number,
    /** JS notation (`routes[2].upstream`), `(root)` for the document itself. */
    readonly path: string,
    readonly message: string,
  ) {}

  /** `portcullis.yaml:14:7 routes[2].upstream: must be an absolute http(s) URL` */
  toString(): string {
    return `${this.file}:${this.line}:${this.column} ${this.path}: ${this.message}`;
  }
}

/** The config file was read but is not a valid configuration: every issue, in file order. */
export class ConfigError extends Error {
  readonly code = 'PCL_CONFIG_INVALID';
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[]) {
    super(issues.map((i) => i.toString()).join('\n'));
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

const REASONS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file; check the path given with -c',
  EACCES: 'permission denied; the gateway user must be able to read it',
  EPERM: 'permission denied; the gateway user must be able to read it',
  EISDIR: 'it is a directory; give the path of the YAML file',
  ENOTDIR: 'a parent of the path is not a directory',
};

/** The config file itself could not be read. */
export class ConfigFileError extends Error {
  readonly code = 'PCL_CONFIG_UNREADABLE';

  constructor(
    readonly file: string,
    /** The system error code (`ENOENT`, ...) or a short reason of our own. */
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`cannot read configuration file ${file}: ${REASONS[reason] ?? reason}`, options);
    this.name = 'ConfigFileError';
  }
}
