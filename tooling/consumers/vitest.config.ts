import { defineLeaseholdConfig } from '@leasehold/vitest-preset';

// Unit tests of the tarball check only; the consumer programs run in `pnpm test:consumers`, not here.
export default defineLeaseholdConfig();
