/**
 * The dev server's auth methods, as {@link BackendFactory}s keyed by mount type (`approle`, `userpass`, `jwt`,
 * `oidc` (JWT login only), `kubernetes`, `cert`). The framework's registry mounts them via `POST /sys/auth/:path`.
 */
import type { BackendFactory } from '../../backend.js';
import { createAppRoleBackend } from './approle.js';
import { createCertBackend } from './cert.js';
import { createJwtBackend } from './jwt.js';
import { createKubernetesBackend } from './kubernetes.js';
import { createUserpassBackend } from './userpass.js';

export { createAppRoleBackend, INVALID_CREDENTIALS } from './approle.js';
export { createCertBackend, INVALID_CERTIFICATE } from './cert.js';
export { createJwtBackend } from './jwt.js';
export { createKubernetesBackend } from './kubernetes.js';
export { createUserpassBackend, INVALID_USER_OR_PASSWORD } from './userpass.js';

/** Auth-method factories keyed by mount type. */
export const authBackendFactories: Readonly<Record<string, BackendFactory>> = {
  approle: createAppRoleBackend,
  userpass: createUserpassBackend,
  jwt: (context) => createJwtBackend(context, 'jwt'),
  oidc: (context) => createJwtBackend(context, 'oidc'),
  kubernetes: createKubernetesBackend,
  cert: createCertBackend,
};
