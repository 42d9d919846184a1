import { defineDatabaseSuite } from './database.suite.js';

defineDatabaseSuite('main');
