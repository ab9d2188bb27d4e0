//! Request and response envelopes, and their total, capped decoding.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::{sanitize_serde_error, RpcError};
use super::methods::{Call, METHOD_NAMES};

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;
/// Largest request accepted, in bytes. The biggest legitimate request (a
/// WebAuthn assertion) is a few kilobytes.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;
/// Longest string request id.
pub const MAX_ID_LEN: usize = 64;

/// A request id, echoed in the response: a number or a short string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RequestId {
    Num(u64),
    Str(String),
}

/// A decoded request.
#[derive(Debug, Clone)]
pub struct Request {
    pub v: u32,
    pub id: RequestId,
    pub call: Call,
}

/// A decoding failure, with the request id when one could be read.
pub type DecodeError = (Option<RequestId>, RpcError);

impl Request {
    /// A request of the current protocol version.
    pub fn new(id: RequestId, call: Call) -> Self {
        Self { v: PROTOCOL_VERSION, id, call }
    }

    /// Decodes a request. Total: any input gives a request or a typed error.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.len() > MAX_REQUEST_BYTES {
            return Err((None, RpcError::invalid(format!("request larger than {MAX_REQUEST_BYTES} bytes"))));
        }
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|_| (None, RpcError::invalid("request is not valid JSON")))?;
        let Value::Object(mut obj) = value else {
            return Err((None, RpcError::invalid("request must be a JSON object")));
        };
        let id = decode_id(obj.get("id")).map_err(|e| (None, e))?;
        let fail = |e: RpcError| (Some(id.clone()), e);

        match obj.get("v") {
            Some(Value::Number(n)) if n.as_u64() == Some(u64::from(PROTOCOL_VERSION)) => {}
            Some(_) => {
                return Err(fail(RpcError::invalid(format!(
                    "unsupported protocol version (this KMS speaks v{PROTOCOL_VERSION})"
                ))))
            }
            None => return Err(fail(RpcError::invalid("missing field `v`"))),
        }
        let method = match obj.remove("method") {
            Some(Value::String(m)) => m,
            Some(_) => return Err(fail(RpcError::invalid("`method` must be a string"))),
            None => return Err(fail(RpcError::invalid("missing field `method`"))),
        };
        if !METHOD_NAMES.contains(&method.as_str()) {
            let shown: String = method.chars().filter(|c| c.is_ascii_graphic()).take(40).collect();
            return Err(fail(RpcError::invalid(format!("unknown method `{shown}`"))));
        }
        let params = obj.remove("params").unwrap_or_else(|| Value::Object(Map::new()));
        for key in obj.keys() {
            if !matches!(key.as_str(), "v" | "id") {
                let shown: String = key.chars().filter(|c| c.is_ascii_graphic()).take(40).collect();
                return Err(fail(RpcError::invalid(format!("unknown envelope field `{shown}`"))));
            }
        }
        let mut tagged = Map::new();
        tagged.insert("method".into(), Value::String(method.clone()));
        tagged.insert("params".into(), params);
        let call: Call = serde_json::from_value(Value::Object(tagged))
            .map_err(|e| fail(RpcError::invalid(format!("{method}: {}", sanitize_serde_error(&e)))))?;
        Ok(Self { v: PROTOCOL_VERSION, id, call })
    }

    /// Encodes the request as JSON.
    pub fn encode(&self) -> Result<Vec<u8>, RpcError> {
        let mut obj = match serde_json::to_value(&self.call) {
            Ok(Value::Object(o)) => o,
            _ => return Err(RpcError::new(crate::ErrorCode::Internal, "could not encode request")),
        };
        obj.insert("v".into(), Value::from(self.v));
        obj.insert("id".into(), serde_json::to_value(&self.id).unwrap_or(Value::Null));
        serde_json::to_vec(&Value::Object(obj))
            .map_err(|_| RpcError::new(crate::ErrorCode::Internal, "could not encode request"))
    }
}

fn decode_id(v: Option<&Value>) -> Result<RequestId, RpcError> {
    match v {
        Some(Value::Number(n)) => n.as_u64().map(RequestId::Num).ok_or_else(|| RpcError::invalid("`id` must be a non-negative integer or a string")),
        Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_ID_LEN => Ok(RequestId::Str(s.clone())),
        Some(Value::String(_)) => Err(RpcError::invalid(format!("`id` string must be 1 to {MAX_ID_LEN} bytes"))),
        Some(_) => Err(RpcError::invalid("`id` must be a non-negative integer or a string")),
        None => Err(RpcError::invalid("missing field `id`")),
    }
}

/// A response: the request's id and either a result or an error.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub v: u32,
    /// `None` when the request was too broken to read its id.
    pub id: Option<RequestId>,
    pub outcome: Result<Value, RpcError>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireResponse {
    v: u32,
    id: Option<RequestId>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    result: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    error: Option<RpcError>,
}

/// Largest response a client accepts (an audit export is the biggest).
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

impl Response {
    /// A success.
    pub fn ok(id: RequestId, result: Value) -> Self {
        Self { v: PROTOCOL_VERSION, id: Some(id), outcome: Ok(result) }
    }

    /// A failure.
    pub fn err(id: Option<RequestId>, e: RpcError) -> Self {
        Self { v: PROTOCOL_VERSION, id, outcome: Err(e) }
    }

    /// Encodes the response as JSON.
    pub fn encode(&self) -> Vec<u8> {
        let (result, error) = match &self.outcome {
            Ok(v) => (Some(v.clone()), None),
            Err(e) => (None, Some(e.clone())),
        };
        let wire = WireResponse { v: self.v, id: self.id.clone(), result, error };
        serde_json::to_vec(&wire).unwrap_or_else(|_| {
            br#"{"v":1,"id":null,"error":{"code":"internal","message":"could not encode response"}}"#.to_vec()
        })
    }

    /// Decodes a response (client side). Total and capped.
    pub fn decode(bytes: &[u8]) -> Result<Self, RpcError> {
        if bytes.len() > MAX_RESPONSE_BYTES {
            return Err(RpcError::invalid("response too large"));
        }
        let wire: WireResponse = serde_json::from_slice(bytes)
            .map_err(|e| RpcError::invalid(format!("malformed response: {}", sanitize_serde_error(&e))))?;
        let outcome = match (wire.result, wire.error) {
            (Some(r), None) => Ok(r),
            (None, Some(e)) => Err(e),
            (None, None) => Ok(Value::Null),
            (Some(_), Some(_)) => return Err(RpcError::invalid("response has both result and error")),
        };
        Ok(Self { v: wire.v, id: wire.id, outcome })
    }
}
