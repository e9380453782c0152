// Files the compiled code reads at run time but tsc does not emit: src/lab/assets/ (the Python
// files of the lab image) go next to dist/lab/image.js, and each lab app's own files
// (src/lab/apps/NAME/*.py) next to its compiled module, where they are found.
import { cp } from 'node:fs/promises';

await cp(new URL('../src/lab/assets/', import.meta.url), new URL('../dist/lab/assets/', import.meta.url), { recursive: true });
await cp(new URL('../src/lab/apps/', import.meta.url), new URL('../dist/lab/apps/', import.meta.url), { recursive: true, filter: (src) => !src.endsWith('.ts') });
