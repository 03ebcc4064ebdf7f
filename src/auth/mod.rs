//! Who a token is and who may act on whom (SPEC 2), for the fabric's
//! [`Authority`](switchyard_actors::authority::Authority).

pub mod credentials;
pub mod directory;
pub mod jwt;
pub mod token;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use switchyard_actors::account::AccountId;
use switchyard_actors::authority::{Authority, TokenError};

pub use credentials::LoadgenCredentials;
pub use directory::{AccountDirectory, DirectoryError};
pub use jwt::{InvalidPublicKey, JwtVerifier};
pub use token::{MintError, TokenCommandError, mint};

use crate::config::{Settings, io_reason};
use crate::secret::{self, SecretError};

#[derive(Debug, thiserror::Error)]
pub enum AuthSetupError {
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("the signing secret is empty")]
    EmptySecret,
    #[error("cannot read JWT public key file {}: {reason}", path.display())]
    ReadPublicKey { path: PathBuf, reason: String },
    /// `origin` names the file, or the key's position when given as bytes.
    #[error("JWT public key {origin}: {error}")]
    PublicKey {
        origin: String,
        error: InvalidPublicKey,
    },
    #[error(transparent)]
    Directory(#[from] DirectoryError),
}

/// The node's [`Authority`]: token verification plus the account directory, which SIGHUP may
/// swap while sockets keep asking.
pub struct NodeAuthority {
    verifier: JwtVerifier,
    directory: ArcSwap<AccountDirectory>,
    accounts_file: Option<PathBuf>,
}

impl NodeAuthority {
    /// `public_key_pems`: RS256 public keys, PEM-encoded.
    pub fn new(
        secret: Vec<u8>,
        public_key_pems: &[Vec<u8>],
        accounts_file: Option<PathBuf>,
    ) -> Result<Self, AuthSetupError> {
        let keys = public_key_pems
            .iter()
            .enumerate()
            .map(|(i, pem)| {
                JwtVerifier::rsa_public_key(pem).map_err(|error| AuthSetupError::PublicKey {
                    origin: format!("#{}", i + 1),
                    error,
                })
            })
            .collect::<Result<_, _>>()?;
        Self::with_keys(secret, keys, accounts_file)
    }

    /// Secret (created if absent), public key files and account directory as `settings` name them.
    pub fn from_settings(settings: &Settings) -> Result<Self, AuthSetupError> {
        let secret = secret::load_or_create(&settings.secret_file)?;
        let keys = settings
            .jwt_public_keys
            .iter()
            .map(|path| read_public_key(path))
            .collect::<Result<_, _>>()?;
        Self::with_keys(secret, keys, settings.accounts_file.clone())
    }

    fn with_keys(
        secret: Vec<u8>,
        keys: Vec<jsonwebtoken::DecodingKey>,
        accounts_file: Option<PathBuf>,
    ) -> Result<Self, AuthSetupError> {
        if secret.is_empty() {
            return Err(AuthSetupError::EmptySecret);
        }
        let directory = match &accounts_file {
            Some(path) => AccountDirectory::load_or_create(path)?,
            None => AccountDirectory::empty(),
        };
        Ok(Self {
            verifier: JwtVerifier::new(&secret, keys),
            directory: ArcSwap::from_pointee(directory),
            accounts_file,
        })
    }

    /// Rereads the accounts file (SIGHUP); the accounts it no longer has. On error the
    /// directory in use stays.
    pub fn reload_directory(&self) -> Result<Vec<AccountId>, DirectoryError> {
        let Some(path) = &self.accounts_file else {
            return Ok(Vec::new());
        };
        let newer = Arc::new(AccountDirectory::load(path)?);
        let older = self.directory.swap(newer.clone());
        Ok(older.removed_in(&newer))
    }

    pub fn directory(&self) -> Arc<AccountDirectory> {
        self.directory.load_full()
    }

    pub fn accounts_file(&self) -> Option<&Path> {
        self.accounts_file.as_deref()
    }
}

fn read_public_key(path: &Path) -> Result<jsonwebtoken::DecodingKey, AuthSetupError> {
    let pem = std::fs::read(path).map_err(|e| AuthSetupError::ReadPublicKey {
        path: path.to_path_buf(),
        reason: io_reason(&e),
    })?;
    JwtVerifier::rsa_public_key(&pem).map_err(|error| AuthSetupError::PublicKey {
        origin: path.display().to_string(),
        error,
    })
}

impl Authority for NodeAuthority {
    fn authenticate(&self, token: &str) -> Result<AccountId, TokenError> {
        self.verifier.verify(token)
    }

    fn may_act_on(&self, actor: &AccountId, target: &AccountId) -> bool {
        self.directory.load().may_act_on(actor, target)
    }

