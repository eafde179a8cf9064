import type { ResolvedModel } from './router.ts';

/** Model ids go back to the client as `provider/model`; the built-in provider already answers so. */
export function publicModel(route: ResolvedModel, upstreamModel: string | undefined): string {
  const model = upstreamModel || route.upstreamModel;
  return route.providerKind === 'local' ? model : `${route.providerName}/${model}`;
}
