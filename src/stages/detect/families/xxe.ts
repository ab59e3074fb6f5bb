import { C, type Hit, type Subject } from '../subject.js';

/**
 * XML external entities in values an API hands to an XML parser: entity declarations (file
 * reads, SSRF, billion laughs), external DTDs and XInclude.
 */
export function scanXxe(s: Subject, hit: Hit): void {
  if (!s.has(C.LT)) return;
  const lower = s.lower;
  if (lower.includes('<!entity')) hit('detect.xxe.entity_declaration');
  const doctype = lower.indexOf('<!doctype');
  if (doctype !== -1) {
    hit('detect.xxe.doctype');
    const head = lower.slice(doctype, doctype + 512);
    const end = head.search(/[[>]/);
    const decl = end === -1 ? head : head.slice(0, end);
    if (decl.includes(' system') || decl.includes(' public')) hit('detect.xxe.external_dtd');
  }
  if (lower.includes('<xi:include') || lower.includes('xmlns:xi=')) hit('detect.xxe.xinclude');
}
