// The reference frame of bench.mjs's cold start (bare-frame.html): the
// same WASM file as the KMS, fetched and compiled, then a message to the
// parent. No integrity check, configuration, worker or storage.
const bytes = await (await fetch('pkg/kms_worker_bg.wasm')).arrayBuffer();
await WebAssembly.compile(bytes);
window.parent.postMessage('bare-frame-ready', '*');
