import type { ProjectSpec } from '../project/schema.js';

/** Files under input/ above this many bytes are tracked as data instead of committed to git. */
export const DEFAULT_AUTO_TRACK_BYTES = 50_000_000;

export const autoTrackBytes = (spec: ProjectSpec): number => spec.data?.autoTrack ?? DEFAULT_AUTO_TRACK_BYTES;
