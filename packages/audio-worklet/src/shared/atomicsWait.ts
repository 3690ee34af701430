// `Atomics.waitAsync` (ES2024; Chromium 87+, Node 16+) is not in the ES2022 lib this package
// builds with, and some engines lack it: one typed, feature-detected entry point.

type WaitAsyncResult =
  | { async: false; value: 'not-equal' | 'timed-out' }
  | { async: true; value: Promise<'ok' | 'timed-out'> };

type WaitAsync = (
  array: Int32Array,
  index: number,
  value: number,
  timeoutMs?: number,
) => WaitAsyncResult;

const waitAsync = (Atomics as unknown as { waitAsync?: WaitAsync }).waitAsync;

/**
 * Resolves once `array[index]` is notified while holding `value`, at once when it no longer
 * holds `value`, or after `timeoutMs`. Undefined when the array is not shared or the engine has
 * no `Atomics.waitAsync` (the caller polls instead). Never blocks; main thread or worker, not the
 * audio thread (which only notifies).
 */
export function waitForChange(
  array: Int32Array,
  index: number,
  value: number,
  timeoutMs: number,
): Promise<unknown> | undefined {
  if (!waitAsync || !isShared(array)) return undefined;
  const r = waitAsync(array, index, value, timeoutMs);
  return r.async ? r.value : Promise.resolve(r.value);
}

/** Whether `array` is backed by a SharedArrayBuffer. */
export function isShared(array: Int32Array): boolean {
  return typeof SharedArrayBuffer !== 'undefined' && array.buffer instanceof SharedArrayBuffer;
}
