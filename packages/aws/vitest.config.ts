import { defineLeaseholdConfig } from '@leasehold/vitest-preset';

export default defineLeaseholdConfig({ postgres: true });
