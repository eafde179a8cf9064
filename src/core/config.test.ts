import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.ts';

describe('loadConfig', () => {
  it('has working defaults for a laptop', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: 8080,
      host: '127.0.0.1',
      dataDir: './.bulkhead',
      allowPrivateUpstreams: false,
    });
    expect(config.databaseUrl).toBeUndefined();
  });

  it.each([
    [{ PORT: 'eighty' }, 'PORT'],
    [{ PORT: '70000' }, 'PORT'],
    [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL'],
    [{ BULKHEAD_MASTER_KEY: 'dG9vIHNob3J0' }, 'BULKHEAD_MASTER_KEY'],
    [{ BULKHEAD_ADMIN_TOKEN: 'short' }, 'BULKHEAD_ADMIN_TOKEN'],
    [{ BULKHEAD_BODY_LIMIT_BYTES: '-1' }, 'BULKHEAD_BODY_LIMIT_BYTES'],
    [{ BULKHEAD_ALLOW_PRIVATE_UPSTREAMS: 'yes' }, 'BULKHEAD_ALLOW_PRIVATE_UPSTREAMS'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ BULKHEAD_JWT_JWKS_URL: 'ftp://idp/jwks' }, 'BULKHEAD_JWT_JWKS_URL'],
  ])('refuses %o, naming the variable', (env, name) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(name);
  });

  it('names every invalid variable at once', () => {
    expect(() => loadConfig({ PORT: 'x', LOG_LEVEL: 'y' })).toThrow(/PORT[\s\S]*LOG_LEVEL/);
  });

  it('requires issuer and audience once JWTs are enabled', () => {
    expect(() => loadConfig({ BULKHEAD_JWT_SECRET: 'x'.repeat(32) })).toThrow(
      /BULKHEAD_JWT_ISSUER and BULKHEAD_JWT_AUDIENCE/,
    );
    expect(() =>
      loadConfig({
        BULKHEAD_JWT_SECRET: 'x'.repeat(32),
        BULKHEAD_JWT_ISSUER: 'i',
        BULKHEAD_JWT_AUDIENCE: 'a',
      }),
    ).not.toThrow();
  });

  it('reads secrets from NAME_FILE, and refuses both forms at once', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bk-config-'));
    const file = join(dir, 'token');
    writeFileSync(file, `${'t'.repeat(40)}\n`);
    expect(loadConfig({ BULKHEAD_ADMIN_TOKEN_FILE: file }).adminToken).toBe('t'.repeat(40));
    expect(() =>
      loadConfig({ BULKHEAD_ADMIN_TOKEN_FILE: file, BULKHEAD_ADMIN_TOKEN: 'u'.repeat(40) }),
    ).toThrow(/both set/);
    expect(() => loadConfig({ BULKHEAD_ADMIN_TOKEN_FILE: join(dir, 'missing') })).toThrow(
      /BULKHEAD_ADMIN_TOKEN_FILE: cannot read/,
    );
  });

  it('does not read NAME_FILE for settings that are not secrets', () => {
    expect(loadConfig({ PORT_FILE: '/nonexistent' }).port).toBe(8080);
  });
});
