/**
 * The request target, read without WHATWG URL: `new URL('//', base)` throws, and so do dozens of
 * other targets a client can send. Origin-form (`/path?query`) and absolute-form
 * (`http://host/path`) are read; anything else is refused, for the server to answer 400.
 */
export interface Target {
  pathname: string;
  query: URLSearchParams;
}

export function parseTarget(raw: string | undefined): Target | undefined {
  if (raw === undefined) return undefined;
  let t = raw;
  if (/^https?:/i.test(t)) {
    const absolute = /^https?:\/\/(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?(?=[/?#]|$)/i.exec(t);
    if (!absolute) return undefined;
    t = t.slice(absolute[0].length) || '/';
  }
  if (!t.startsWith('/')) return undefined;
  const hash = t.indexOf('#');
  if (hash >= 0) t = t.slice(0, hash);
  const q = t.indexOf('?');
  // URLSearchParams does not throw: a bad %-escape stays as it was written.
  return { pathname: q < 0 ? t : t.slice(0, q), query: new URLSearchParams(q < 0 ? '' : t.slice(q + 1)) };
}

/** decodeURIComponent, or undefined for a bad %-escape (which it throws on). */
export function decodeSegment(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}
