/** A position in a text file, both 1-based, as editors count them. */
export interface SourcePosition {
  readonly line: number;
  readonly column: number;
}

/**
 * The line and column of a Cedar source location. Cedar reports byte offsets into the UTF-8
 * text, so a policy file with a non-ASCII comment would otherwise point past the error.
 */
export function positionOfByte(utf8: Buffer, byteOffset: number): SourcePosition {
  const end = Math.max(0, Math.min(byteOffset, utf8.length));
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < end; i++) {
    if (utf8[i] === 0x0a) {
      line++;
      lineStart = i + 1;
    }
  }
  // Characters, not bytes or UTF-16 units: `é` is one column.
  const column = [...utf8.subarray(lineStart, end).toString('utf8')].length + 1;
  return { line, column };
}

/** The byte offset of a JS string index in the same text's UTF-8 encoding. */
export function byteOffsetOf(text: string, index: number): number {
  return Buffer.byteLength(text.slice(0, index), 'utf8');
}
