// The demo's service worker. With a real push service (pushManager.subscribe
// succeeded), the browser decrypts each message and hands it here: show a
// notification and tell the open pages. With the local push service the
// page fetches and decrypts messages itself and this worker is not involved.
self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('push', (event) => {
  let message = { title: 'kms demo', body: '(a push without payload)' };
  if (event.data) {
    try {
      const data = event.data.json();
      message = data !== null && typeof data === 'object' ? data : { title: 'kms demo', body: String(data) };
    } catch {
      message = { title: 'kms demo', body: event.data.text() };
    }
  }
  event.waitUntil((async () => {
    const pages = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    for (const page of pages) page.postMessage({ type: 'push', message });
    // userVisibleOnly: every push must show a notification.
    await self.registration.showNotification(message.title ?? 'kms demo', { body: message.body ?? '', icon: 'icon.svg' });
  })());
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  event.waitUntil((async () => {
    const pages = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    if (pages.length > 0) return pages[0].focus();
    return self.clients.openWindow('./index.html');
  })());
});
