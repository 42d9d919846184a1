import { defineRotatingPrismaSuite } from './rotating-prisma.suite.js';

defineRotatingPrismaSuite('soak');
