/**
 * The query string without the parameter `name` (compared after percent-decoding, so that
 * `api%5Fkey=` is removed too): an API key accepted from the query string is not handed on to
 * the upstream, whose access logs would keep it. Other parameters stay exactly as sent.
 */
export function withoutQueryParam(query: string, name: string): string {
  const kept: string[] = [];
  for (const part of query.split('&')) {
    const eq = part.indexOf('=');
    if (decodedName(eq === -1 ? part : part.slice(0, eq)) !== name) kept.push(part);
  }
  return kept.join('&');
}

function decodedName(raw: string): string {
  try {
    return decodeURIComponent(raw.replaceAll('+', ' '));
  } catch {
    // Malformed escapes cannot spell the name; keep the part as the client sent it.
    return raw;
  }
}
