/**
 * Errors the handlers raise on purpose, and the one place that turns any error into a response (Fastify's
 * own errors before routing included: app.ts hands them here).
 */
import type { Readable } from 'node:stream';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';

/** An answer other than 2xx, with the offending field when there is one. */
export class HttpError extends Error {
  override readonly name = 'HttpError';

  constructor(
    readonly statusCode: number,
    message: string,
    readonly field?: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export interface ErrorBody {
  statusCode: number;
  error: string;
  field?: string;
}

/** The part of the request each of Fastify's own client errors is about. */
const FRAMEWORK_ERROR_FIELDS: Record<string, string> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'body',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'body',
  FST_ERR_CTP_BODY_TOO_LARGE: 'body',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'headers.content-type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'headers.content-length',
  FST_ERR_BAD_URL: 'url',
  FST_ERR_MAX_PARAM_LENGTH: 'params',
};

/** body.pixels.3 from the validation context and the JSON pointer of the issue. */
function fieldPath(context: string | undefined, instancePath: string): string {
  const parts = instancePath.split('/').filter((p) => p !== '');
  return [context ?? 'body', ...parts].join('.');
}

export function errorHandler(error: FastifyError | HttpError | Error, request: FastifyRequest, reply: FastifyReply): void {
  let body: ErrorBody;
  if (hasZodFastifySchemaValidationErrors(error)) {
    const first = error.validation[0]!;
    const field = fieldPath(error.validationContext, first.instancePath);
    body = { statusCode: 400, error: `${field}: ${first.message}`, field };
  } else if (error instanceof HttpError) {
    reply.headers(error.headers);
    body = { statusCode: error.statusCode, error: error.message, ...(error.field ? { field: error.field } : {}) };
  } else {
    const status = (error as FastifyError).statusCode;
    if (status !== undefined && status >= 400 && status < 500) {
      // Fastify's own client errors: malformed JSON, a body over the limit, an unsupported media type, a bad URL.
      const field = FRAMEWORK_ERROR_FIELDS[(error as FastifyError).code];
      body = { statusCode: status, error: field ? `${field}: ${error.message}` : error.message, ...(field ? { field } : {}) };
    } else {
      request.log.error({ err: error }, 'request failed');
      body = { statusCode: 500, error: 'Internal server error' };
    }
  }
  void reply.code(body.statusCode).type('application/json; charset=utf-8').send(JSON.stringify(body));
}

/** Sends bytes, text or a stream as they are (a checkpoint, a figure, a protobuf message, JSON already written, a file). */
export function sendBytes(reply: FastifyReply, type: string, bytes: Uint8Array | string | Readable): FastifyReply {
  return reply.type(type).send(bytes);
}
