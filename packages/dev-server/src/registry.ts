/**
 * The engines the dev server can mount. `sys/mounts` accepts any key of {@link secretEngines} as a `type`
 * (plus `kv-v2`, an alias of `kv` with `version: "2"`), and `sys/auth` any key of {@link authMethods}
 * (the `token` method is built in). Engines register themselves here by adding one line each.
 */
import { createAwsBackend } from './backends/auth/aws.js';
import { createAzureBackend } from './backends/auth/azure.js';
import { createGcpBackend } from './backends/auth/gcp.js';
import {
  createAppRoleBackend,
  createCertBackend,
  createJwtBackend,
  createKubernetesBackend,
  createUserpassBackend,
} from './backends/auth/index.js';
import { databaseBackend } from './backends/database/index.js';
import { kvBackend } from './backends/kv/index.js';
import { pkiBackendFactory } from './backends/pki/index.js';
import { transitBackendFactory } from './backends/transit/index.js';
import type { BackendFactory } from './sdk/index.js';

/** Secrets engines by mount type. */
export const secretEngines: Record<string, BackendFactory> = {
  kv: kvBackend,
  generic: kvBackend,
  transit: transitBackendFactory,
  pki: pkiBackendFactory,
  database: databaseBackend,
};

/** Auth methods by mount type. */
export const authMethods: Record<string, BackendFactory> = {
  approle: createAppRoleBackend,
  userpass: createUserpassBackend,
  jwt: (context) => createJwtBackend(context, 'jwt'),
  oidc: (context) => createJwtBackend(context, 'oidc'),
  kubernetes: createKubernetesBackend,
  cert: createCertBackend,
  aws: createAwsBackend,
  gcp: createGcpBackend,
  azure: createAzureBackend,
};
