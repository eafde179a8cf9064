import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBulkhead, type RunningBulkhead, type TestTenant } from './support/bulkhead-server.ts';

/**
 * Bad input never gets a 500, never takes the server down and never leaves anything half-written.
 * One server for the whole file, started with a small body limit and without private upstreams.
 */
const BODY_LIMIT = 2048;

let server: RunningBulkhead;
let tenant: TestTenant;
let providerId: string;
let userId: string;

beforeAll(async () => {
  server = await startBulkhead({
    BULKHEAD_BODY_LIMIT_BYTES: String(BODY_LIMIT),
    BULKHEAD_ALLOW_PRIVATE_UPSTREAMS: 'false',
  });
  tenant = await server.createTenant('bad-input');
  const provider = await server.request('POST', '/v1/providers', {
    token: tenant.apiKey,
    body: {
      name: 'existing',
      kind: 'openai',
      baseUrl: 'https://api.example.com/v1',
      models: ['m1'],
    },
  });
  expect(provider.status).toBe(201);
  providerId = provider.body.id;
  const user = await server.request('POST', '/v1/users', {
    token: tenant.apiKey,
    body: { email: 'existing@example.com', role: 'member' },
  });
  expect(user.status).toBe(201);
  userId = user.body.id;
});
afterAll(() => server?.close());

interface Answer {
  status: number;
  body: any;
}

/** Sends a raw body (string or bytes) with the given content type. */
async function send(
  method: string,
  path: string,
  token: string,
  body: string | Buffer,
  contentType = 'application/json',
): Promise<Answer> {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': contentType },
    body,
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // left as text: the assertion below reports it
  }
  return { status: response.status, body: parsed };
}

/** The OpenAI error shape with the expected status, and a message that matches `says`. */
function expectError(answer: Answer, status: number, code: string | null, says?: RegExp): void {
  expect({ status: answer.status, code: answer.body?.error?.code }).toEqual({
    status,
    code: code ?? answer.body?.error?.code,
  });
  expect(answer.body).toEqual({
    error: {
      message: expect.any(String),
      type: expect.any(String),
      code: expect.stringMatching(/^BK_/),
      param: answer.body.error.param === null ? null : expect.any(String),
    },
  });
  if (says !== undefined) expect(answer.body.error.message).toMatch(says);
}

async function expectStillServing(): Promise<void> {
  const health = await server.request('GET', '/healthz');
  expect(health.status).toBe(200);
  expect(health.body).toEqual({ status: 'ok' });
}

interface Endpoint {
  name: string;
  method: 'POST' | 'PATCH';
  path: () => string;
  token: () => string;
  /** A body the endpoint accepts, to build variants from. */
  valid: Record<string, unknown>;
  /** A body with one field of the wrong type, and that field's name. */
  wrongType: [Record<string, unknown>, string];
  /** A body missing what is required, and what the message must mention. */
  missing: [Record<string, unknown>, RegExp];
  /** Strict schemas refuse unknown fields; the OpenAI gateway passes them through. */
  strict: boolean;
  /** What must be unchanged after a refused request. */
  state: () => Promise<unknown>;
}

const list = async (path: string, token: string) => {
  const answer = await server.request('GET', path, { token });
  expect(answer.status).toBe(200);
  return answer.body;
};
const usageRequests = async () =>
  ((await list('/v1/usage', tenant.apiKey)) as { totals: { requests: number } }).totals.requests;

