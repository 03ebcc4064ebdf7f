//! The node's credentials as `switchyard loadgen` needs them ([`NodeCredentials`]): tokens
//! minted and directories read exactly as the node itself does, so that the load generator
//! depends on no server code.

use std::path::Path;
use std::time::Duration;

use switchyard_actors::account::AccountId;

use super::directory::AccountDirectory;
use super::token::mint;
use crate::secret;
use switchyard_loadgen::{CredentialError, NodeCredentials};

/// The server's reading of its secret file, account directory and tokens.
pub struct LoadgenCredentials;

impl NodeCredentials for LoadgenCredentials {
    fn mint(
        &self,
        secret_file: &Path,
        account: &AccountId,
        ttl: Duration,
    ) -> Result<String, CredentialError> {
        let secret = secret::load(secret_file).map_err(|e| CredentialError::Secret(e.into()))?;
        mint(&secret, account, ttl).map_err(|e| CredentialError::Mint(e.into()))
    }

    fn first_superduper(&self, accounts_file: &Path) -> Result<Option<AccountId>, CredentialError> {
        let directory = AccountDirectory::load(accounts_file)
            .map_err(|e| CredentialError::Directory(e.into()))?;
        Ok(directory
            .superduper_accounts()
            .first()
            .map(|a| (*a).clone()))
    }

    fn account_of(&self, token: &str) -> Option<AccountId> {
        #[derive(serde::Deserialize)]
        struct Claims {
            account_id: String,
        }
        let claims = jsonwebtoken::dangerous::insecure_decode_claims::<Claims>(token).ok()?;
        AccountId::parse(&claims.account_id).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::directory::tests::{acct, sample};

    #[test]
    fn mints_tokens_that_claim_their_account() {
        let dir = tempfile::tempdir().unwrap();
        let secret_file = dir.path().join("secret");
        std::fs::write(&secret_file, "s3cret\n").unwrap();
        let token = LoadgenCredentials
            .mint(&secret_file, &acct('a'), Duration::from_secs(60))
            .unwrap();
        assert_eq!(LoadgenCredentials.account_of(&token), Some(acct('a')));
        assert_eq!(LoadgenCredentials.account_of("not.a.jwt"), None);
        let missing = LoadgenCredentials
            .mint(
                &dir.path().join("none"),
                &acct('a'),
                Duration::from_secs(60),
            )
            .unwrap_err();
        assert!(matches!(missing, CredentialError::Secret(_)));
        assert!(missing.to_string().starts_with("secret file "), "{missing}");
    }

    #[test]
    fn the_publisher_is_the_directorys_first_superduper_account() {
        let dir = tempfile::tempdir().unwrap();
        let accounts_file = dir.path().join("accounts.json");
        std::fs::write(&accounts_file, sample().to_string()).unwrap();
        let first = LoadgenCredentials.first_superduper(&accounts_file).unwrap();
        assert_eq!(first, Some(acct('e')));
        let missing = LoadgenCredentials.first_superduper(&dir.path().join("none"));
        assert!(matches!(missing, Err(CredentialError::Directory(_))));
    }
}
