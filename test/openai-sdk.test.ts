import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBulkhead, type RunningBulkhead, type TestTenant } from './support/bulkhead-server.ts';

let server: RunningBulkhead;
let tenant: TestTenant;
let client: OpenAI;

beforeAll(async () => {
  server = await startBulkhead();
  tenant = await server.createTenant('sdk');
  client = server.openai(tenant.apiKey);
});
afterAll(() => server.close());

const context =
  'Bulkhead keeps every tenant in its own row-level-security scope. The embedded database is PGlite. ' +
  'Usage is written with group commit so nothing acknowledged is lost. The weather is irrelevant here.';

describe('the official openai SDK against Bulkhead', () => {
  it('creates a chat completion with the local extractive model', async () => {
    const completion = await client.chat.completions.create({
      model: 'local/extractive',
      messages: [
        { role: 'system', content: context },
        { role: 'user', content: 'Which embedded database does Bulkhead use?' },
      ],
    });
    expect(completion.object).toBe('chat.completion');
    expect(completion.model).toBe('local/extractive');
    expect(completion.choices[0]?.message.content).toContain('PGlite');
    expect(completion.choices[0]?.message.content).not.toContain('weather');
    expect(completion.usage?.prompt_tokens).toBeGreaterThan(10);
    expect(completion.usage?.total_tokens).toBe(
      (completion.usage?.prompt_tokens ?? 0) + (completion.usage?.completion_tokens ?? 0),
    );
  });

  it('streams a chat completion and reports usage when asked', async () => {
    const stream = await client.chat.completions.create({
      model: 'local/extractive',
      messages: [
        { role: 'system', content: context },
        { role: 'user', content: 'How is usage written?' },
      ],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage: OpenAI.CompletionUsage | null | undefined;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usage = chunk.usage;
      expect(chunk.model).toBe('local/extractive');
    }
    expect(chunks).toBeGreaterThan(2);
    expect(text).toContain('group commit');
    expect(usage?.completion_tokens).toBeGreaterThan(0);
  });

  it('does not send usage in a stream unless asked', async () => {
    const stream = await client.chat.completions.create({
      model: 'local/extractive',
      messages: [{ role: 'user', content: 'hello there' }],
      stream: true,
    });
    for await (const chunk of stream) expect(chunk.usage ?? null).toBeNull();
  });

  it('creates embeddings (the SDK asks for base64 and decodes it)', async () => {
    const result = await client.embeddings.create({
      model: 'local/hash-embed',
      input: [
        'tenant isolation in the database',
        'tenant isolation in databases',
        'a recipe for soup',
      ],
    });
    expect(result.data).toHaveLength(3);
    const [a, b, c] = result.data.map((d) => d.embedding);
    expect(a).toHaveLength(384);
    const dot = (x: number[], y: number[]) => x.reduce((s, v, i) => s + v * y[i]!, 0);
    expect(dot(a!, a!)).toBeCloseTo(1, 4);
    expect(dot(a!, b!)).toBeGreaterThan(dot(a!, c!));
    expect(result.usage.prompt_tokens).toBeGreaterThan(0);
  });

  it('returns float embeddings when asked, with the requested dimensions', async () => {
    const result = await client.embeddings.create({
      model: 'local/hash-embed',
      input: 'hello',
      encoding_format: 'float',
      dimensions: 64,
    });
    expect(result.data[0]?.embedding).toHaveLength(64);
  });

  it('lists the models this tenant may use', async () => {
    const models = await client.models.list();
    const ids = models.data.map((m) => m.id);
    expect(ids).toEqual(expect.arrayContaining(['local/extractive', 'local/hash-embed']));
    const one = await client.models.retrieve('local/extractive');
    expect(one.id).toBe('local/extractive');
  });

  it('gets a proper APIError for an unknown model', async () => {
    const error = await client.chat.completions
      .create({ model: 'nope/gpt-9', messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.NotFoundError);
    expect((error as InstanceType<typeof OpenAI.APIError>).code).toBe('BK_MODEL_NOT_FOUND');
    expect((error as InstanceType<typeof OpenAI.APIError>).message).toContain('nope/gpt-9');
  });

  it('gets a proper APIError for an invalid request', async () => {
    const error = await client.chat.completions
      .create({ model: 'local/extractive', messages: [], temperature: 9 } as never)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as InstanceType<typeof OpenAI.APIError>).type).toBe('invalid_request_error');
    expect((error as InstanceType<typeof OpenAI.APIError>).message).toMatch(/messages/);
  });

  it('gets an AuthenticationError for a wrong key', async () => {
    const error = await server
      .openai(`${tenant.apiKey.slice(0, -4)}AAAA`)
      .models.list()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.AuthenticationError);
  });
});