const endpoints: Endpoint[] = [
  {
    name: 'chat completions',
    method: 'POST',
    path: () => '/v1/chat/completions',
    token: () => tenant.apiKey,
    valid: { model: 'local/extractive', messages: [{ role: 'user', content: 'hi' }] },
    wrongType: [{ model: 'local/extractive', messages: 'hi' }, 'messages'],
    missing: [{ messages: [{ role: 'user', content: 'hi' }] }, /model/],
    strict: false,
    state: usageRequests,
  },
  {
    name: 'embeddings',
    method: 'POST',
    path: () => '/v1/embeddings',
    token: () => tenant.apiKey,
    valid: { model: 'local/hash-embed', input: 'hi' },
    wrongType: [{ model: 'local/hash-embed', input: { text: 'hi' } }, 'input'],
    missing: [{ model: 'local/hash-embed' }, /input/],
    strict: false,
    state: usageRequests,
  },
  {
    name: 'provider create',
    method: 'POST',
    path: () => '/v1/providers',
    token: () => tenant.apiKey,
    valid: { name: 'fresh', kind: 'openai', baseUrl: 'https://api.example.com/v1', models: ['m'] },
    wrongType: [
      { name: 'fresh', kind: 'openai', baseUrl: 'https://api.example.com/v1', models: 'm' },
      'models',
    ],
    missing: [{ name: 'fresh', kind: 'openai', models: ['m'] }, /baseUrl/],
    strict: true,
    state: () => list('/v1/providers?limit=100', tenant.apiKey),
  },
  {
    name: 'provider update',
    method: 'PATCH',
    path: () => `/v1/providers/${providerId}`,
    token: () => tenant.apiKey,
    valid: { models: ['m2'] },
    wrongType: [{ models: 'm2' }, 'models'],
    missing: [{}, /at least one field/],
    strict: true,
    state: () => list('/v1/providers?limit=100', tenant.apiKey),
  },
  {
    name: 'key create',
    method: 'POST',
    path: () => '/v1/keys',
    token: () => tenant.apiKey,
    valid: { name: 'fresh key' },
    wrongType: [{ name: 42 }, 'name'],
    missing: [{ role: 'viewer' }, /name/],
    strict: true,
    state: () => list('/v1/keys?limit=100', tenant.apiKey),
  },
  {
    name: 'user create',
    method: 'POST',
    path: () => '/v1/users',
    token: () => tenant.apiKey,
    valid: { email: 'fresh@example.com' },
    wrongType: [{ email: 'fresh@example.com', role: ['admin'] }, 'role'],
    missing: [{ displayName: 'Nobody' }, /email or a subject/],
    strict: true,
    state: () => list('/v1/users?limit=100', tenant.apiKey),
  },
  {
    name: 'user update',
    method: 'PATCH',
    path: () => `/v1/users/${userId}`,
    token: () => tenant.apiKey,
    valid: { displayName: 'Renamed' },
    wrongType: [{ displayName: 7 }, 'displayName'],
    missing: [{}, /at least one field/],
    strict: true,
    state: () => list('/v1/users?limit=100', tenant.apiKey),
  },
  {
    name: 'admin tenant create',
    method: 'POST',
    path: () => '/v1/admin/tenants',
    token: () => server.adminToken,
    valid: { name: 'fresh tenant' },
    wrongType: [{ name: { first: 'a' } }, 'name'],
    missing: [{}, /name/],
    strict: true,
    state: () => list('/v1/admin/tenants?limit=100', server.adminToken),
  },
  {
    name: 'admin key create',
    method: 'POST',
    path: () => `/v1/admin/tenants/${tenant.id}/keys`,
    token: () => server.adminToken,
    valid: { name: 'fresh operator key' },
    wrongType: [{ name: 'k', scopes: 'inference' }, 'scopes'],
    missing: [{ role: 'viewer' }, /name/],
    strict: true,
    state: () => list('/v1/keys?limit=100', tenant.apiKey),
  },
];

const wrongTypeBody = (e: Endpoint) => JSON.stringify(e.wrongType[0]);
const pad = (body: Record<string, unknown>) =>
  JSON.stringify({ ...body, padding: 'x'.repeat(BODY_LIMIT * 2) });

