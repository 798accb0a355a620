//! JSON-RPC 1.0 messages as OVSDB uses them (RFC 7047 section 4): requests,
//! responses, notifications, error objects, and request ids.
//!
//! It owns the shape of one message; it never frames bytes (that is
//! `framer`) and never keeps a table of outstanding requests (the session
//! does, keyed by [`Message::response_id`]).

use serde_json::{json, Map, Value};

use super::OvsdbError;

/// One JSON-RPC message.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// A call that expects a response with the same id.
    Request { id: Value, method: String, params: Value },
    /// A call without a response (`id: null`).
    Notification { method: String, params: Value },
    /// The answer to a request: exactly one of `result` or `error` is set.
    Response { id: Value, result: Result<Value, RpcError> },
}

/// A JSON-RPC error object (`{"error": "...", "details": "..."}`), as sent
/// by ovsdb-server for a refused request or a failed operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}{}", details.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
pub struct RpcError {
    pub error: String,
    pub details: Option<String>,
}

impl RpcError {
    /// Reads an error object; a bare string is accepted as the error name.
    pub fn from_json(v: &Value) -> RpcError {
        match v {
            Value::String(s) => RpcError { error: s.clone(), details: None },
            Value::Object(o) => RpcError {
                error: o.get("error").and_then(Value::as_str).unwrap_or("unknown error").to_string(),
                details: o.get("details").and_then(|d| match d {
                    Value::String(s) => Some(s.clone()),
                    Value::Null => None,
                    other => Some(other.to_string()),
                }),
            },
            other => RpcError { error: other.to_string(), details: None },
        }
    }

    pub fn to_json(&self) -> Value {
        let mut o = Map::new();
        o.insert("error".into(), Value::String(self.error.clone()));
        if let Some(d) = &self.details {
            o.insert("details".into(), Value::String(d.clone()));
        }
        Value::Object(o)
    }
}

impl Message {
    /// A request with a numeric id.
    pub fn request(id: u64, method: &str, params: Value) -> Message {
        Message::Request { id: json!(id), method: method.to_string(), params }
    }

    /// The response to `request_id` with `result`.
    pub fn reply(request_id: Value, result: Value) -> Message {
        Message::Response { id: request_id, result: Ok(result) }
    }

    /// The numeric id of a response, if it has one (ids we allocate are
    /// always numbers; anything else cannot be one of ours).
    pub fn response_id(&self) -> Option<u64> {
        match self {
            Message::Response { id, .. } => id.as_u64(),
            _ => None,
        }
    }

    /// Parses one framed message.
    pub fn parse(bytes: &[u8]) -> Result<Message, OvsdbError> {
        let v: Value = serde_json::from_slice(bytes)
            .map_err(|e| OvsdbError::malformed("JSON-RPC message", format!("not valid JSON: {e}")))?;
        Message::from_json(v)
    }

    /// Interprets a JSON value as a JSON-RPC 1.0 message.
    pub fn from_json(v: Value) -> Result<Message, OvsdbError> {
        let Value::Object(mut o) = v else {
            return Err(OvsdbError::malformed("JSON-RPC message", "not a JSON object"));
        };
        let id = o.remove("id").unwrap_or(Value::Null);
        if let Some(method) = o.remove("method") {
            let Value::String(method) = method else {
                return Err(OvsdbError::malformed("JSON-RPC request", "\"method\" is not a string"));
            };
            let params = o.remove("params").unwrap_or(Value::Array(vec![]));
            if !params.is_array() {
                return Err(OvsdbError::malformed("JSON-RPC request", format!("\"params\" of {method} is not an array")));
            }
            return Ok(if id.is_null() {
                Message::Notification { method, params }
            } else {
                Message::Request { id, method, params }
            });
        }
        if !o.contains_key("result") && !o.contains_key("error") {
            return Err(OvsdbError::malformed("JSON-RPC message", "neither \"method\" nor \"result\"/\"error\""));
        }
        let error = o.remove("error").unwrap_or(Value::Null);
        let result = if error.is_null() {
            Ok(o.remove("result").unwrap_or(Value::Null))
        } else {
            Err(RpcError::from_json(&error))
        };
        Ok(Message::Response { id, result })
    }

    pub fn to_json(&self) -> Value {
        match self {
            Message::Request { id, method, params } => json!({"id": id, "method": method, "params": params}),
            Message::Notification { method, params } => json!({"id": null, "method": method, "params": params}),
            Message::Response { id, result: Ok(r) } => json!({"id": id, "result": r, "error": null}),
            Message::Response { id, result: Err(e) } => json!({"id": id, "result": null, "error": e.to_json()}),
        }
    }

    /// Serializes to bytes ready to write (no trailing newline needed).
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&self.to_json()).expect("a serde_json::Value always serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_classifies() {
        let r = Message::request(7, "transact", json!(["Open_vSwitch"]));
        assert_eq!(Message::parse(&r.to_bytes()).unwrap(), r);
        let n = Message::parse(br#"{"id":null,"method":"update2","params":[1,{}]}"#).unwrap();
        assert!(matches!(n, Message::Notification { ref method, .. } if method == "update2"));
        let e = Message::parse(br#"{"id":3,"result":null,"error":{"error":"unknown method","details":"x"}}"#).unwrap();
        assert_eq!(e.response_id(), Some(3));
        match e {
            Message::Response { result: Err(err), .. } => assert_eq!(err.to_string(), "unknown method: x"),
            other => panic!("{other:?}"),
        }
        let echo = Message::parse(br#"{"id":"echo","method":"echo","params":[]}"#).unwrap();
        assert!(matches!(echo, Message::Request { .. }));
    }

    #[test]
    fn malformed_is_an_error_not_a_panic() {
        for bad in [&b"[1,2]"[..], b"{\"method\":3}", b"{}", b"{\"method\":\"x\",\"params\":{}}", b"{\"a\""] {
            assert!(Message::parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
