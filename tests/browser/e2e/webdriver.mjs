// The part of Playwright's API that the e2e tests use, over W3C WebDriver
// classic (selenium-webdriver), for WebKitGTK: Playwright cannot drive
// Debian's WebKitGTK, and WebKitWebDriver speaks only classic WebDriver. It
// lets every engine run one copy of each test's steps.
//
// How it maps: a browser context is a WebDriver session (its own
// MiniBrowser process, its own WebKitWebDriver, so its own storage); a page
// is a window of that session; a frame is a path of iframes from the
// window's top document. WebDriver has one current window and frame per
// session and runs one command at a time, so every operation takes the
// session's lock, switches to its window and frame, and then acts: two
// pages of one context never run a script at the same moment (a test that
// starts work in two tabs "at once" gets it one after the other here).
//
// What it does not have: page events (classic WebDriver has no event
// stream: `on` accepts only `pageerror`, and reports nothing; the harness's
// PAGE_ERRORS says so), request routing and CDP (both throw). Init scripts
// run late: after each navigation of a page, in its top document only, not
// before the page's own scripts.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { writeFileSync } from 'node:fs';
import { Builder, By, Key } from 'selenium-webdriver';

/** How long an action or a wait gives the page, as Playwright's default. */
const DEFAULT_TIMEOUT_MS = 30_000;
const POLL_MS = 50;
/** The window size of a context that names none (Playwright's is 1280x720). */
const DEFAULT_VIEWPORT = { width: 1280, height: 900 };

const MINIBROWSER = process.env.WEBKIT_MINIBROWSER ?? '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser';
const DRIVER = process.env.WEBKIT_WEBDRIVER ?? '/usr/bin/WebKitWebDriver';

/** A port the system says is free now (WebKitWebDriver takes a number, not 0). */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => { const { port } = srv.address(); srv.close(() => resolve(port)); });
  });
}

