//! The RPC protocol between a client (a page, the CLI) and the engine.
//!
//! JSON envelopes, versioned: a request is `{v, id, method, params}` and a
//! response `{v, id, result}` or `{v, id, error: {code, message}}`. Decoding
//! is total and capped: whatever the bytes, the caller gets a typed
//! `invalid_input` error, never a panic. `docs/rpc.md` is the reference.

pub mod envelope;
pub mod error;
pub mod methods;
mod retry;

pub use envelope::{Request, RequestId, Response, MAX_REQUEST_BYTES, PROTOCOL_VERSION};
pub use error::RpcError;
pub use methods::*;
/// The browser's `PublicKeyCredential.toJSON()` shape, as gate-mode unlock
/// takes it.
pub use webauthn_rs_proto::PublicKeyCredential;
