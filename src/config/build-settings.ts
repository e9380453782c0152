import { z } from 'zod';

/** What reaches image builds from the user's network: a CA bundle to trust and proxies. */
export const buildSettingsSchema = z
  .object({
    /** PEM bundle trusted by pip/conda during builds; default: the host's trust store. "none": only the image's own. */
    caFile: z.string().min(1).optional(),
    /** Default: the HTTP(S)_PROXY / NO_PROXY of the process that builds. */
    httpProxy: z.string().optional(),
    httpsProxy: z.string().optional(),
    noProxy: z.string().optional(),
  })
  .strict();
export type BuildSettings = z.infer<typeof buildSettingsSchema>;
