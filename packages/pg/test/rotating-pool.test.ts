import { defineRotatingPoolSuite } from './rotating-pool.suite.js';

defineRotatingPoolSuite('main');
