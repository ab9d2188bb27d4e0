// A page of a third origin (neither the host nor the KMS), framed by the
// host page next to the KMS iframe. It tries to talk to the KMS frame: a
// connect message with its own port, a call, a forged result. None of it
// may be answered. It reports what it saw to its parent.
const frame = window.parent.frames[0];
const channel = new MessageChannel();
let answers = 0;
channel.port1.onmessage = () => { answers += 1; };
frame.postMessage({ t: 'kms:connect', v: 1 }, '*', [channel.port2]);
frame.postMessage({ t: 'call', id: 1, method: 'info', params: {} }, '*');
frame.postMessage({ t: 'result', id: 1, ok: true, result: {} }, '*');
setTimeout(() => {
  document.getElementById('verdict').textContent = `answers: ${answers}`;
  window.parent.postMessage({ third: true, answers }, '*');
}, 1500);
