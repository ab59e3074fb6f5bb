/** Digits from `from` to the end of `s` forming a port 1-65535 with no leading zero. */
export function isPort(s: string, from: number): boolean {
  const length = s.length - from;
  if (length < 1 || length > 5 || s.charCodeAt(from) === 0x30 /* 0 */) return false;
  let value = 0;
  for (let i = from; i < s.length; i++) {
    const c = s.charCodeAt(i) - 0x30;
    if (c < 0 || c > 9) return false;
    value = value * 10 + c;
  }
  return value <= 65535;
}
