//! Request and response envelopes, and their total, capped decoding.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use serde_json::value::RawValue;
use serde_json::Value;

use super::error::{sanitize_serde_error, RpcError};
use super::methods::Call;

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;
/// Largest request accepted, in bytes. The biggest legitimate request (a
/// WebAuthn assertion) is a few kilobytes.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;
/// Largest `audit_verify` request: an export can hold tens of thousands of
/// entries (the export format's own cap is 10 MiB).
pub const MAX_VERIFY_REQUEST_BYTES: usize = 11 * 1024 * 1024;
/// Longest string request id.
pub const MAX_ID_LEN: usize = 64;

/// The envelope's fields as raw slices of the input. Duplicate keys are
/// refused: with them, which `method` runs would depend on the parser.
struct Envelope<'a>(BTreeMap<String, &'a RawValue>);

impl<'de: 'a, 'a> Deserialize<'de> for Envelope<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = Envelope<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut out = BTreeMap::new();
                while let Some((k, v)) = map.next_entry::<String, &'de RawValue>()? {
                    if out.insert(k, v).is_some() {
                        return Err(serde::de::Error::custom("duplicate field"));
                    }
                }
                Ok(Envelope(out))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// A request id, echoed in the response: a number or a short string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(untagged)]
pub enum RequestId {
    Num(u64),
    Str(String),
}

/// A decoded request. Not `Clone`: it may carry secrets (a passphrase, a
/// lease credential) that are not copied casually.
#[derive(Debug)]
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
    ///
    /// The envelope is read as raw JSON slices of the input and `params` is
    /// parsed once, straight into its typed struct: secrets in the params
    /// (a passphrase, a PRF output) land only in types that zeroize them,
    /// never in an intermediate `serde_json::Value` that would not.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let too_large = || (None, RpcError::invalid(format!("request larger than {MAX_REQUEST_BYTES} bytes")));
        if bytes.len() > MAX_VERIFY_REQUEST_BYTES {
            return Err(too_large());
        }
        let text = std::str::from_utf8(bytes).map_err(|_| (None, RpcError::invalid("request is not UTF-8 JSON")))?;
        let fields = serde_json::from_str::<Envelope<'_>>(text)
            .map_err(|e| {
                let msg = if e.to_string().starts_with("duplicate field") {
                    "request has a duplicate envelope field"
                } else {
                    "request must be a JSON object"
                };
                (None, RpcError::invalid(msg))
            })?
            .0;
        let id = decode_id(fields.get("id").copied()).map_err(|e| (None, e))?;
        let fail = |e: RpcError| (Some(id.clone()), e);
        // Only `audit_verify` may carry more than the ordinary cap.
        // The id is known by now: the answer carries it, so the caller
        // can match the refusal to its request.
        if bytes.len() > MAX_REQUEST_BYTES && fields.get("method").map(|m| m.get()) != Some("\"audit_verify\"") {
            return Err(fail(too_large().1));
        }

        for key in fields.keys() {
            if !matches!(key.as_str(), "v" | "id" | "method" | "params") {
                let shown: String = key.chars().filter(|c| c.is_ascii_graphic()).take(40).collect();
                return Err(fail(RpcError::invalid(format!("unknown envelope field `{shown}`"))));
            }
        }
        match fields.get("v").map(|raw| serde_json::from_str::<u64>(raw.get())) {
            Some(Ok(v)) if v == u64::from(PROTOCOL_VERSION) => {}
            Some(_) => {
                return Err(fail(RpcError::invalid(format!(
                    "unsupported protocol version (this KMS speaks v{PROTOCOL_VERSION})"
                ))))
            }
            None => return Err(fail(RpcError::invalid("missing field `v`"))),
        }
        let method = match fields.get("method").map(|raw| serde_json::from_str::<String>(raw.get())) {
            Some(Ok(m)) => m,
            Some(Err(_)) => return Err(fail(RpcError::invalid("`method` must be a string"))),
            None => return Err(fail(RpcError::invalid("missing field `method`"))),
        };
        let params = fields.get("params").map(|raw| raw.get()).unwrap_or("{}");
        let call = Call::from_parts(&method, params).map_err(fail)?;
        Ok(Self { v: PROTOCOL_VERSION, id, call })
    }

    /// Encodes the request as JSON, straight from the typed call (no
    /// intermediate `Value` holding a copy of any secret).
    pub fn encode(&self) -> Result<Vec<u8>, RpcError> {
        #[derive(Serialize)]
        struct Wire<'a> {
            v: u32,
            id: &'a RequestId,
            #[serde(flatten)]
            call: &'a Call,
        }
        serde_json::to_vec(&Wire { v: self.v, id: &self.id, call: &self.call })
            .map_err(|_| RpcError::new(crate::ErrorCode::Internal, "could not encode request"))
    }
}

