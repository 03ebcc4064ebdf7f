//! Minting HS256 tokens, and the `switchyard token` subcommand (SPEC 2).

use std::path::PathBuf;
use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use switchyard_actors::account::AccountId;

use crate::cli::TokenArgs;
use crate::secret::{self, SecretError};

#[derive(Debug, thiserror::Error)]
#[error("cannot sign a token: {0}")]
pub struct MintError(String);

#[derive(Debug, thiserror::Error)]
pub enum TokenCommandError {
    #[error(
        "secret file {p} does not exist; start a node once (`switchyard serve --secret-file {p}` \
         creates it) or write one with `openssl rand -hex 32 > {p}`",
        p = path.display()
    )]
    MissingSecret { path: PathBuf },
    #[error(transparent)]
    Secret(SecretError),
    #[error("--account {given:?} is not an account id (32 lowercase hex characters expected)")]
    InvalidAccount { given: String },
    #[error("--ttl must be greater than 0")]
    ZeroTtl,
    #[error("--ttl must be at most {MAX_TTL_SECONDS} seconds (10 years)")]
    TtlTooLong,
    #[error(transparent)]
    Mint(#[from] MintError),
}

/// The longest lifetime `switchyard token` gives: past it, a typo more likely than a wish.
pub const MAX_TTL_SECONDS: u64 = 10 * 365 * 86_400 + 2 * 86_400;

#[derive(Serialize)]
struct Claims<'a> {
    account_id: &'a str,
    exp: u64,
    iat: u64,
}

/// An HS256 token for `account`, valid for `ttl` (rounded up to whole seconds).
pub fn mint(secret: &[u8], account: &AccountId, ttl: Duration) -> Result<String, MintError> {
    let iat = jsonwebtoken::get_current_timestamp();
    let ttl_secs = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
    let claims = Claims {
        account_id: account.as_str(),
        exp: iat.saturating_add(ttl_secs),
        iat,
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret),
    )
    .map_err(|e| MintError(e.to_string()))
}

/// `switchyard token`: the token to print. Never creates the secret: a token signed with a secret
/// no node uses would be refused everywhere.
pub fn run(args: &TokenArgs) -> Result<String, TokenCommandError> {
    let account =
        AccountId::parse(&args.account).map_err(|_| TokenCommandError::InvalidAccount {
            given: args.account.clone(),
        })?;
    if args.ttl == 0 {
        return Err(TokenCommandError::ZeroTtl);
    }
    if args.ttl > MAX_TTL_SECONDS {
        return Err(TokenCommandError::TtlTooLong);
    }
    let secret = secret::load(&args.secret_file).map_err(|e| match e {
        SecretError::Missing { path } => TokenCommandError::MissingSecret { path },
        other => TokenCommandError::Secret(other),
    })?;
    Ok(mint(&secret, &account, Duration::from_secs(args.ttl))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::jwt::JwtVerifier;
    use crate::auth::jwt::tests::ACCOUNT;
    use switchyard_actors::authority::TokenError;

    fn claims_of(token: &str) -> serde_json::Value {
        jsonwebtoken::dangerous::insecure_decode_claims(token).unwrap()
    }

    #[test]
    fn minted_token_verifies_and_carries_exp_and_iat() {
        let account = AccountId::parse(ACCOUNT).unwrap();
        let token = mint(b"sekrit", &account, Duration::from_millis(1500)).unwrap();
        let verifier = JwtVerifier::new(b"sekrit", Vec::new());
        assert_eq!(verifier.verify(&token), Ok(account));
        let claims = claims_of(&token);
        assert_eq!(claims["account_id"], ACCOUNT);
        let (iat, exp) = (
            claims["iat"].as_u64().unwrap(),
            claims["exp"].as_u64().unwrap(),
        );
        assert_eq!(exp - iat, 2);
        assert_eq!(
            JwtVerifier::new(b"other", Vec::new()).verify(&token),
            Err(TokenError::Rejected)
        );
    }

    fn args(dir: &std::path::Path, account: &str, ttl: u64) -> TokenArgs {
        TokenArgs {
            account: account.to_string(),
            ttl,
            secret_file: dir.join("secret"),
        }
    }

    #[test]
    fn run_uses_the_trimmed_secret_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("secret"), "  abc123\n").unwrap();
        let token = run(&args(dir.path(), ACCOUNT, 60)).unwrap();
        let verifier = JwtVerifier::new(b"abc123", Vec::new());
        assert_eq!(verifier.verify(&token).unwrap().as_str(), ACCOUNT);
        let claims = claims_of(&token);
        assert_eq!(
            claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
            60
        );
    }

    #[test]
    fn run_never_creates_the_secret() {
        let dir = tempfile::tempdir().unwrap();
        let err = run(&args(dir.path(), ACCOUNT, 60)).unwrap_err();
        assert!(matches!(err, TokenCommandError::MissingSecret { .. }));
        let text = err.to_string();
        assert!(text.contains("openssl rand -hex 32 >"), "{text}");
        assert!(
            text.contains(&dir.path().join("secret").display().to_string()),
            "{text}"
        );
        assert!(!dir.path().join("secret").exists());
    }

    #[test]
    fn run_refuses_bad_account_and_zero_ttl() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("secret"), "abc").unwrap();
        let err = run(&args(dir.path(), "nope", 60)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--account \"nope\" is not an account id (32 lowercase hex characters expected)"
        );
        let err = run(&args(dir.path(), ACCOUNT, 0)).unwrap_err();
        assert_eq!(err.to_string(), "--ttl must be greater than 0");
        let err = run(&args(dir.path(), ACCOUNT, u64::MAX)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--ttl must be at most 315532800 seconds (10 years)"
        );
        assert!(run(&args(dir.path(), ACCOUNT, MAX_TTL_SECONDS)).is_ok());
    }

    #[test]
    fn run_refuses_an_empty_secret() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("secret"), "\n").unwrap();
        let err = run(&args(dir.path(), ACCOUNT, 60)).unwrap_err();
        assert!(matches!(
            err,
            TokenCommandError::Secret(SecretError::Empty { .. })
        ));
    }
}
