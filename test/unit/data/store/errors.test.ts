import { describe, expect, it } from 'vitest';
import { storeError } from '../../../../src/data/store/errors.js';

const store = 's3://b/p';
const endpoint = 'http://127.0.0.1:9';

describe('storeError', () => {
  it.each([
    [{ name: 'Error', code: 'ECONNREFUSED' }, /^the data store s3:\/\/b\/p is unreachable at http:\/\/127.0.0.1:9 \(ECONNREFUSED\); check the endpoint/],
    [{ name: 'InvalidAccessKeyId', $metadata: { httpStatusCode: 403 } }, /^the data store s3:\/\/b\/p at http:\/\/127.0.0.1:9 refused your credentials \(InvalidAccessKeyId\)/],
    [{ name: 'AccessDenied', $metadata: { httpStatusCode: 403 } }, /refused your credentials \(AccessDenied\)/],
    [{ name: 'NoSuchBucket', $metadata: { httpStatusCode: 404 } }, /^the bucket of s3:\/\/b\/p does not exist at http:\/\/127.0.0.1:9; create it or fix the URL/],
    [{ name: 'CredentialsProviderError' }, /^no credentials for the data store s3:\/\/b\/p: set AWS_ACCESS_KEY_ID/],
  ])('%o → one line, exit 3', (err, message) => {
    const e = storeError(err, store, endpoint);
    expect(e.message).toMatch(message);
    expect(e.message).not.toContain('\n');
    expect(e.exitCode).toBe(3);
  });

  it('a missing object is named with the path it backs', () => {
    const e = storeError({ name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } }, store, undefined, 'object p/files/md5/ab/cd (input/a.csv)');
    expect(e.message).toBe('object p/files/md5/ab/cd (input/a.csv) is missing from the data store s3://b/p; push it from a clone that has it (reprise data push)');
    expect(e.exitCode).toBe(3);
  });
});

describe('storeError on a HEAD answer (no body to name the error)', () => {
  it('says the HTTP status instead of the SDK\'s "Unknown"', () => {
    expect(storeError({ name: 'Unknown', $metadata: { httpStatusCode: 403 } }, store, endpoint).message).toMatch(/refused your credentials \(HTTP 403\)/);
  });
});