fn decode_id(raw: Option<&RawValue>) -> Result<RequestId, RpcError> {
    let Some(raw) = raw else {
        return Err(RpcError::invalid("missing field `id`"));
    };
    let value: Value = serde_json::from_str(raw.get())
        .map_err(|_| RpcError::invalid("`id` must be a non-negative integer or a string"))?;
    match Some(&value) {
        Some(Value::Number(n)) => n
            .as_u64()
            .map(RequestId::Num)
            .ok_or_else(|| RpcError::invalid("`id` must be a non-negative integer or a string")),
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

/// Largest response a client accepts. Most responses are small; the cap
/// leaves room for bulk results such as an audit export.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc::methods::{NewEnrollment, SetupParams};
    use crate::secret::Passphrase;

    #[test]
    fn request_round_trip() {
        let call = Call::Setup(SetupParams {
            user: crate::ids::UserId::parse("alice").unwrap(),
            enrollment: NewEnrollment::Passphrase { passphrase: Passphrase::new("a long passphrase") },
            label: None,
        });
        let bytes = Request::new(RequestId::Str("r1".into()), call).encode().unwrap();
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["v"], 1);
        assert_eq!(v["id"], "r1");
        assert_eq!(v["method"], "setup");
        assert_eq!(v["params"]["enrollment"]["kind"], "passphrase");
        let back = Request::decode(&bytes).unwrap();
        assert_eq!(back.id, RequestId::Str("r1".into()));
        assert_eq!(back.call.name(), "setup");
    }

    #[test]
    fn decode_errors_keep_the_id_when_readable() {
        let e = Request::decode(br#"{"v":1,"id":7,"method":"nope"}"#).unwrap_err();
        assert_eq!(e.0, Some(RequestId::Num(7)));
        assert!(e.1.message.contains("unknown method `nope`"));
        let e = Request::decode(br#"{"v":2,"id":"x","method":"info"}"#).unwrap_err();
        assert_eq!(e.0, Some(RequestId::Str("x".into())));
        let e = Request::decode(b"[1,2]").unwrap_err();
        assert_eq!(e.0, None);
        // Over the cap (but under the audit_verify one, so still parsed):
        // the refusal keeps the id.
        let big = format!(r#"{{"v":1,"id":9,"method":"info","params":{{"pad":"{}"}}}}"#, "a".repeat(MAX_REQUEST_BYTES));
        let e = Request::decode(big.as_bytes()).unwrap_err();
        assert_eq!(e.0, Some(RequestId::Num(9)));
        assert!(e.1.message.contains(&format!("larger than {MAX_REQUEST_BYTES} bytes")), "{}", e.1.message);
        let e = Request::decode(br#"{"v":1,"id":1,"method":"info","extra":0}"#).unwrap_err();
        assert!(e.1.message.contains("unknown envelope field `extra`"));
        let e = Request::decode(br#"{"v":1,"id":1,"method":"vapid_public","method":"info"}"#).unwrap_err();
        assert!(e.1.message.contains("duplicate"), "{}", e.1.message);
        let e = Request::decode(&[0xff, 0xfe]).unwrap_err();
        assert_eq!(e.1.code, crate::ErrorCode::InvalidInput);
        assert!(Request::decode(br#"{"v":1,"id":1,"method":"info"}"#).is_ok());
    }
}
