/** An image as runs record it and backends receive it. */
export interface ImageRef {
  /** The local engine's image id (sha256:…): what a run records as Reprise-Image. */
  digest: string;
  /** The human tag (reprise/<project>:<hash12>), when there is one. */
  tag?: string;
  /** The image pinned in a registry (`<registry>/<repo>@sha256:<manifest digest>`), when pushed. */
  reference?: string;
}
