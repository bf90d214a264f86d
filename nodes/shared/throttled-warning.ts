/**
 * A warning that may come by the thousand (someone else's requests, a flow wired back wrong): said at most once per
 * interval; the next one gets the count of those held back in between.
 */
export function throttledWarning<T>(
  warn: (text: string) => void,
  intervalMs: number,
  text: (value: T, more: number) => string,
  now: () => number = () => performance.now(),
): (value: T) => void {
  let last = Number.NEGATIVE_INFINITY;
  let heldBack = 0;
  return (value) => {
    const at = now();
    if (at - last < intervalMs) {
      heldBack += 1;
      return;
    }
    const more = heldBack;
    last = at;
    heldBack = 0;
    warn(text(value, more));
  };
}
