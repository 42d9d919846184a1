import { libraryConfig } from '../../tooling/tsconfig/tsup.js';

export default libraryConfig();
