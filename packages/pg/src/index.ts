/**
 * @packageDocumentation
 * A drop-in pg.Pool whose connections follow Vault database credentials through every renewal and rotation.
 *
 * ```ts
 * import { createRotatingPool } from '@leasehold/pg';
 * const pool = createRotatingPool({ vault, role: 'app-rw', host, database, max: 20 });
 * await pool.query('select 1');
 * ```
 */
export {
  createRotatingPgModule,
  type RotatingPgModule,
  type RotatingPgModuleOptions,
  type RotatingPgModulePool,
  type RotatingPgSession,
} from './driver-module.js';
export {
  RotatingPoolError,
  RotatingPoolErrorCode,
  type RotatingPoolErrorOptions,
} from './errors.js';
export { validateRotatingPoolOptions } from './options.js';
export {
  AUTH_FAILURE_CODES,
  type ConnectCallback,
  createRotatingPool,
  DEFAULT_CREDENTIALS_WAIT_MS,
  DEFAULT_ROTATION_WINDOW_MS,
  PERMISSION_DENIED_CODE,
  type PoolDrainedEvent,
  type PoolRotateEvent,
  RotatingPool,
  type RotatingPoolOptions,
  type RotatingPoolSource,
  type RotatingPoolStats,
} from './pool.js';
