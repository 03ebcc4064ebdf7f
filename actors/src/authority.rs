//! Who a token is, and who may act on whom (SPEC 2). Implemented at the edge (JWT keys and the
//! account directory live in files); the fabric only asks.

use crate::account::AccountId;

/// Why a token was refused. The two variants map to the two protocol errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a JWT at all (not three base64url segments, not a string).
    #[error("invalid authentication token format")]
    Malformed,
    /// A JWT, but its signature, expiry or claims do not hold.
    #[error("failed to authenticate token")]
    Rejected,
}

pub trait Authority: Send + Sync + 'static {
    /// The account a token speaks for.
    fn authenticate(&self, token: &str) -> Result<AccountId, TokenError>;
    /// SPEC 2: `actor == target`, `actor` is an ancestor of `target`, or `actor` is superduper.
    fn may_act_on(&self, actor: &AccountId, target: &AccountId) -> bool;
    fn is_superduper(&self, account: &AccountId) -> bool;
}
