import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { portcullis } from '../support/cli.js';

const SPEC = fileURLToPath(new URL('../../src/demo/openapi.yaml', import.meta.url));

describe('portcullis routes from-openapi', () => {
  it('prints routes that portcullis check accepts in a config', async () => {
    const out = await portcullis([
      'routes',
      'from-openapi',
      SPEC,
      '--upstream',
      'demo',
      '--scheme',
      'apiKeyAuth=api-key',
      '--scheme',
      'bearerAuth=jwt:demo',
    ]);
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toContain('name: deleteAccount');
    expect(out.stdout).not.toContain('/internal/');
    const dir = mkdtempSync(join(tmpdir(), 'pcl-openapi-'));
    const file = join(dir, 'portcullis.yaml');
    writeFileSync(
      file,
      [
        'listeners: {http: {port: 8080}}',
        'upstreams: {demo: {targets: [http://127.0.0.1:3000]}}',
        'authn: {issuers: {demo: {issuer: https://idp, jwksUrl: https://idp/jwks, audiences: [demo]}}}',
        out.stdout,
      ].join('\n'),
    );
    const check = await portcullis(['check', '-c', file]);
    expect(check.code, check.stderr).toBe(0);
  });

  it('exits 1 with PCL_OPENAPI_INVALID for a scheme it was not told about', async () => {
    const out = await portcullis(['routes', 'from-openapi', SPEC, '--upstream', 'demo']);
    expect(out.code).toBe(1);
    expect(out.stdout).toBe('');
    expect(out.stderr).toMatch(/^PCL_OPENAPI_INVALID: .*apiKeyAuth|bearerAuth/);
  });

  it.each([['apiKeyAuth'], ['apiKeyAuth=basic'], ['=api-key']])(
    'refuses --scheme %s',
    async (scheme) => {
      const out = await portcullis([
        'routes',
        'from-openapi',
        SPEC,
        '--upstream',
        'd',
        '--scheme',
        scheme,
      ]);
      expect(out.code).not.toBe(0);
      expect(out.stderr).toContain('SCHEME=METHOD');
    },
  );
});
