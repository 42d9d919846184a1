/**
 * The dev server's `database` secrets engine (PostgreSQL only). Register it as `secretEngines.database`.
 */
export { DatabaseBackend, databaseBackend, POSTGRES_PLUGIN_NAME } from './backend.js';
export { generateDatabasePassword } from './password.js';
export {
  DEFAULT_POSTGRES_USERNAME_TEMPLATE,
  TemplateError,
  type UsernameMetadata,
  UsernameTemplate,
} from './template.js';
