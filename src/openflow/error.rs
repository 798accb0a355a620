//! Errors of the OpenFlow session, kept apart by who caused them: the
//! switch sent something malformed, the switch refused a request, the
//! connection went away, a deadline passed, the outcome of a request is
//! unknown, or the caller asked for something impossible.
//!
//! Owns the error types and their one-sentence messages; never decides
//! what to do about an error (retry, replay) — that is the caller's job.

use podflow_proto::error::DecodeError;
use podflow_proto::openflow::error::ErrorMsg;
use std::fmt;
use std::time::Duration;

/// What was wrong with what the switch sent: where it was found, and the
/// decoder's own error when bytes did not decode (absent for a well-formed
/// message that breaks the protocol, e.g. the wrong reply to a request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    pub context: String,
    pub decode: Option<DecodeError>,
}

impl Malformed {
    /// A well-formed message that breaks the protocol.
    pub fn protocol(context: impl Into<String>) -> Self {
        Malformed { context: context.into(), decode: None }
    }

    /// Bytes that did not decode.
    pub fn decode(context: impl Into<String>, e: DecodeError) -> Self {
        Malformed { context: context.into(), decode: Some(e) }
    }
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.decode {
            Some(e) if self.context.is_empty() => write!(f, "{e}"),
            Some(e) => write!(f, "{}: {e}", self.context),
            None => f.write_str(&self.context),
        }
    }
}

impl std::error::Error for Malformed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.decode.as_ref().map(|e| e as _)
    }
}

/// Why an OpenFlow request or the session failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OfError {
    /// The connection could not be opened; `kind` is the socket's error
    /// kind ([`crate::dial::nobody_listening`] tells a daemon that is down).
    #[error("cannot connect to {addr}: {reason}")]
    Connect { addr: String, kind: std::io::ErrorKind, reason: String },
    /// The switch does not offer OpenFlow 1.5 on this connection.
    #[error("the switch at {addr} does not offer OpenFlow 1.5 (it offers {offered}); fix: ovs-vsctl set bridge {bridge} protocols=OpenFlow10,OpenFlow11,OpenFlow12,OpenFlow13,OpenFlow14,OpenFlow15")]
    Version { addr: String, bridge: String, offered: String },
    /// The switch sent bytes that are not a valid OpenFlow 1.5 message.
    #[error("the switch sent a malformed message: {0}")]
    Malformed(Malformed),
    /// The switch answered the request with an OpenFlow ERROR.
    #[error("the switch refused {request}: {error}")]
    Refused { request: &'static str, error: ErrorMsg },
    /// The connection is closed; the request was not answered.
    #[error("disconnected from the switch: {0}")]
    Disconnected(String),
    /// No answer arrived before the request's deadline.
    #[error("the switch did not answer {what} within {after:?}")]
    Timeout { what: &'static str, after: Duration },
    /// The request may or may not have taken effect (its reply was lost).
    #[error("the outcome of {what} is unknown: {why}; read the switch's state to find out")]
    OutcomeUnknown { what: &'static str, why: String },
    /// The caller asked for something that cannot be sent.
    #[error("invalid request: {0}")]
    Caller(String),
}

impl OfError {
    /// True when the session is gone (the caller should wait for a reconnect).
    pub fn is_disconnected(&self) -> bool {
        matches!(self, OfError::Disconnected(_) | OfError::Connect { .. })
    }

    /// A well-formed message from the switch that breaks the protocol.
    pub fn protocol(context: impl Into<String>) -> Self {
        OfError::Malformed(Malformed::protocol(context))
    }
}

impl From<crate::dial::AddrError> for OfError {
    fn from(e: crate::dial::AddrError) -> Self {
        OfError::Caller(e.to_string())
    }
}

/// The switch's error for one message of a bundle, by its position in the
/// `Vec<Message>` given to [`crate::openflow::Session::bundle`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageError {
    pub index: usize,
    pub error: ErrorMsg,
}

impl fmt::Display for MessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "message {}: {}", self.index, self.error)
    }
}

fn list(errors: &[MessageError]) -> String {
    let mut s = errors.iter().take(5).map(|e| e.to_string()).collect::<Vec<_>>().join("; ");
    if errors.len() > 5 {
        s.push_str(&format!("; and {} more", errors.len() - 5));
    }
    s
}

/// Why a bundle transaction did not commit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    /// Some messages were refused while being added; the bundle was
    /// discarded and nothing was applied.
    #[error("the switch refused {} of the bundled messages, so the bundle was discarded and nothing was applied: {}", errors.len(), list(errors))]
    Rejected { errors: Vec<MessageError> },
    /// The switch refused the COMMIT and rolled the whole bundle back.
    #[error("the switch refused to commit the bundle ({error}) and applied nothing{}", if culprits.is_empty() { String::new() } else { format!(": {}", list(culprits)) })]
    CommitFailed { error: ErrorMsg, culprits: Vec<MessageError> },
    /// The switch dropped the bundle (idle timeout or another asynchronous
    /// bundle error); nothing was applied.
    #[error("the switch dropped the bundle before it was committed ({error}); nothing was applied")]
    Expired { error: ErrorMsg },
    /// The session failed; with [`OfError::OutcomeUnknown`] the commit may
    /// have been applied.
    #[error(transparent)]
    Session(#[from] OfError),
}

impl BundleError {
    /// True when the bundle may have been applied (commit reply lost).
    pub fn outcome_unknown(&self) -> bool {
        matches!(self, BundleError::Session(OfError::OutcomeUnknown { .. }))
    }
}
