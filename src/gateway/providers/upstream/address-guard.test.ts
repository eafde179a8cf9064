import { describe, expect, it } from 'vitest';
import { assertPublicHost, guardedLookup, isPrivateAddress } from './address-guard.ts';

describe('the private-address guard', () => {
  it.each([
    '127.0.0.1',
    '127.8.9.10',
    '10.0.0.1',
    '172.16.5.4',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '::1',
    '::',
    '::127.0.0.1',
    '::ffff:127.0.0.1',
    '::ffff:10.0.0.1',
    '64:ff9b::a00:1',
    'fe80::1',
    'fd00::1',
  ])('refuses %s', (address) => {
    expect(isPrivateAddress(address)).toBe(true);
  });

  it.each(['8.8.8.8', '1.1.1.1', '172.32.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8'])(
    'allows %s',
    (address) => {
      expect(isPrivateAddress(address)).toBe(false);
    },
  );

  it('refuses loopback names and private literals before any lookup', () => {
    for (const host of ['localhost', 'api.localhost', '127.0.0.1', '[::1]', '169.254.169.254']) {
      expect(() => assertPublicHost(host), host).toThrow();
    }
    expect(() => assertPublicHost('api.openai.com')).not.toThrow();
  });

  it('refuses a name that resolves to a private address', async () => {
    const error = await new Promise<NodeJS.ErrnoException | null>((resolve) =>
      guardedLookup('localhost', {}, (err) => resolve(err)),
    );
    expect(error?.code).toBe('BK_PRIVATE_ADDRESS');
  });
});
