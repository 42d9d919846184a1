import { libraryConfig } from '../../tooling/tsconfig/tsup.js';

export default libraryConfig({ entry: ['src/index.ts', 'src/cli.ts'] });
