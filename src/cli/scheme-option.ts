import { InvalidArgumentError } from 'commander';

const METHOD = /^(?:api-key|mtls|jwt:[A-Za-z0-9_.-]{1,64}|introspection:[A-Za-z0-9_.-]{1,64})$/;

/** `--scheme apiKeyAuth=api-key`, repeatable: which gateway method a security scheme is. */
export function schemeOption(value: string, previous: Record<string, string> = {}) {
  const eq = value.indexOf('=');
  const scheme = value.slice(0, eq);
  const method = value.slice(eq + 1);
  if (eq < 1 || !METHOD.test(method))
    throw new InvalidArgumentError(
      'must be SCHEME=METHOD, METHOD one of api-key, mtls, jwt:NAME, introspection:NAME',
    );
  return { ...previous, [scheme]: method };
}
