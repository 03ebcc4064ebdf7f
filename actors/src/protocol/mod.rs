//! The websocket protocol of SPEC 3: what a client frame may say ([`request`]), and the replies
//! and event frames the server sends ([`reply`]). Every error string a client can receive is a
//! `Display` of [`ProtocolError`] (or of a [`crate::bindings::BindingError`] inside it).

pub mod reply;
pub mod request;

use crate::authority::TokenError;
use crate::bindings::BindingError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("invalid json")]
    InvalidJson,
    #[error("rate limiting threshold hit for {peer}!")]
    RateLimited { peer: std::net::SocketAddr },
    #[error("authentication token required")]
    TokenRequired,
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("missing required keys : {}", .0.join(", "))]
    MissingKeys(Vec<&'static str>),
    #[error("invalid value for {0}")]
    InvalidValue(&'static str),
    #[error("unsupported action {0}")]
    UnsupportedAction(String),
    #[error(transparent)]
    Binding(#[from] BindingError),
    #[error("unauthorized wildcard account id")]
    UnauthorizedWildcard,
    #[error("unauthorized account id")]
    UnauthorizedAccount,
    #[error("binding limit reached")]
    BindingLimit,
    /// A binding word (an id, mostly) longer than the node takes.
    #[error("binding id longer than {max} bytes")]
    BindingIdTooLong { max: usize },
    /// The socket's bindings, or one frame's, would hold more bytes than the node takes.
    #[error("bindings longer than {max} bytes in all")]
    BindingBytes { max: usize },
    #[error("connection limit reached for account")]
    ConnectionLimit,
    /// Sent unasked, when the account directory no longer allows bindings the socket held.
    #[error("rights revoked")]
    RightsRevoked,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_strings_are_verbatim() {
        let peer = "10.1.2.3:4567".parse().unwrap();
        let cases = [
            (ProtocolError::InvalidJson, "invalid json"),
            (
                ProtocolError::RateLimited { peer },
                "rate limiting threshold hit for 10.1.2.3:4567!",
            ),
            (
                ProtocolError::TokenRequired,
                "authentication token required",
            ),
            (TokenError::Rejected.into(), "failed to authenticate token"),
            (
                TokenError::Malformed.into(),
                "invalid authentication token format",
            ),
            (
                ProtocolError::MissingKeys(vec!["account_id", "binding"]),
                "missing required keys : account_id, binding",
            ),
            (
                ProtocolError::InvalidValue("bindings"),
                "invalid value for bindings",
            ),
            (
                ProtocolError::UnsupportedAction("dance".into()),
                "unsupported action dance",
            ),
            (
                ProtocolError::UnauthorizedWildcard,
                "unauthorized wildcard account id",
            ),
            (
                ProtocolError::UnauthorizedAccount,
                "unauthorized account id",
            ),
            (ProtocolError::BindingLimit, "binding limit reached"),
            (
                ProtocolError::BindingIdTooLong { max: 256 },
                "binding id longer than 256 bytes",
            ),
            (
                ProtocolError::BindingBytes { max: 30720 },
                "bindings longer than 30720 bytes in all",
            ),
            (
                ProtocolError::ConnectionLimit,
                "connection limit reached for account",
            ),
        ];
        for (error, text) in cases {
            assert_eq!(error.to_string(), text);
        }
    }
}
