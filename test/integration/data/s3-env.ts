// The object store test/infra/s3 started (SeaweedFS): its settings, and AWS credentials files
// with a writer, a read-only and an unknown identity, as a user's ~/.aws/credentials would hold them.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readInfraEnv } from '../../helpers/infra.js';

export const s3Keys = ['S3_ENDPOINT', 'S3_BUCKET', 'S3_REGION', 'S3_ACCESS_KEY', 'S3_SECRET_KEY', 'S3_READONLY_ACCESS_KEY', 'S3_READONLY_SECRET_KEY'] as const;

export interface S3Env {
  endpoint: string;
  bucket: string;
  region: string;
  /** A credentials file with profiles `writer`, `reader` (read-only) and `stranger` (unknown keys). */
  credentialsFile: string;
  /** The writer's keys as the AWS variables a user would export. */
  writerEnv: Record<string, string>;
}

export function s3Env(): S3Env {
  const v = readInfraEnv('s3', s3Keys);
  const credentialsFile = join(mkdtempSync(join(tmpdir(), 'reprise-aws-')), 'credentials');
  writeFileSync(
    credentialsFile,
    [
      `[writer]\naws_access_key_id = ${v.S3_ACCESS_KEY}\naws_secret_access_key = ${v.S3_SECRET_KEY}`,
      `[reader]\naws_access_key_id = ${v.S3_READONLY_ACCESS_KEY}\naws_secret_access_key = ${v.S3_READONLY_SECRET_KEY}`,
      `[stranger]\naws_access_key_id = RPRNOBODY00000000000\naws_secret_access_key = ${'x'.repeat(40)}`,
    ].join('\n\n') + '\n',
    { mode: 0o600 },
  );
  return {
    endpoint: v.S3_ENDPOINT,
    bucket: v.S3_BUCKET,
    region: v.S3_REGION,
    credentialsFile,
    writerEnv: { AWS_ACCESS_KEY_ID: v.S3_ACCESS_KEY, AWS_SECRET_ACCESS_KEY: v.S3_SECRET_KEY, AWS_REGION: v.S3_REGION },
  };
}
