import { z } from 'zod';

/** How a user names a backend (config.yaml keys, `--on`, pool members). */
export const backendName = z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'backend names are lowercase letters, digits and dashes');

/** host[:port][/path]: where built images are pushed and pulled by digest. */
export const registryUrl = z
  .string()
  .regex(/^[a-zA-Z0-9.-]+(:\d+)?(\/[a-z0-9._-]+)*$/, 'a registry such as registry.example.com/team or 127.0.0.1:5000 (no scheme)');
