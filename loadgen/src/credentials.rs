//! What the load generator needs of a node's credentials: tokens minted from the node's secret,
//! the account to publish as, the account a given token claims. Doing that means reading the
//! server's files and JWTs as the server does, so the server implements [`NodeCredentials`] and
//! hands it to [`crate::command`]: the load generator stays a client that depends on no server
//! code.

use std::path::Path;
use std::time::Duration;

use switchyard_actors::account::AccountId;

/// The cause of a [`CredentialError`], as the implementation reports it.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Why credentials could not be had; each shows as its cause.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// The secret file cannot be read (missing, empty, unreadable).
    #[error(transparent)]
    Secret(Cause),
    /// The secret was read but a token could not be signed with it.
    #[error(transparent)]
    Mint(Cause),
    /// The account directory cannot be read.
    #[error(transparent)]
    Directory(Cause),
}

/// A node's credentials, as its own files and tokens give them.
pub trait NodeCredentials {
    /// A token for `account`, signed with the secret in `secret_file`, valid for `ttl`.
    fn mint(
        &self,
        secret_file: &Path,
        account: &AccountId,
        ttl: Duration,
    ) -> Result<String, CredentialError>;

    /// The first superduper account (in id order) of the account directory in `accounts_file`;
    /// `None` when it has none.
    fn first_superduper(&self, accounts_file: &Path) -> Result<Option<AccountId>, CredentialError>;

    /// The account `token` claims, read without checking the token (the node checks it).
    fn account_of(&self, token: &str) -> Option<AccountId>;
}

/// Credentials without a node, for unit tests: a token is `token-of-{account}`, a secret file
/// named `missing` is missing, and every directory's superduper account is [`testing::MASTER`].
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    pub(crate) const MASTER: &str = "5f0c0000000000000000000000000001";

    pub(crate) fn token_of(account: &AccountId) -> String {
        format!("token-of-{account}")
    }

    pub(crate) struct FakeCredentials;

    impl NodeCredentials for FakeCredentials {
        fn mint(
            &self,
            secret_file: &Path,
            account: &AccountId,
            _ttl: Duration,
        ) -> Result<String, CredentialError> {
            if secret_file.ends_with("missing") {
                let cause = format!("secret file {} does not exist", secret_file.display());
                return Err(CredentialError::Secret(cause.into()));
            }
            Ok(token_of(account))
        }

        fn first_superduper(&self, _: &Path) -> Result<Option<AccountId>, CredentialError> {
            Ok(AccountId::parse(MASTER).ok())
        }

        fn account_of(&self, token: &str) -> Option<AccountId> {
            AccountId::parse(token.strip_prefix("token-of-")?).ok()
        }
    }
}
