import { defineRotatingKnexSuite } from './rotating-knex.suite.js';

defineRotatingKnexSuite('soak');
