/**
 * How an object is cut into the parts of an S3 multipart upload. A single PUT holds at most
 * 5 GiB, so anything above the part size goes in parts (laptop push and cluster outputs alike);
 * a part is retried or resumed alone instead of the whole object starting over.
 */

/** Default part size: few enough requests for a large object, small enough to redo one cheaply. */
export const DEFAULT_PART_SIZE = 64 * 2 ** 20;
/** S3's limits: parts but the last at least 5 MiB, at most 10,000 parts, a single PUT at most 5 GiB. */
export const MIN_PART_SIZE = 5 * 2 ** 20;
export const MAX_PARTS = 10_000;
export const MAX_SINGLE_PUT = 5 * 2 ** 30;
/** Overrides the part size (bytes), read where transfers are planned: tests force multipart with small files. */
export const PART_SIZE_ENV = 'REPRISE_DATA_PART_SIZE';

/** The part size in effect: the environment's override when it is a positive integer, else the default. */
export function partSize(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[PART_SIZE_ENV];
  if (raw === undefined || raw === '') return DEFAULT_PART_SIZE;
  if (!/^[1-9][0-9]*$/.test(raw)) throw new Error(`${PART_SIZE_ENV}=${raw} is not a byte count; give a positive integer (e.g. ${MIN_PART_SIZE}) or unset it`);
  return Number(raw);
}

/** Whether an object of `size` bytes goes in parts: above one part, and always above a single PUT's limit. */
export function isMultipart(size: number, part = partSize()): boolean {
  return size > part || size > MAX_SINGLE_PUT;
}

/** One part: its 1-based number, its first byte's offset, and its length. */
export interface Part {
  number: number;
  start: number;
  length: number;
}

/**
 * The parts of an object of `size` bytes: `part` bytes each but the last, which holds the rest.
 * A size that would need more than 10,000 parts gets larger parts (whole MiB) instead.
 */
export function planParts(size: number, part = partSize()): Part[] {
  if (!Number.isSafeInteger(size) || size < 0) throw new Error(`cannot plan parts for ${size} bytes`);
  if (!Number.isSafeInteger(part) || part <= 0) throw new Error(`a part size of ${part} bytes is not one`);
  let each = part;
  if (Math.ceil(size / each) > MAX_PARTS) each = Math.ceil(size / MAX_PARTS / 2 ** 20) * 2 ** 20;
  const parts: Part[] = [];
  for (let start = 0, number = 1; start < size || number === 1; start += each, number++) {
    parts.push({ number, start, length: Math.min(each, size - start) });
    if (size === 0) break;
  }
  return parts;
}

/**
 * An ETag as a store sent it (a header's value, maybe quoted, maybe with a CR or `W/`): its bare
 * token, or undefined when it is not one. Multipart ETags (`<hex>-<parts>`) are not an md5 of the
 * bytes, so nothing here treats an ETag as a digest.
 */
export function parseEtag(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  const bare = raw
    .trim()
    .replace(/^W\//, '')
    .replace(/^"(.*)"$/, '$1')
    .trim();
  return /^[A-Za-z0-9+/=_-]{1,200}$/.test(bare) ? bare : undefined;
}