/** Each case: a raw body, the content type, and the expected status, code and message. */
const cases: [
  string,
  (e: Endpoint) => string | Buffer,
  string,
  number,
  string,
  RegExp | ((e: Endpoint) => RegExp),
][] = [
  [
    'malformed JSON',
    () => '{"name": "x",',
    'application/json',
    400,
    'BK_INVALID_JSON',
    /not valid JSON/,
  ],
  ['a bare word', () => 'hello', 'application/json', 400, 'BK_INVALID_JSON', /not valid JSON/],
  ['an empty body', () => '', 'application/json', 400, 'BK_INVALID_JSON', /empty/],
  [
    'a JSON array',
    () => '[{"name":"x"}]',
    'application/json',
    400,
    'BK_VALIDATION_FAILED',
    /expected object/,
  ],
  ['a JSON number', () => '42', 'application/json', 400, 'BK_VALIDATION_FAILED', /expected object/],
  [
    'a JSON string',
    () => '"hello"',
    'application/json',
    400,
    'BK_VALIDATION_FAILED',
    /expected object/,
  ],
  ['JSON null', () => 'null', 'application/json', 400, 'BK_VALIDATION_FAILED', /expected object/],
  [
    'a field of the wrong type',
    wrongTypeBody,
    'application/json',
    400,
    'BK_VALIDATION_FAILED',
    (e) => new RegExp(e.wrongType[1]),
  ],
  [
    'a required field missing',
    (e) => JSON.stringify(e.missing[0]),
    'application/json',
    400,
    'BK_VALIDATION_FAILED',
    (e) => e.missing[1],
  ],
  [
    'invalid UTF-8 bytes',
    (e) =>
      Buffer.concat([
        Buffer.from(JSON.stringify(e.valid).slice(0, -1)),
        Buffer.from(',"note":"'),
        Buffer.from([0xff, 0xfe, 0xc3]),
        Buffer.from('"}'),
      ]),
    'application/json',
    400,
    'BK_INVALID_UTF8',
    /UTF-8/,
  ],
  [
    'a body over the limit',
    (e) => pad(e.valid),
    'application/json',
    413,
    'BK_BODY_TOO_LARGE',
    /larger/,
  ],
  [
    'a text/plain body',
    (e) => JSON.stringify(e.valid),
    'text/plain',
    415,
    'BK_UNSUPPORTED_MEDIA_TYPE',
    /Unsupported Media Type/i,
  ],
  [
    'a form-encoded body',
    () => 'name=x',
    'application/x-www-form-urlencoded',
    415,
    'BK_UNSUPPORTED_MEDIA_TYPE',
    /Unsupported Media Type/i,
  ],
  [
    'a __proto__ key',
    (e) => `{"__proto__":{"role":"owner"},${JSON.stringify(e.valid).slice(1)}`,
    'application/json',
    400,
    'BK_INVALID_JSON',
    /prototype/,
  ],
  [
    'a nested __proto__ key',
    (e) => `${JSON.stringify(e.valid).slice(0, -1)},"extra":{"__proto__":{"polluted":true}}}`,
    'application/json',
    400,
    'BK_INVALID_JSON',
    /prototype/,
  ],
  [
    'a constructor.prototype key',
    (e) => `${JSON.stringify(e.valid).slice(0, -1)},"constructor":{"prototype":{"polluted":true}}}`,
    'application/json',
    400,
    'BK_INVALID_JSON',
    /prototype|constructor/,
  ],
];

