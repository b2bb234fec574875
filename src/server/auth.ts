/** The bearer token that guards creating, cancelling and deleting when FASTMLP_TOKEN is set. */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { HttpError } from './errors.js';

const digest = (text: string) => createHash('sha256').update(text).digest();

/** A preHandler: 401 unless the request carries the token (compared in constant time). */
export function requireToken(token: string | undefined) {
  return async (request: FastifyRequest): Promise<void> => {
    if (token === undefined) return;
    const header = request.headers.authorization ?? '';
    const given = header.startsWith('Bearer ') ? header.slice(7) : '';
    if (!timingSafeEqual(digest(given), digest(token))) {
      throw new HttpError(401, 'This request needs Authorization: Bearer <token> (the FASTMLP_TOKEN of the service)', undefined, {
        'www-authenticate': 'Bearer',
      });
    }
  };
}
