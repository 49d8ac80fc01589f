/** UTF-8 lengths without encoding: one function for the schema, the binary codec and the SDK (a leaf module: no zod, so the browser bundle takes it). */

/**
 * The length of `s` in UTF-8 bytes, as the wire and every store count it (R1.7), without
 * allocating. A lone surrogate counts 3 bytes (it would be written as U+FFFD); names refuse them anyway.
 * @example
 * utf8Bytes('é€😀'); // 2 + 3 + 4 = 9
 */
export function utf8Bytes(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}
