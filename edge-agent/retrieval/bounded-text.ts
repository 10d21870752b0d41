/**
 * Messages bounded for the contract: optarc_text holds 1024 bytes, so a
 * message (which may quote a long non-ASCII path) is cut to at most 1000
 * bytes of UTF-8, on a character, with "..." where it was cut.
 */
export const MAX_MESSAGE_BYTES = 1000;

export function boundText(s: string, maxBytes = MAX_MESSAGE_BYTES): string {
  if (Buffer.byteLength(s) <= maxBytes) return s;
  let out = s.slice(0, maxBytes);
  while (Buffer.byteLength(out) > maxBytes - 3) out = out.slice(0, -1);
  return `${out}...`;
}
