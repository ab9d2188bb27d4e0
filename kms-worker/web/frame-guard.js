// The frame's guard against a host page that hides, covers or swaps what the
// user sees (clickjacking). The host page decides where and how this iframe
// is drawn, so the frame cannot trust that a click on its panel was meant
// for what the panel says. A panel therefore accepts input (its fields are
// read-only and its action buttons disabled otherwise) only when all hold:
//
// 1. It has been shown for ARM_MS since it was last shown: a host that
//    cancels a request and makes a new one under the user's pointer starts
//    that time again.
// 2. The browser has reported it entirely visible, without a break, for
//    ARM_MS. With IntersectionObserver v2 (Chromium) "visible" means
//    unobscured as the browser paints it: no element of the host over it,
//    no opacity below 1, no transform other than a translation, no filter.
//    Without v2 (Firefox and Safari today) only clipping and scrolling are
//    seen, plus the minimum size below: docs/browser.md section 3.3 says
//    what that leaves open.
// 3. The event that acts is a trusted one (a real click or key press in
//    this frame, never one a script made).
//
// Anything that moves the panel inside the frame (a resize of the frame,
// a scroll of its document, including the one a host causes by navigating
// the frame to a fragment, a change of the panel's own size) starts the
// 500 ms of rule 2 again: what is under the pointer must have stayed put.
//
// At the top (the KMS in a window of its own, opened by the app's page),
// nothing can be laid over the page, but the opener can raise the window
// (focus()) under a click the user meant for its own: there rule 2 also
// needs the window to have had the focus for ARM_MS (a `focus` or `blur`
// starts it again).
//
// The Cancel button is never guarded: cancelling is always safe.

export const ARM_MS = 500;
// Below this the panel cannot show its title, its origin line and its
// buttons unclipped at the frame's font size.
export const MIN_WIDTH = 280;
export const MIN_HEIGHT = 200;
// IntersectionObserver v2's own minimum between visibility notifications.
const V2_DELAY_MS = 100;

export const hasV2 = typeof IntersectionObserverEntry !== 'undefined'
  && 'isVisible' in IntersectionObserverEntry.prototype;

// This page is at the top: the KMS in a window of its own.
const topLevel = window.parent === window;

export class Guard {
  #panel;
  #controls;
  #note;
  #observer;
  #shownAt = null;
  #visibleSince = null;
  #why = 'not shown';
  #timer = null;

  /**
   * `panel`: the element that must be visible; `controls`: the inputs and
   * buttons it gates; `note`: where it says why they are off.
   */
  constructor(panel, controls, note) {
    this.#panel = panel;
    this.#controls = controls;
    this.#note = note;
    const options = { threshold: [0, 0.5, 0.99, 1] };
    if (hasV2) Object.assign(options, { trackVisibility: true, delay: V2_DELAY_MS });
    this.#observer = new IntersectionObserver((entries) => this.#seen(entries[entries.length - 1]), options);
    for (const event of ['resize', 'scroll', 'hashchange']) window.addEventListener(event, () => this.#disturbed(), true);
    if (topLevel) {
      for (const event of ['focus', 'blur']) window.addEventListener(event, () => this.#disturbed());
      document.addEventListener('visibilitychange', () => this.#disturbed());
    }
    new ResizeObserver(() => this.#disturbed()).observe(panel);
    this.#refresh();
  }

  /** When the panel became (or becomes) usable: Infinity while it is not. */
  armedSince() {
    if (this.#shownAt === null || this.#visibleSince === null) return Infinity;
    return Math.max(this.#shownAt, this.#visibleSince) + ARM_MS;
  }

  // The panel moved or changed size: if it was visible, its 500 ms start
  // again from now.
  #disturbed() {
    if (this.#visibleSince !== null) this.#visibleSince = performance.now();
    this.#refresh();
  }

  /** The panel was (re)shown with a new request: everything starts again. */
  shown() {
    this.#shownAt = performance.now();
    this.#visibleSince = null;
    this.#why = 'waiting';
    // Observing again gives a fresh first notification, even if the
    // browser never painted the panel hidden in between.
    this.#observer.unobserve(this.#panel);
    this.#observer.observe(this.#panel);
    this.#refresh();
  }

  /** The panel was hidden. */
  hidden() {
    this.#shownAt = null;
    this.#visibleSince = null;
    this.#observer.unobserve(this.#panel);
    this.#refresh();
  }

  /** Whether an action from `event` may proceed now. */
  allows(event) {
    return event.isTrusted === true && this.#armedIn() === 0;
  }

  #seen(entry) {
    const ok = this.#entryVisible(entry);
    if (!ok) {
      this.#visibleSince = null;
    } else if (this.#visibleSince === null) {
      this.#visibleSince = performance.now();
    }
    this.#refresh();
  }

  #entryVisible(entry) {
    if (!entry.isIntersecting || entry.intersectionRatio < 0.99) {
      this.#why = 'cropped';
      return false;
    }
    if (hasV2 && entry.isVisible !== true) {
      this.#why = 'covered';
      return false;
    }
    this.#why = null;
    return true;
  }

  // Milliseconds until the panel is armed; 0 when it is; Infinity while it
  // is not visible (or too small).
  #armedIn() {
    if (this.#shownAt === null) return Infinity;
    if (window.innerWidth < MIN_WIDTH || window.innerHeight < MIN_HEIGHT) return Infinity;
    if (this.#visibleSince === null) return Infinity;
    if (topLevel && (!document.hasFocus() || document.visibilityState !== 'visible')) return Infinity;
    const now = performance.now();
    return Math.max(0, this.#shownAt + ARM_MS - now, this.#visibleSince + ARM_MS - now);
  }

  #refresh() {
    clearTimeout(this.#timer);
    const now = performance.now();
    const wait = this.#armedIn();
    const armed = wait === 0;
    for (const c of this.#controls) {
      if (c instanceof HTMLInputElement && c.type !== 'checkbox') c.readOnly = !armed;
      else c.disabled = !armed;
    }
    // Why the panel is off is said only once it has had ARM_MS to settle:
    // the browser's first report on a new panel may come before layout is
    // done, and a warning that flashes (and moves the buttons) helps no one.
    const settled = this.#shownAt !== null && now - this.#shownAt >= ARM_MS;
    this.#note.textContent = armed || !settled ? '' : this.#explain();
    let next = Number.isFinite(wait) && wait > 0 ? wait : Infinity;
    if (this.#shownAt !== null && !settled) next = Math.min(next, this.#shownAt + ARM_MS - now);
    if (Number.isFinite(next)) this.#timer = setTimeout(() => this.#refresh(), next + 5);
  }

  #explain() {
    if (window.innerWidth < MIN_WIDTH || window.innerHeight < MIN_HEIGHT) {
      return `The page shows this key manager too small (${window.innerWidth}×${window.innerHeight}); it accepts nothing until it is at least ${MIN_WIDTH}×${MIN_HEIGHT}.`;
    }
    if (this.#why === 'cropped') return 'Part of this panel is hidden; it accepts nothing until all of it is in view.';
    if (this.#why === 'covered') return 'The page covers or fades this panel; it accepts nothing until it is fully visible.';
    if (topLevel && !document.hasFocus()) return 'This window is not in front; it accepts nothing until it has been for half a second.';
    return '';
  }
}