/** Resolves once something accepts HTTP on the port (10 s at most). */
async function driverReady(port, child, failed) {
  const end = Date.now() + 10_000;
  for (;;) {
    if (failed()) throw new Error(`WebKitWebDriver did not start (${DRIVER}): ${failed().message}`);
    if (child.exitCode !== null) throw new Error(`WebKitWebDriver exited (${child.exitCode})`);
    try {
      const r = await fetch(`http://127.0.0.1:${port}/status`);
      if (r.ok) return;
    } catch { /* not listening yet */ }
    if (Date.now() > end) throw new Error('WebKitWebDriver not ready in 10 s');
    await sleep(50);
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Launches nothing itself: each context starts its own driver and browser. */
export function webkit() {
  const contexts = new Set();
  return {
    async newContext({ viewport } = {}) {
      const context = await Context.start(viewport);
      contexts.add(context);
      context.onClose = () => contexts.delete(context);
      return context;
    },
    /** A page in a context of its own, as Playwright's `browser.newPage`. */
    async newPage(options) {
      return (await this.newContext(options)).newPage();
    },
    async close() {
      await Promise.all([...contexts].map((c) => c.close()));
    },
  };
}

class Context {
  /**
   * A driver and its browser. The driver's port is picked free, then
   * released before the driver binds it: another process (the other
   * engines' runs of the test command start servers on free ports at the
   * same time) may take it in between, so a failed start is tried again
   * on another port, three times in all.
   */
  static async start(viewport) {
    const failures = [];
    for (let attempt = 1; ; attempt++) {
      try {
        return await Context.startOnce(viewport);
      } catch (e) {
        failures.push(e.message);
        if (attempt === 3) throw new Error(`WebKit did not start in 3 attempts: ${failures.join('; ')}`, { cause: e });
      }
    }
  }

  static async startOnce(viewport) {
    const port = await freePort();
    const child = spawn(DRIVER, [`--port=${port}`, '--host=127.0.0.1'], { stdio: ['ignore', 'ignore', 'inherit'] });
    let failed = null;
    child.on('error', (e) => { failed = e; });
    let driver = null;
    try {
      await driverReady(port, child, () => failed);
      driver = await new Builder().usingServer(`http://127.0.0.1:${port}`).withCapabilities({
        browserName: 'MiniBrowser',
        'webkitgtk:browserOptions': { binary: MINIBROWSER, args: ['--automation'] },
      }).build();
      // Scripts may wait on the page (a UI operation the test answers later).
      await driver.manage().setTimeouts({ script: 120_000, pageLoad: 60_000 });
      const context = new Context(driver, child, await driver.getWindowHandle(), viewport ?? DEFAULT_VIEWPORT);
      await context.size();
      return context;
    } catch (e) {
      // The browser too, if the session was made.
      await driver?.quit().catch(() => {});
      child.kill('SIGTERM');
      throw e;
    }
  }

  constructor(driver, child, firstWindow, viewport) {
    this.driver = driver;
    this.viewport = viewport;
    this.child = child;
    this.spare = firstWindow; // the session's first window, until a page takes it
    this.current = firstWindow; // the session's current window
    this.queue = Promise.resolve();
    this.closed = false;
    this.initScripts = [];
  }

  /** Runs `fn(driver)` alone on the session, in `page`'s window and `path`'s frame. */
  run(page, path, fn) {
    const go = async () => {
      const d = this.driver;
      if (page) {
        if (page.closed) throw new Error('page closed');
        // Only when another window is current: WebKit moves the focus to the
        // window's top document on every switch (a focused field in a
        // frame would lose it).
        if (this.current !== page.handle) {
          await d.switchTo().window(page.handle);
          this.current = page.handle;
        }
        await d.switchTo().defaultContent();
        for (const step of path ?? []) await enterFrame(d, step);
      }
      return fn(d);
    };
    const result = this.queue.then(go, go);
    this.queue = result.catch(() => {});
    return result;
  }

  async newPage() {
    const handle = this.spare ?? await this.run(null, null, async (d) => {
      // A window, not a tab: WebKitGTK renders (and observes) only the
      // front tab of a window, and switching to a window does not raise a tab.
      // (From a window that still exists: the current one may be closed.)
      this.current = null;
      await d.switchTo().window((await d.getAllWindowHandles())[0]);
      await d.switchTo().newWindow('window');
      await this.size();
      this.current = await d.getWindowHandle();
      return this.current;
    });
    this.spare = null;
    return new Page(this, handle);
  }

  /**
   * Gives the current window the context's size: MiniBrowser opens new
   * windows smaller than the KMS frame's panel needs (its guard would then
   * keep the panel off, as for a user).
   */
  size() {
    return this.driver.manage().window().setRect({ width: this.viewport.width, height: this.viewport.height });
  }

  /** Kept, and run after each navigation of this context's pages (see the top). */
  addInitScript(fn, arg) {
    this.initScripts.push([fn, arg]);
  }
  newCDPSession() { throw new Error('webdriver.mjs: no CDP in WebKit'); }

  async close() {
    if (this.closed) return;
    this.closed = true;
    try { await this.queue; await this.driver.quit(); } catch { /* already gone */ }
    this.child.kill('SIGTERM');
    this.onClose?.();
  }
}

/** Enters one frame of a path: `{css}` (an iframe the selector finds) or `{index}` (the n-th iframe). */
async function enterFrame(d, step) {
  if (step.index !== undefined) return d.switchTo().frame(step.index);
  const end = Date.now() + DEFAULT_TIMEOUT_MS;
  for (;;) {
    const found = await d.findElements(By.css(step.css));
    if (found.length > 0) return d.switchTo().frame(found[0]);
    if (Date.now() > end) throw new Error(`no frame ${step.css}`);
    await sleep(POLL_MS);
  }
}

/**
 * Enters the frame that has the focus, from the top document down:
 * WebKitWebDriver delivers key actions to the current frame's document, not
 * (as a keyboard would) to wherever the focus is.
 */
async function intoFocusedFrame(d) {
  for (;;) {
    const inner = await d.executeScript("const e = document.activeElement; return e && e.tagName === 'IFRAME' ? e : null");
    if (!inner) return;
    await d.switchTo().frame(inner);
  }
}

/** The script that calls a test's function with its argument, awaiting it. */
function callScript(fn) {
  if (typeof fn === 'string') return `return (${fn});`;
  return `return (${fn.toString()}).apply(null, arguments);`;
}

class Frame {
  constructor(page, path) {
    this.page = page;
    this.path = path;
  }

  evaluate(fn, arg) {
    return this.page.context.run(this.page, this.path, (d) => d.executeScript(callScript(fn), arg));
  }

  url() { return this.urlSeen; }

  locator(selector, options) { return new Locator(this, selector, options); }

  frameLocator(selector) { return new Frame(this.page, [...this.path, { css: selector }]); }
}

class Page extends Frame {
  constructor(context, handle) {
    super(null, []);
    this.page = this;
    this.context = context;
    this.handle = handle;
    this.closed = false;
    this.keyboard = {
      // `key` as Playwright names it, with modifiers: 'Enter', 'Shift+Tab'.
      press: (key) => context.run(this, [], async (d) => {
        await intoFocusedFrame(d);
        const parts = key.split('+').map((k) => KEYS[k] ?? k);
        const last = parts.pop();
        let actions = d.actions();
        for (const m of parts) actions = actions.keyDown(m);
        actions = actions.sendKeys(last);
        for (const m of parts.reverse()) actions = actions.keyUp(m);
        await actions.perform();
      }),
      type: (text) => context.run(this, [], async (d) => { await intoFocusedFrame(d); await d.actions().sendKeys(text).perform(); }),
    };
  }

  on(event) {
    if (event !== 'pageerror') throw new Error(`webdriver.mjs: no '${event}' events over classic WebDriver`);
    // Accepted so that a page's logging hook can be set; nothing is reported.
  }

  route() { throw new Error('webdriver.mjs: no request routing over classic WebDriver'); }

  async goto(url) {
    await this.context.run(this, [], async (d) => {
      await d.get(url);
      // Once in four WebKit runs, a script evaluated right after a new
      // window's first navigation found the host page's `window.host`
      // missing (the blank document it opened with, it seems): wait until
      // the window shows a loaded document other than that one.
      await d.wait(() => d.executeScript("return location.href !== 'about:blank' && document.readyState === 'complete'"), 10_000);
    });
    this.urlSeen = url;
    await this.afterNavigation();
  }

  async reload() {
    await this.context.run(this, [], (d) => d.navigate().refresh());
    await this.afterNavigation();
  }

  async afterNavigation() {
    for (const [fn, arg] of this.context.initScripts) await this.evaluate(fn, arg);
  }

  click(selector, options) { return this.locator(selector).click(options); }

  fill(selector, value, options) { return this.locator(selector).fill(value, options); }

  mainFrame() { return this; }

  /**
   * The page's frames, the top document first, each with the URL it had
   * when listed. Asynchronous here (Playwright's is not): tests await it.
   */
  async frames() {
    const all = [this];
    this.urlSeen = await this.context.run(this, [], (d) => d.getCurrentUrl());
    const walk = async (path) => {
      const count = await this.context.run(this, path, (d) => d.executeScript('return window.frames.length'));
      for (let index = 0; index < count; index += 1) {
        const frame = new Frame(this, [...path, { index }]);
        frame.urlSeen = await this.context.run(this, frame.path, (d) => d.executeScript('return location.href'));
        all.push(frame);
        await walk(frame.path);
      }
    };
    await walk([]);
    return all;
  }

  async waitForFunction(fn, arg, { timeout = DEFAULT_TIMEOUT_MS } = {}) {
    const end = Date.now() + timeout;
    for (;;) {
      const value = await this.evaluate(fn, arg);
      if (value) return value;
      if (Date.now() > end) throw new Error(`waitForFunction: not true in ${timeout} ms`);
      await sleep(POLL_MS);
    }
  }

  waitForSelector(selector, options) { return this.locator(selector).waitFor(options); }

  waitForTimeout(ms) { return sleep(ms); }

  async screenshot({ path }) {
    const png = await this.context.run(this, [], (d) => d.takeScreenshot());
    writeFileSync(path, Buffer.from(png, 'base64'));
  }

  async close() {
    if (this.closed) return;
    await this.context.run(this, [], async (d) => {
      const handles = await d.getAllWindowHandles();
      if (handles.length > 1) {
        await d.close();
        this.context.current = null;
      } else {
        // The session's last window: keep it (closing it ends the session) as
        // the next page's, emptied.
        await d.get('about:blank');
        this.context.spare = this.handle;
      }
    });
    this.closed = true;
  }
}

const RETRIED = new Set(['StaleElementReferenceError', 'ElementClickInterceptedError', 'ElementNotInteractableError', 'NoSuchFrameError', 'NoSuchElementError']);

const KEYS = { Tab: Key.TAB, Enter: Key.ENTER, Escape: Key.ESCAPE, Space: Key.SPACE, Shift: Key.SHIFT };

/**
 * Finds the elements of a locator in the current frame: the selector's
 * matches, those whose text matches `hasText` (a substring, case-insensitive,
 * or a RegExp), then the n-th. Each comes with whether it is visible (a box
 * with an area, not visibility: hidden) and enabled.
 */
const FIND = `
  const [selector, text, nth] = arguments;
  let els = Array.from(document.querySelectorAll(selector));
  if (text) {
    const re = text.source !== undefined ? new RegExp(text.source, text.flags) : null;
    els = els.filter((e) => {
      const t = (e.textContent || '').replace(/\\s+/g, ' ');
      return re ? re.test(t) : t.toLowerCase().includes(text.s.toLowerCase());
    });
  }
  if (nth !== null) els = els.slice(nth, nth + 1);
  return els;
`;
const VISIBLE = `
  const e = arguments[0];
  const box = e.getBoundingClientRect();
  return box.width > 0 && box.height > 0 && getComputedStyle(e).visibility !== 'hidden';
`;

// Whether an element takes input: not disabled, and for typing
// (`arguments[1] === 'editable'`) not read-only, as Playwright waits.
const USABLE = `
  const [e, how] = arguments;
  return !e.disabled && !(how === 'editable' && e.readOnly);
`;

class Locator {
  constructor(frame, selector, { hasText } = {}, nth = null) {
    this.frame = frame;
    this.selector = selector;
    this.hasText = hasText;
    this.nthIndex = nth;
  }

  nth(index) { return new Locator(this.frame, this.selector, { hasText: this.hasText }, index); }

  filter({ hasText }) { return new Locator(this.frame, this.selector, { hasText }, this.nthIndex); }

  /** Runs `fn(driver, elements)` in the locator's frame. */
  inFrame(fn) {
    const text = this.hasText === undefined ? null
      : this.hasText instanceof RegExp ? { source: this.hasText.source, flags: this.hasText.flags } : { s: String(this.hasText) };
    return this.frame.page.context.run(this.frame.page, this.frame.path, async (d) => {
      const els = await d.executeScript(FIND, this.selector, text, this.nthIndex);
      return fn(d, els);
    });
  }

  /**
   * Waits until the first match is in `state` (attached, visible, hidden,
   * detached; and, when `enabled` is true or 'editable', usable), then runs
   * `act` on it.
   */
  async until(state, { timeout = DEFAULT_TIMEOUT_MS, enabled = false } = {}, act = null) {
    const end = Date.now() + timeout;
    for (;;) {
      const done = await this.inFrame(async (d, els) => {
        const el = els[0];
        const visible = el ? await d.executeScript(VISIBLE, el) : false;
        const ready = state === 'attached' ? !!el
          : state === 'visible' ? visible
            : state === 'hidden' ? !visible
              : !el;
        if (!ready || (enabled && el && !(await d.executeScript(USABLE, el, enabled)))) return { ready: false };
        return { ready: true, value: act ? await act(d, el) : undefined };
      }).catch((e) => {
        // Tried again: the element was replaced, or something covered it
        // (as Playwright waits for an element to take clicks). Any other
        // error is the test's.
        if (!RETRIED.has(e.name)) throw e;
        return { ready: false, error: e };
      });
      if (done.ready) return done.value;
      if (Date.now() > end) {
        throw new Error(`locator ${this.selector}: not ${state}${enabled ? ' and enabled' : ''} in ${timeout} ms${done.error ? ` (${done.error.message})` : ''}`);
      }
      await sleep(POLL_MS);
    }
  }

  waitFor({ state = 'visible', timeout } = {}) { return this.until(state, { timeout }); }

  click({ force = false, timeout } = {}) {
    return this.until(force ? 'attached' : 'visible', { timeout, enabled: !force }, async (d, el) => {
      await d.executeScript('arguments[0].scrollIntoView({block: "nearest"})', el);
      await el.click();
    });
  }

  /**
   * Clicks the field (WebKit types only into a field the user clicked),
   * empties it (WebDriver's Element Clear is refused by WebKitGTK here) and
   * types.
   */
  fill(value, { timeout } = {}) {
    return this.until('visible', { timeout, enabled: 'editable' }, async (d, el) => {
      await el.click();
      await d.executeScript('arguments[0].value = ""; arguments[0].dispatchEvent(new Event("input", {bubbles: true}))', el);
      await el.sendKeys(value);
    });
  }

  check(options) {
    return this.until('visible', { ...options, enabled: true }, async (d, el) => {
      if (!(await el.isSelected())) await el.click();
    });
  }

  textContent(options) {
    return this.until('attached', options ?? {}, (d, el) => d.executeScript('return arguments[0].textContent', el));
  }

  inputValue(options) {
    return this.until('attached', options ?? {}, (d, el) => d.executeScript('return arguments[0].value', el));
  }

  getAttribute(name, options) {
    return this.until('attached', options ?? {}, (d, el) => d.executeScript('return arguments[0].getAttribute(arguments[1])', el, name));
  }

  evaluate(fn, arg) {
    return this.until('attached', {}, (d, el) => d.executeScript(`return (${fn.toString()})(arguments[0], arguments[1]);`, el, arg));
  }

  dispatchEvent(type) {
    return this.until('attached', {}, (d, el) => d.executeScript('arguments[0].dispatchEvent(new Event(arguments[1], {bubbles: true}))', el, type));
  }

  focus() {
    return this.until('attached', {}, (d, el) => d.executeScript('arguments[0].focus()', el));
  }

  scrollIntoViewIfNeeded() {
    return this.until('attached', {}, (d, el) => d.executeScript('arguments[0].scrollIntoView({block: "nearest"})', el));
  }

  isVisible() {
    // False for an element that is not there or went stale; any other
    // error (a dead session, a script error) is the test's.
    return this.inFrame(async (d, els) => (els[0] ? d.executeScript(VISIBLE, els[0]) : false))
      .catch((e) => { if (RETRIED.has(e.name)) return false; throw e; });
  }

  count() { return this.inFrame(async (d, els) => els.length); }
}
