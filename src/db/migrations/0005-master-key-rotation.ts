import { OPERATOR_ROLE } from '../roles.ts';

/** Rotating the master key re-wraps every tenant's data key: operators update those rows. */
export const masterKeyRotation = {
  id: '0005-master-key-rotation',
  sql: `grant update (wrapped_key) on tenant_data_keys to ${OPERATOR_ROLE};`,
};
