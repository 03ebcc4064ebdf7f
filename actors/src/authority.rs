//! Who a token is, and who may act on whom (SPEC 2). Implemented at the edge (JWT keys and the
//! account directory live in files); the fabric only asks.

use crate::account::AccountId;

/// Why a token was refused. The two variants map to the two protocol errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// An `auth_token` that is not a string (a number, an object...). Found by the protocol
    /// layer, before any [`Authority`] sees a token.
    #[error("invalid authentication token format")]
    Malformed,
    /// A string that does not authenticate, whatever the reason: not a JWT (a KAZOO legacy
    /// token, garbage), bad signature, expired, unknown key, bad claims. monster-ui logs in
    /// again only on an error that starts with this text.
    #[error("failed to authenticate token")]
    Rejected,
}

pub trait Authority: Send + Sync + 'static {
    /// The account a token speaks for. Every refusal is [`TokenError::Rejected`]: the token
    /// is a string, so it is never "malformed" in the protocol's sense.
    fn authenticate(&self, token: &str) -> Result<AccountId, TokenError>;
    /// SPEC 2: `actor == target`, `actor` is an ancestor of `target`, or `actor` is superduper.
    fn may_act_on(&self, actor: &AccountId, target: &AccountId) -> bool;
    fn is_superduper(&self, account: &AccountId) -> bool;
}
