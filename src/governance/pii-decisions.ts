import type { Decision } from './decisions.ts';
import type { PiiAction, PiiEntity } from './pii/index.ts';

export function label(entity: PiiEntity): string {
  return entity.replaceAll('_', ' ');
}

/** Tallies what a redactor found over several texts, for the decisions of one request. */
export class PiiTally {
  readonly found = new Map<PiiEntity, number>();
  readonly blocked = new Set<PiiEntity>();

  add(result: { found: Partial<Record<PiiEntity, number>>; blocked: readonly PiiEntity[] }): void {
    for (const [entity, count] of Object.entries(result.found) as [PiiEntity, number][])
      this.found.set(entity, (this.found.get(entity) ?? 0) + count);
    for (const entity of result.blocked) this.blocked.add(entity);
  }

  /** One decision per entity the policy acts on: `pii.<direction>.<entity>`, redacted or blocked. */
  decisions(
    direction: 'input' | 'output',
    actions: Partial<Record<PiiEntity, PiiAction>>,
  ): Decision[] {
    const where = direction === 'input' ? 'the input' : 'the response';
    const decisions: Decision[] = [];
    for (const [entity, count] of this.found) {
      const action = actions[entity] ?? 'allow';
      if (action === 'allow') continue;
      decisions.push({
        rule: `pii.${direction}.${entity}`,
        outcome: this.blocked.has(entity) ? 'blocked' : 'redacted',
        reason:
          action === 'block'
            ? `${where} contains ${label(entity)}`
            : `${count} ${label(entity)} value(s) redacted from ${where}`,
      });
    }
    return decisions;
  }
}