    fn is_superduper(&self, account: &AccountId) -> bool {
        self.directory.load().is_superduper(account)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::directory::tests::{acct, id, sample};
    use crate::auth::jwt::tests::{ACCOUNT, RS256_PRIVATE, RS256_PUBLIC};
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    use serde_json::json;
    use std::time::Duration;

    #[test]
    fn authenticates_hs256_and_rs256() {
        let auth = NodeAuthority::new(b"sekrit".to_vec(), &[RS256_PUBLIC.to_vec()], None).unwrap();
        let account = AccountId::parse(ACCOUNT).unwrap();
        let hs = mint(b"sekrit", &account, Duration::from_secs(60)).unwrap();
        assert_eq!(auth.authenticate(&hs), Ok(account.clone()));
        let rs = jsonwebtoken::encode(
            &Header::new(Algorithm::RS256),
            &json!({"account_id": ACCOUNT}),
            &EncodingKey::from_rsa_pem(RS256_PRIVATE).unwrap(),
        )
        .unwrap();
        assert_eq!(auth.authenticate(&rs), Ok(account));
        assert_eq!(auth.authenticate("x"), Err(TokenError::Rejected));
    }

    #[test]
    fn bad_setup_is_refused() {
        let err = NodeAuthority::new(b"s".to_vec(), &[b"junk".to_vec()], None)
            .err()
            .unwrap();
        assert!(err.to_string().starts_with("JWT public key #1: "), "{err}");
        assert!(matches!(
            NodeAuthority::new(Vec::new(), &[], None),
            Err(AuthSetupError::EmptySecret)
        ));
    }

    #[test]
    fn from_settings_creates_the_secret_and_reads_files() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("kazoo.pem");
        std::fs::write(&key, RS256_PUBLIC).unwrap();
        let accounts = dir.path().join("accounts.json");
        std::fs::write(&accounts, sample().to_string()).unwrap();
        let settings = Settings {
            secret_file: dir.path().join("s/secret"),
            jwt_public_keys: vec![key],
            accounts_file: Some(accounts.clone()),
            ..Settings::default()
        };
        let auth = NodeAuthority::from_settings(&settings).unwrap();
        assert!(settings.secret_file.exists());
        assert!(auth.may_act_on(&acct('a'), &acct('c')));
        assert!(auth.is_superduper(&acct('e')));
        assert_eq!(auth.accounts_file(), Some(accounts.as_path()));

        // The token a node logs at start verifies against that node.
        let secret = crate::secret::load(&settings.secret_file).unwrap();
        let token = mint(&secret, &acct('a'), Duration::from_secs(60)).unwrap();
        assert_eq!(auth.authenticate(&token), Ok(acct('a')));
    }

    #[test]
    fn from_settings_names_the_bad_file() {
        let dir = tempfile::tempdir().unwrap();
        let base = Settings {
            secret_file: dir.path().join("secret"),
            ..Settings::default()
        };
        let missing = dir.path().join("missing.pem");
        let settings = Settings {
            jwt_public_keys: vec![missing.clone()],
            ..base.clone()
        };
        let err = NodeAuthority::from_settings(&settings).err().unwrap();
        assert_eq!(
            err.to_string(),
            format!(
                "cannot read JWT public key file {}: No such file or directory",
                missing.display()
            )
        );

        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "junk").unwrap();
        let settings = Settings {
            jwt_public_keys: vec![junk.clone()],
            ..base.clone()
        };
        let err = NodeAuthority::from_settings(&settings).err().unwrap();
        assert!(
            err.to_string()
                .starts_with(&format!("JWT public key {}: ", junk.display())),
            "{err}"
        );

        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, "{").unwrap();
        let settings = Settings {
            accounts_file: Some(bad),
            ..base
        };
        let err = NodeAuthority::from_settings(&settings).err().unwrap();
        assert!(matches!(err, AuthSetupError::Directory(_)), "{err}");
    }

    #[test]
    fn reload_swaps_the_directory_and_keeps_the_old_on_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("accounts.json");
        std::fs::write(&path, sample().to_string()).unwrap();
        let auth = NodeAuthority::new(b"s".to_vec(), &[], Some(path.clone())).unwrap();
        assert!(auth.may_act_on(&acct('a'), &acct('b')));

        // d adopts b.
        let changed = json!({"accounts": [
            {"id": id('b'), "parent": id('d')},
            {"id": id('d'), "parent": null},
        ]});
        std::fs::write(&path, changed.to_string()).unwrap();
        auth.reload_directory().unwrap();
        assert!(!auth.may_act_on(&acct('a'), &acct('b')));
        assert!(auth.may_act_on(&acct('d'), &acct('b')));

        std::fs::write(&path, "{broken").unwrap();
        assert!(auth.reload_directory().is_err());
        assert!(auth.may_act_on(&acct('d'), &acct('b')));
        std::fs::remove_file(&path).unwrap();
        assert!(auth.reload_directory().is_err());
        assert_eq!(auth.directory().len(), 2);
    }

    #[test]
    fn without_an_accounts_file_reload_is_a_no_op() {
        let auth = NodeAuthority::new(b"s".to_vec(), &[], None).unwrap();
        auth.reload_directory().unwrap();
        assert!(auth.may_act_on(&acct('a'), &acct('a')));
        assert!(!auth.may_act_on(&acct('a'), &acct('b')));
        assert!(!auth.is_superduper(&acct('a')));
    }
}
