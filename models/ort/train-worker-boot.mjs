// Worker-thread bootstrap: registers tsx in this thread, then loads the TypeScript training worker.
import { register } from 'tsx/esm/api';

register();
await import('./train-worker.ts');
