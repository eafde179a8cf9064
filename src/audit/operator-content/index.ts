import type { App, AppDeps } from '../../http/app-types.ts';
import { registerOperatorApprovalRoutes } from './approvals.ts';
import { registerOperatorKnowledgeRoutes } from './knowledge.ts';
import { registerOperatorThreadRoutes } from './threads.ts';

/**
 * Operators read tenants' documents, threads and held requests redacted by default; plain text
 * only under the tenant's grant for that scope, and every such read lands in the tenant's trail.
 */
export function registerOperatorContentRoutes(app: App, deps: AppDeps): void {
  registerOperatorKnowledgeRoutes(app, deps);
  registerOperatorThreadRoutes(app, deps);
  registerOperatorApprovalRoutes(app, deps);
}
