/**
 * The media type of a Content-Type header, lower-cased, without its parameters
 * (`application/json; charset=utf-8` is `application/json`); '' when there is none.
 */
export function mediaTypeOf(contentType: string | undefined): string {
  if (contentType === undefined) return '';
  const semi = contentType.indexOf(';');
  return (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
}
