import { backendUnavailable, errorMessage, type RepriseError } from '../../errors.js';

/** What an S3 SDK error carries that tells the cases apart. */
interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

const unreachableCodes = /^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNRESET|EHOSTUNREACH|ENETUNREACH|EPIPE)$/;
const refusedNames = /^(InvalidAccessKeyId|SignatureDoesNotMatch|AccessDenied|Forbidden|InvalidToken|ExpiredToken|AuthorizationHeaderMalformed)$/;

/**
 * An object store failure as the user's one-line error (exit 3, like an unreachable backend):
 * unreachable, credentials refused, bucket missing, object missing. `store` is the s3:// URL,
 * `object` what was asked for (key and the project path it backs), when it was one object.
 */
export function storeError(err: unknown, store: string, endpoint: string | undefined, object?: string): RepriseError {
  const e = (err ?? {}) as SdkError;
  const status = e.$metadata?.httpStatusCode;
  // Answers to HEAD have no body: the SDK then names the error "Unknown", and only the status tells.
  const name = e.name === 'Unknown' ? '' : (e.name ?? '');
  const where = endpoint ? ` at ${endpoint}` : '';
  if (name === 'CredentialsProviderError') {
    return backendUnavailable(`no credentials for the data store ${store}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE with a profile in ~/.aws/credentials`, err);
  }
  if (name === 'NoSuchBucket') return backendUnavailable(`the bucket of ${store} does not exist${where}; create it or fix the URL (reprise data remote set)`, err);
  if (refusedNames.test(name) || status === 401 || status === 403) {
    return backendUnavailable(`the data store ${store}${where} refused your credentials (${name || `HTTP ${status}`}); check AWS_ACCESS_KEY_ID/AWS_PROFILE and that they may ${object ? 'read and write' : 'use'} this bucket`, err);
  }
  if (object && (name === 'NoSuchKey' || name === 'NotFound' || status === 404)) {
    return backendUnavailable(`${object} is missing from the data store ${store}; push it from a clone that has it (reprise data push)`, err);
  }
  if (status === undefined || unreachableCodes.test(e.code ?? '') || name === 'TimeoutError') {
    return backendUnavailable(`the data store ${store} is unreachable${where} (${e.code ?? (errorMessage(err).split('\n')[0] || name)}); check the endpoint (reprise data remote show) and your network`, err);
  }
  return backendUnavailable(`the data store ${store}${where} failed: ${name || `HTTP ${status}`}: ${errorMessage(err).split('\n')[0]}`, err);
}
