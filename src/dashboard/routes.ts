import { createRoute, z, type RouteConfig } from '@hono/zod-openapi';
import { ErrorBody } from './schemas.js';

/** The error answers a route declares besides its 200 (the OpenAPI document lists them all). */
const ERRORS = {
  400: 'the request is malformed: the message names the field',
  401: 'a write, or any read on a non-loopback dashboard, needs a session: open the login URL `reprise dashboard` printed',
  403: 'a foreign Host (DNS rebinding), a foreign Origin or a missing CSRF token',
  404: 'no such run, sweep or lab in this project',
  409: 'nothing to act on: the run, sweep or lab is not running, or every point of the sweep succeeded',
} as const;

type Request = NonNullable<RouteConfig['request']>;

const errorAnswers = (codes: (keyof typeof ERRORS)[]) =>
  Object.fromEntries(
    [...new Set<keyof typeof ERRORS>([403, ...codes])].map((code) => [code, { description: ERRORS[code], content: { 'application/json': { schema: ErrorBody } } }]),
  ) as Record<keyof typeof ERRORS, { description: string; content: { 'application/json': { schema: typeof ErrorBody } } }>;

/** A JSON route: its request, its answer's schema and the error answers it may give (always 403: the Host check). */
export function jsonRoute<M extends 'get' | 'post', Q extends Request, R extends z.ZodTypeAny>(spec: {
  method: M;
  path: string;
  summary: string;
  request?: Q;
  response: R;
  errors: (keyof typeof ERRORS)[];
}) {
  return createRoute({
    method: spec.method,
    path: spec.path,
    summary: spec.summary,
    request: spec.request ?? ({} as Q),
    responses: { 200: { description: 'OK', content: { 'application/json': { schema: spec.response } } }, ...errorAnswers(spec.errors) },
  });
}

/** What every write carries besides its session cookie (documented; checked by the server's guard). */
export const CsrfHeaders = z.object({ 'x-csrf-token': z.string().openapi({ description: "the session's CSRF token (GET /api/session)" }) });
export const jsonBody = <B extends z.ZodTypeAny>(schema: B) => ({ content: { 'application/json': { schema } }, required: true });

/** A route answering with bytes or an event stream: documented, its body not a JSON schema. */
export function rawRoute<Q extends Request>(spec: { path: string; summary: string; request: Q; contentType: string; errors: (keyof typeof ERRORS)[] }) {
  return createRoute({
    method: 'get',
    path: spec.path,
    summary: spec.summary,
    request: spec.request,
    responses: { 200: { description: 'OK', content: { [spec.contentType]: { schema: z.string() } } }, ...errorAnswers(spec.errors) },
  });
}
