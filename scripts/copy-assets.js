// Files the compiled code reads at run time but tsc does not emit: src/lab/assets/ (the Python
// files of the lab image) go next to dist/lab/image.js, where it finds them.
import { cp } from 'node:fs/promises';

await cp(new URL('../src/lab/assets/', import.meta.url), new URL('../dist/lab/assets/', import.meta.url), { recursive: true });
