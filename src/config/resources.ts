import { z } from 'zod';

/** Resources a run asks for; each backend maps them to its own terms. */
export interface Resources {
  cpus?: number;
  memoryBytes?: number;
  gpus?: number;
  /** The kind of GPU (`a100` of `--gpus a100:2`); absent: any GPU the backend has. Each backend maps it (slurm gres type, kubernetes gpuTypes). */
  gpuType?: string;
  timeSeconds?: number;
}

/** Beyond these no backend could give a run what it asks (a typo, or a forged input): refused at the edge. */
export const RESOURCE_LIMITS = { cpus: 1024, gpus: 64, memoryBytes: 64 * 2 ** 40, timeSeconds: 365 * 86400 } as const;

const memoryUnits: Record<string, number> = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

/** "512M", "4G", "1.5g", "1024" (bytes) → bytes. */
export function parseMemory(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)(?:i?[bB]?)$/.exec(text.trim());
  if (!m) throw new Error(`invalid memory "${text}": use a number with K, M, G or T, e.g. 4G`);
  const bytes = Math.round(Number(m[1]) * memoryUnits[m[2]!.toUpperCase()]!);
  if (bytes < 6 * 2 ** 20) throw new Error(`invalid memory "${text}": at least 6M is needed`);
  if (bytes > RESOURCE_LIMITS.memoryBytes) throw new Error(`invalid memory "${text}": at most 64T`);
  return bytes;
}

/** A GPU type as the schedulers name them (gres types, product labels): lowercase, no ":" or spaces. */
export const GPU_TYPE = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/** "2" → 2 GPUs of any kind; "a100:2" → 2 GPUs of type a100. */
export function parseGpus(text: string): { gpus: number; gpuType?: string } {
  const t = text.trim();
  const typed = /^([^:]*):([^:]*)$/.exec(t);
  const [type, count] = typed ? [typed[1]!, typed[2]!] : [undefined, t];
  if (type === '') throw new Error(`invalid gpus "${text}": name the type before ":", e.g. a100${t}`);
  if (type !== undefined && !GPU_TYPE.test(type)) {
    throw new Error(`invalid gpus "${text}": the type "${type}" must be a lowercase name (letters, digits, ".", "_", "-"), e.g. a100:2`);
  }
  if (!/^\d+$/.test(count) || Number(count) > RESOURCE_LIMITS.gpus) throw new Error(`invalid gpus "${text}": give a whole number of GPUs, at most ${RESOURCE_LIMITS.gpus}, as N or TYPE:N (e.g. 2 or a100:2)`);
  const gpus = Number(count);
  if (type === undefined) return { gpus };
  if (gpus === 0) throw new Error(`invalid gpus "${text}": a GPU type needs at least 1 GPU, e.g. ${type}:1`);
  return { gpus, gpuType: type };
}

/** The --gpus form of a request: "a100:2" or "2". */
export const formatGpus = (r: Pick<Resources, 'gpus' | 'gpuType'>): string => (r.gpuType ? `${r.gpuType}:${r.gpus ?? 0}` : String(r.gpus ?? 0));

const timeUnits: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** "90s", "30m", "1h", "1h30m", "2d", "HH:MM:SS", "MM:SS" → seconds. */
export function parseDuration(text: string): number {
  const t = text.trim();
  const clock = /^(?:(\d+):)?(\d{1,2}):(\d{2})$/.exec(t);
  let total = 0;
  if (clock) total = Number(clock[1] ?? 0) * 3600 + Number(clock[2]) * 60 + Number(clock[3]);
  else if (/^(\d+[smhd])+$/.test(t)) for (const [, n, u] of t.matchAll(/(\d+)([smhd])/g)) total += Number(n) * timeUnits[u!]!;
  else throw new Error(`invalid time "${text}": use e.g. 90s, 30m, 1h, 1h30m or HH:MM:SS`);
  // 0:00 would mean "no limit" to some schedulers: a limit is at least a second.
  if (total <= 0) throw new Error(`invalid time "${text}": give a limit of at least 1s`);
  if (total > RESOURCE_LIMITS.timeSeconds) throw new Error(`invalid time "${text}": at most 365d`);
  return total;
}

export function formatMemory(bytes: number): string {
  for (const [unit, size] of [['G', 2 ** 30], ['M', 2 ** 20], ['K', 2 ** 10]] as const) {
    if (bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return String(bytes);
}

export function formatDuration(seconds: number): string {
  const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
  return `${h}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}`;
}

/** The YAML form (project.yaml `resources:`), validated and turned into numbers. */
export const resourcesSchema = z
  .object({
    cpus: z.number().positive().max(RESOURCE_LIMITS.cpus).optional(),
    memory: z.string().optional(),
    /** N, or "TYPE:N" for GPUs of one type. */
    gpus: z
      .union([z.number().int().min(0).max(RESOURCE_LIMITS.gpus), z.string()])
      .superRefine((v, ctx) => {
        if (typeof v !== 'string') return;
        try {
          parseGpus(v);
        } catch (err) {
          ctx.addIssue({ code: z.ZodIssueCode.custom, message: (err as Error).message });
        }
      })
      .optional(),
    time: z.string().optional(),
  })
  .strict();

export type ResourcesYaml = z.infer<typeof resourcesSchema>;

export function resourcesFromYaml(r: ResourcesYaml | undefined): Resources {
  if (!r) return {};
  return {
    cpus: r.cpus,
    ...(typeof r.gpus === 'string' ? parseGpus(r.gpus) : { gpus: r.gpus }),
    memoryBytes: r.memory === undefined ? undefined : parseMemory(r.memory),
    timeSeconds: r.time === undefined ? undefined : parseDuration(r.time),
  };
}
