// Imported first by a page's bundle, so it runs before the rest of the bundle is evaluated: when the page's script
// started (ms since the page's navigation start; the e2e's latency split).
/** performance.now() when the page's script began to run. */
export const SCRIPT_START = performance.now();