describe.each(endpoints)('$method $name', (endpoint) => {
  it.each(cases)('refuses %s', async (_label, makeBody, contentType, status, code, says) => {
    const before = await endpoint.state();
    const answer = await send(
      endpoint.method,
      endpoint.path(),
      endpoint.token(),
      makeBody(endpoint),
      contentType,
    );
    expectError(answer, status, code, typeof says === 'function' ? says(endpoint) : says);
    if (makeBody === wrongTypeBody) expect(answer.body.error.param).toBe(endpoint.wrongType[1]);
    await expectStillServing();
    expect(await endpoint.state()).toEqual(before);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  if (endpoint.strict) {
    it('refuses an unknown field, naming it', async () => {
      const before = await endpoint.state();
      const answer = await send(
        endpoint.method,
        endpoint.path(),
        endpoint.token(),
        JSON.stringify({ ...endpoint.valid, bogusField: true }),
      );
      expectError(answer, 400, 'BK_VALIDATION_FAILED', /bogusField/);
      expect(await endpoint.state()).toEqual(before);
    });
  } else {
    it('passes unknown (newer OpenAI) fields through', async () => {
      const answer = await send(
        endpoint.method,
        endpoint.path(),
        endpoint.token(),
        JSON.stringify({ ...endpoint.valid, some_future_openai_option: { x: 1 } }),
      );
      expect(answer.status).toBe(200);
    });
  }

  it('still accepts a valid body, with a charset in the content type', async () => {
    const answer = await send(
      endpoint.method,
      endpoint.path(),
      endpoint.token(),
      JSON.stringify(endpoint.valid),
      'application/json; charset=utf-8',
    );
    expect(answer.status, JSON.stringify(answer.body)).toBeLessThan(300);
  });
});

describe('strings the database cannot store as sent', () => {
  const nul = 'a\u0000b';
  const lone = '\ud800';
  it.each<
    [string, () => [string, string, string, Record<string, unknown>], () => Promise<unknown>]
  >([
    [
      'a key name with NUL',
      () => ['POST', '/v1/keys', tenant.apiKey, { name: nul }],
      () => list('/v1/keys?limit=100', tenant.apiKey),
    ],
    [
      'a key name with a lone surrogate',
      () => ['POST', '/v1/keys', tenant.apiKey, { name: `key ${lone}` }],
      () => list('/v1/keys?limit=100', tenant.apiKey),
    ],
    [
      'a user display name with NUL',
      () => ['POST', '/v1/users', tenant.apiKey, { email: 'nul@example.com', displayName: nul }],
      () => list('/v1/users?limit=100', tenant.apiKey),
    ],
    [
      'a user subject with NUL',
      () => ['POST', '/v1/users', tenant.apiKey, { subject: nul }],
      () => list('/v1/users?limit=100', tenant.apiKey),
    ],
    [
      'a user display name update with NUL',
      () => ['PATCH', `/v1/users/${userId}`, tenant.apiKey, { displayName: nul }],
      () => list('/v1/users?limit=100', tenant.apiKey),
    ],
    [
      'a tenant name with NUL',
      () => ['POST', '/v1/admin/tenants', server.adminToken, { name: nul }],
      () => list('/v1/admin/tenants?limit=100', server.adminToken),
    ],
    [
      'an operator key name with NUL',
      () => ['POST', `/v1/admin/tenants/${tenant.id}/keys`, server.adminToken, { name: nul }],
      () => list('/v1/keys?limit=100', tenant.apiKey),
    ],
    [
      'a provider region with NUL',
      () => [
        'POST',
        '/v1/providers',
        tenant.apiKey,
        {
          name: 'nul-region',
          kind: 'openai',
          baseUrl: 'https://a.example',
          models: ['m'],
          region: nul,
        },
      ],
      () => list('/v1/providers?limit=100', tenant.apiKey),
    ],
    [
      'a provider model with NUL',
      () => ['PATCH', `/v1/providers/${providerId}`, tenant.apiKey, { models: [nul] }],
      () => list('/v1/providers?limit=100', tenant.apiKey),
    ],
    [
      'a provider default query with NUL',
      () => ['PATCH', `/v1/providers/${providerId}`, tenant.apiKey, { defaultQuery: { v: nul } }],
      () => list('/v1/providers?limit=100', tenant.apiKey),
    ],
  ])('refuses %s with 400', async (_label, request, state) => {
    const before = await state();
    const [method, path, token, body] = request();
    const answer = await server.request(method, path, { token, body });
    expectError(answer, 400, null);
    await expectStillServing();
    expect(await state()).toEqual(before);
  });

  it.each([
    ['chat', '/v1/chat/completions', { messages: [{ role: 'user', content: 'hi' }] }],
    ['embeddings', '/v1/embeddings', { input: 'hi' }],
  ])('answers a %s model id with NUL with a 4xx', async (_label, path, rest) => {
    for (const model of ['local/extr\u0000active', 'acme\u0000/m']) {
      const answer = await server.request('POST', path, {
        token: tenant.apiKey,
        body: { model, ...rest },
      });
      expect([400, 404], JSON.stringify(answer.body)).toContain(answer.status);
      expectError(answer, answer.status, null, /model/);
    }
    await expectStillServing();
  });

  it("does not let one tenant's unmeterable request fail another tenant's requests", async () => {
    // Usage records of concurrent requests share one database transaction (group commit); a record
    // that cannot be written must not take the others down with it.
    const bystander = await server.createTenant('bystander');
    const good = () =>
      server.request('POST', '/v1/embeddings', {
        token: bystander.apiKey,
        body: { model: 'local/hash-embed', input: 'hello' },
      });
    const bad = () =>
      server.request('POST', '/v1/embeddings', {
        token: tenant.apiKey,
        body: { model: 'local/no\u0000such', input: 'hello' },
      });
    const answers = await Promise.all(
      Array.from({ length: 30 }, (_, i) => (i % 3 === 0 ? bad() : good())),
    );
    const goodStatuses = answers.filter((_, i) => i % 3 !== 0).map((a) => a.status);
    const badStatuses = answers.filter((_, i) => i % 3 === 0).map((a) => a.status);
    expect(goodStatuses).toEqual(goodStatuses.map(() => 200));
    const usage = await server.request('GET', '/v1/usage', { token: bystander.apiKey });
    expect(usage.body.totals).toMatchObject({ requests: goodStatuses.length, errors: 0 });
    for (const status of badStatuses) expect([400, 404]).toContain(status);
    await expectStillServing();
  });
});

describe('the gateway', () => {
  const chat = (body: Record<string, unknown>) =>
    server.request('POST', '/v1/chat/completions', { token: tenant.apiKey, body });
  const hi = [{ role: 'user', content: 'hi' }];

  it.each([
    ['an unknown provider', 'nope/gpt-9'],
    ['an unknown local model', 'local/gpt-9'],
    ['a model id without a slash', 'gpt-4o'],
    ['a model id ending in a slash', 'local/'],
    ['a model id starting with a slash', '/extractive'],
    ["a model the tenant's provider does not list", 'existing/not-listed'],
  ])('answers 404 BK_MODEL_NOT_FOUND for %s', async (_label, model) => {
    const answer = await chat({ model, messages: hi });
    expectError(answer, 404, 'BK_MODEL_NOT_FOUND');
    expect(answer.body.error.message).toContain(`'${model}'`);
    expect(answer.body.error.param).toBe('model');
    const embeddings = await server.request('POST', '/v1/embeddings', {
      token: tenant.apiKey,
      body: { model, input: 'hi' },
    });
    expectError(embeddings, 404, 'BK_MODEL_NOT_FOUND');
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['empty messages', { messages: [] }, 'messages'],
    ['temperature 5', { messages: hi, temperature: 5 }, 'temperature'],
    ['negative temperature', { messages: hi, temperature: -1 }, 'temperature'],
    ['temperature as a string', { messages: hi, temperature: 'hot' }, 'temperature'],
    ['a huge n', { messages: hi, n: 1_000_000 }, 'n'],
    ['n of zero', { messages: hi, n: 0 }, 'n'],
    ['top_p above 1', { messages: hi, top_p: 1.5 }, 'top_p'],
    ['a fractional max_tokens', { messages: hi, max_tokens: 1.5 }, 'max_tokens'],
    ['a negative max_tokens', { messages: hi, max_tokens: -5 }, 'max_tokens'],
    ['five stop sequences', { messages: hi, stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop'],
    ['an unknown role', { messages: [{ role: 'wizard', content: 'hi' }] }, 'messages.0.role'],
    ['a message that is a string', { messages: ['hi'] }, 'messages.0'],
    ['stream as a string', { messages: hi, stream: 'yes' }, 'stream'],
    ['an empty model', { model: '', messages: hi }, 'model'],
    ['an over-long model', { model: `local/${'x'.repeat(300)}`, messages: hi }, 'model'],
  ])('refuses %s with 400 naming the parameter', async (_label, body, param) => {
    const answer = await chat({ model: 'local/extractive', ...body });
    expectError(answer, 400, 'BK_VALIDATION_FAILED', new RegExp(param.split('.')[0]!));
    expect(answer.body.error.param).toBe(param);
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['an empty input list', { input: [] }, 'input'],
    ['zero dimensions', { input: 'hi', dimensions: 0 }, 'dimensions'],
    ['an unknown encoding', { input: 'hi', encoding_format: 'hex' }, 'encoding_format'],
    ['mixed input types', { input: ['hi', 3] }, 'input'],
  ])('refuses embeddings with %s', async (_label, body, param) => {
    const answer = await server.request('POST', '/v1/embeddings', {
      token: tenant.apiKey,
      body: { model: 'local/hash-embed', ...body },
    });
    expectError(answer, 400, null, new RegExp(param));
  });

  it('refuses the wrong operation for a model with 400', async () => {
    expectError(
      await chat({ model: 'local/hash-embed', messages: hi }),
      400,
      'BK_UNSUPPORTED_OPERATION',
      /chat/,
    );
    expectError(
      await server.request('POST', '/v1/embeddings', {
        token: tenant.apiKey,
        body: { model: 'local/extractive', input: 'hi' },
      }),
      400,
      'BK_UNSUPPORTED_OPERATION',
      /embeddings/,
    );
  });
});

describe('query strings, paths and routes', () => {
  const listPaths = () => [
    ['/v1/keys', tenant.apiKey],
    ['/v1/users', tenant.apiKey],
    ['/v1/providers', tenant.apiKey],
    ['/v1/admin/tenants', server.adminToken],
  ];

  it.each([
    ['limit=0', 'limit'],
    ['limit=abc', 'limit'],
    ['limit=101', 'limit'],
    ['limit=1.5', 'limit'],
    ['limit=-1', 'limit'],
    ['limit=1&limit=2', 'limit'],
    [`after=${'a'.repeat(65)}`, 'after'],
    ['after=', 'after'],
    [`after=${encodeURIComponent('key_\u0000')}`, 'after'],
    ['bogus=1', 'bogus'],
  ])('refuses ?%s with 400', async (query, names) => {
    for (const [path, token] of listPaths()) {
      const answer = await server.request('GET', `${path}?${query}`, { token });
      expectError(answer, 400, 'BK_VALIDATION_FAILED', new RegExp(names));
    }
    await expectStillServing();
  });

  it.each([
    ['from=yesterday', 'from'],
    ['from=2030-01-02T00:00:00Z&to=2030-01-01T00:00:00Z', 'from'],
    ['to=1', 'to'],
  ])('refuses the usage query ?%s with 400', async (query, names) => {
    const answer = await server.request('GET', `/v1/usage?${query}`, { token: tenant.apiKey });
    expectError(answer, 400, 'BK_VALIDATION_FAILED', new RegExp(names));
  });

  it.each([
    ['an unknown key', () => '/v1/keys/key_00000000000000000000000000'],
    ['a malformed key id', () => '/v1/keys/%E2%9C%93'],
    ['a key id with NUL', () => `/v1/keys/${encodeURIComponent('key_\u0000')}`],
    ['a user id with NUL', () => `/v1/users/${encodeURIComponent('usr_\u0000')}`],
    ['a provider id with NUL', () => `/v1/providers/${encodeURIComponent('prv_\u0000')}`],
    [
      'an operator key id with NUL',
      () => `/v1/admin/tenants/${tenant.id}/keys/${encodeURIComponent('key_\u0000')}`,
    ],
  ])('answers a path with %s with a 4xx', async (_label, path) => {
    const token = path().startsWith('/v1/admin') ? server.adminToken : tenant.apiKey;
    for (const method of ['GET', 'DELETE']) {
      if (method === 'GET' && path().startsWith('/v1/admin')) continue;
      const answer = await server.request(method, path(), { token });
      expect([400, 404], JSON.stringify(answer.body)).toContain(answer.status);
      expectError(answer, answer.status, null);
    }
    await expectStillServing();
  });

  it.each([
    ['GET', '/v1/nope'],
    ['POST', '/v1/completions'],
    ['DELETE', '/v1/chat/completions'],
    ['GET', '/v2/models'],
    ['GET', '/'],
  ])('answers %s %s with a JSON 404', async (method, path) => {
    const answer = await server.request(method, path, { token: tenant.apiKey });
    expectError(answer, 404, 'BK_NOT_FOUND', /No route/);
  });
});

describe('providers', () => {
  const providerBody = (overrides: Record<string, unknown>) => ({
    name: 'candidate',
    kind: 'openai',
    baseUrl: 'https://api.example.com/v1',
    models: ['m'],
    ...overrides,
  });
  const providers = () => list('/v1/providers?limit=100', tenant.apiKey);

  it.each([
    'ftp://files.example.com/',
    'file:///etc/passwd',
    'javascript:alert(1)',
    'not a url',
    '//api.example.com/v1',
    'gopher://api.example.com:70/',
    'http://',
  ])('refuses the baseUrl %s with 400', async (baseUrl) => {
    const before = await providers();
    const created = await server.request('POST', '/v1/providers', {
      token: tenant.apiKey,
      body: providerBody({ baseUrl }),
    });
    expectError(created, 400, 'BK_VALIDATION_FAILED', /baseUrl/);
    expect(created.body.error.param).toBe('baseUrl');
    const patched = await server.request('PATCH', `/v1/providers/${providerId}`, {
      token: tenant.apiKey,
      body: { baseUrl },
    });
    expectError(patched, 400, 'BK_VALIDATION_FAILED', /baseUrl/);
    expect(await providers()).toEqual(before);
  });

  it.each([
    'http://127.0.0.1:11434/v1',
    'http://127.1.2.3/v1',
    'http://localhost:8000/v1',
    'http://LOCALHOST/v1',
    'http://localhost./v1',
    'http://api.localhost/v1',
    'http://[::1]:8000/v1',
    'http://[::ffff:127.0.0.1]/v1',
    'http://0x7f000001/v1',
    'http://2130706433/v1',
    'http://0.0.0.0/v1',
    'http://10.1.2.3/v1',
    'http://172.16.0.1/v1',
    'http://192.168.1.1/v1',
    'http://169.254.169.254/latest/meta-data',
    'http://[fd00::1]/v1',
    'http://[fe80::1]/v1',
  ])('refuses the private baseUrl %s (private upstreams not allowed)', async (baseUrl) => {
    const before = await providers();
    const created = await server.request('POST', '/v1/providers', {
      token: tenant.apiKey,
      body: providerBody({ baseUrl }),
    });
    expectError(created, 400, 'BK_VALIDATION_FAILED', /baseUrl/);
    expect(created.body.error.param).toBe('baseUrl');
    const patched = await server.request('PATCH', `/v1/providers/${providerId}`, {
      token: tenant.apiKey,
      body: { baseUrl },
    });
    expectError(patched, 400, 'BK_VALIDATION_FAILED', /baseUrl/);
    expect(await providers()).toEqual(before);
  });

  it.each<[string, Record<string, unknown>, string]>([
    ["the name 'local'", { name: 'local' }, 'name'],
    ['an upper-case name', { name: 'Acme' }, 'name'],
    ['a name with a slash', { name: 'a/b' }, 'name'],
    ['an unknown kind', { kind: 'azure' }, 'kind'],
    ['an unknown key header', { apiKeyHeader: 'cookie' }, 'apiKeyHeader'],
    ['no models', { models: [] }, 'models'],
    ['a model with a space', { models: ['gpt 4'] }, 'models'],
    ['an empty api key', { apiKey: '' }, 'apiKey'],
  ])('refuses %s with 400', async (_label, overrides, param) => {
    const before = await providers();
    const answer = await server.request('POST', '/v1/providers', {
      token: tenant.apiKey,
      body: providerBody(overrides),
    });
    expectError(answer, 400, 'BK_VALIDATION_FAILED', new RegExp(param));
    expect(answer.body.error.param).toMatch(new RegExp(`^${param}`));
    expect(await providers()).toEqual(before);
  });

  it('answers a duplicate name with 409 and leaves the first provider intact', async () => {
    const original = await server.request('GET', `/v1/providers/${providerId}`, {
      token: tenant.apiKey,
    });
    expect(original.status).toBe(200);
    const before = await providers();
    const duplicate = await server.request('POST', '/v1/providers', {
      token: tenant.apiKey,
      body: providerBody({
        name: 'existing',
        kind: 'anthropic',
        baseUrl: 'https://elsewhere.example.com',
        apiKey: 'sk-duplicate',
        models: ['other'],
      }),
    });
    expectError(duplicate, 409, 'BK_CONFLICT', /existing/);
    expect(duplicate.body.error.param).toBe('name');
    expect(await providers()).toEqual(before);
    const after = await server.request('GET', `/v1/providers/${providerId}`, {
      token: tenant.apiKey,
    });
    expect(after.body).toEqual(original.body);
  });
});

describe('after all of the above', () => {
  it('the server still answers', async () => {
    await expectStillServing();
    expect((await server.request('GET', '/v1/models', { token: tenant.apiKey })).status).toBe(200);
  });
});
