import { describe, expect, it } from 'vitest';
import { openPglite } from './backend.ts';

describe('the PGlite backend', () => {
  it('counts rows like pg does: returned rows for a SELECT, affected rows for a write', async () => {
    const backend = await openPglite(null);
    const session = await backend.acquire();
    try {
      await session.script('create table t (x int); insert into t values (1), (2), (3);');
      expect((await session.query('select * from t', [])).rowCount).toBe(3);
      expect((await session.query('update t set x = x + 1 where x > $1', [1])).rowCount).toBe(2);
      expect((await session.query('delete from t where x > $1', [100])).rowCount).toBe(0);
    } finally {
      session.release();
      await backend.close();
    }
  });

  it('hands the single connection to one caller at a time, in order', async () => {
    const backend = await openPglite(null);
    const order: string[] = [];
    const first = await backend.acquire();
    const second = backend.acquire().then((s) => {
      order.push('second');
      s.release();
    });
    await new Promise((r) => setTimeout(r, 20));
    order.push('first releases');
    first.release();
    await second;
    expect(order).toEqual(['first releases', 'second']);
    await backend.close();
  });
});
