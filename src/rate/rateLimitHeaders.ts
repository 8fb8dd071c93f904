import type { RateDecision } from './RateLimiter.js';

/**
 * HTTP response headers for a decision: `RateLimit-Limit`, `RateLimit-Remaining`
 * and `RateLimit-Reset` (seconds, as in the IETF RateLimit header fields
 * draft), plus `Retry-After` (seconds) when the call was refused.
 */
export function rateLimitHeaders(decision: RateDecision): Record<string, string> {
  const headers: Record<string, string> = {
    'RateLimit-Limit': String(decision.limit),
    'RateLimit-Remaining': String(Math.max(0, decision.remaining)),
    'RateLimit-Reset': String(Math.ceil(decision.resetAfter / 1000)),
  };
  if (!decision.allowed && Number.isFinite(decision.retryAfter)) {
    headers['Retry-After'] = String(Math.max(1, Math.ceil(decision.retryAfter / 1000)));
  }
  return headers;
}
