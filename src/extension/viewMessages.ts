// The one door for messages from a webview: each goes through the protocol's parseWebviewMessage; an
// unknown or malformed one is dropped and logged, never acted on.
import { parseWebviewMessage } from '../protocol/messages';
import type { WebviewToHost } from '../protocol/messages';

/** A short, single-line preview of an untrusted value for the log. */
export function previewValue(value: unknown, max = 200): string {
  let s: string;
  try {
    s = JSON.stringify(value) ?? String(value);
  } catch {
    s = Object.prototype.toString.call(value);
  }
  s = s.replace(/[\r\n]+/g, ' ');
  return s.length > max ? s.slice(0, max) + '...' : s;
}

/**
 * Validates a raw webview message; hands a valid one to handle, logs and drops anything else. Returns whether it was
 * handled.
 */
export function receiveViewMessage(
  raw: unknown,
  source: string,
  handle: (m: WebviewToHost) => void,
  log: (line: string) => void,
): boolean {
  const msg = parseWebviewMessage(raw);
  if (msg === null) {
    log(`[${source}] dropped an unknown or malformed message: ${previewValue(raw)}`);
    return false;
  }
  handle(msg);
  return true;
}
