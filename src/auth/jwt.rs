//! Token verification (SPEC 2): HS256 with the node's secret, RS256 with configured public keys.
//! Nothing here logs or echoes a token.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use switchyard_actors::account::AccountId;
use switchyard_actors::authority::TokenError;

/// A PEM that is not an RSA public key.
#[derive(Debug, thiserror::Error)]
#[error("not an RSA public key in PEM form ({0})")]
pub struct InvalidPublicKey(String);

pub struct JwtVerifier {
    hs256: DecodingKey,
    rs256: Vec<DecodingKey>,
    hs256_validation: Validation,
    rs256_validation: Validation,
}

#[derive(Deserialize)]
struct Claims {
    account_id: String,
}

impl JwtVerifier {
    pub fn new(secret: &[u8], rs256_public_keys: Vec<DecodingKey>) -> Self {
        Self {
            hs256: DecodingKey::from_secret(secret),
            rs256: rs256_public_keys,
            hs256_validation: validation(Algorithm::HS256),
            rs256_validation: validation(Algorithm::RS256),
        }
    }

    /// An RS256 verification key from a PEM (`PUBLIC KEY` or `RSA PUBLIC KEY`).
    pub fn rsa_public_key(pem: &[u8]) -> Result<DecodingKey, InvalidPublicKey> {
        DecodingKey::from_rsa_pem(pem).map_err(|e| InvalidPublicKey(e.to_string()))
    }

    /// Surrounding whitespace is not part of a token, whether it came in a header or a frame.
    ///
    /// Every string that does not authenticate is [`TokenError::Rejected`], whatever the reason
    /// (not JWT-shaped, bad signature, expired, unknown key, bad claims): monster-ui logs in
    /// again only on `failed to authenticate token`, and a KAZOO legacy token (32 hex) is a
    /// string that is not a JWT. The shape check only spares the decoder work.
    pub fn verify(&self, token: &str) -> Result<AccountId, TokenError> {
        let token = token.trim();
        if !is_jwt_shaped(token) {
            tracing::debug!("token refused: not a JWT");
            return Err(TokenError::Rejected);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Rejected)?;
        let claims = match header.alg {
            Algorithm::HS256 => decode(token, &self.hs256, &self.hs256_validation),
            Algorithm::RS256 => self
                .rs256
                .iter()
                .find_map(|key| decode(token, key, &self.rs256_validation)),
            _ => None,
        }
        .ok_or(TokenError::Rejected)?;
        AccountId::parse(&claims.account_id).map_err(|_| TokenError::Rejected)
    }
}

fn validation(alg: Algorithm) -> Validation {
    let mut v = Validation::new(alg);
    // `exp` is enforced when present but not required; no other claim is checked.
    v.required_spec_claims.clear();
    v.leeway = 0;
    v.validate_exp = true;
    v.validate_nbf = false;
    // KAZOO may put an audience in its tokens; we have none to match it against.
    v.validate_aud = false;
    v
}

fn decode(token: &str, key: &DecodingKey, validation: &Validation) -> Option<Claims> {
    match jsonwebtoken::decode::<Claims>(token, key, validation) {
        Ok(data) => Some(data.claims),
        Err(e) => {
            tracing::debug!(reason = ?e.kind(), "token refused");
            None
        }
    }
}

/// Three non-empty segments of unpadded base64url.
fn is_jwt_shaped(token: &str) -> bool {
    let mut segments = 0;
    for segment in token.split('.') {
        segments += 1;
        let valid = !segment.is_empty()
            && segment.len() % 4 != 1
            && segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid || segments > 3 {
            return false;
        }
    }
    segments == 3
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::{Value, json};

    pub(crate) const ACCOUNT: &str = "0123456789abcdef0123456789abcdef";
    pub(crate) const RS256_PRIVATE: &[u8] =
        include_bytes!("../../tests/fixtures/rs256_private.pem");
    pub(crate) const RS256_PUBLIC: &[u8] = include_bytes!("../../tests/fixtures/rs256_public.pem");
    const RS256_OTHER_PRIVATE: &[u8] =
        include_bytes!("../../tests/fixtures/rs256_other_private.pem");
    const RS256_OTHER_PUBLIC: &[u8] = include_bytes!("../../tests/fixtures/rs256_other_public.pem");

    fn now() -> i64 {
        jsonwebtoken::get_current_timestamp() as i64
    }

    fn hs256(secret: &[u8], claims: Value) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret),
        )
        .unwrap()
    }

    fn rs256(private_pem: &[u8], claims: Value) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::RS256),
            &claims,
            &EncodingKey::from_rsa_pem(private_pem).unwrap(),
        )
        .unwrap()
    }

    fn verifier() -> JwtVerifier {
        JwtVerifier::new(
            b"sekrit",
            vec![JwtVerifier::rsa_public_key(RS256_PUBLIC).unwrap()],
        )
    }

    #[test]
    fn hs256_good_with_and_without_exp() {
        let v = verifier();
        let account = AccountId::parse(ACCOUNT).unwrap();
        let token = hs256(b"sekrit", json!({"account_id": ACCOUNT, "exp": now() + 60}));
        assert_eq!(v.verify(&token), Ok(account.clone()));
        let token = hs256(b"sekrit", json!({"account_id": ACCOUNT}));
        assert_eq!(v.verify(&token), Ok(account));
    }

    #[test]
    fn surrounding_whitespace_is_not_part_of_a_token() {
        let v = verifier();
        let token = hs256(b"sekrit", json!({"account_id": ACCOUNT}));
        let account = AccountId::parse(ACCOUNT).unwrap();
        assert_eq!(v.verify(&format!(" {token}\t\n")), Ok(account));
        assert_eq!(v.verify(" aaaa.bbbb.cccc "), Err(TokenError::Rejected));
        assert_eq!(v.verify("aaaa.bb bb.cccc"), Err(TokenError::Rejected));
    }

    #[test]
    fn hs256_expired_is_rejected() {
        let token = hs256(b"sekrit", json!({"account_id": ACCOUNT, "exp": now() - 1}));
        assert_eq!(verifier().verify(&token), Err(TokenError::Rejected));
    }

    #[test]
    fn hs256_bad_exp_is_rejected() {
        let token = hs256(b"sekrit", json!({"account_id": ACCOUNT, "exp": "soon"}));
        assert_eq!(verifier().verify(&token), Err(TokenError::Rejected));
    }

    #[test]
    fn hs256_wrong_secret_is_rejected() {
        let token = hs256(b"other", json!({"account_id": ACCOUNT}));
        assert_eq!(verifier().verify(&token), Err(TokenError::Rejected));
    }

    #[test]
    fn missing_or_invalid_account_is_rejected() {
        let v = verifier();
        for claims in [
            json!({}),
            json!({"account_id": 5}),
            json!({"account_id": "not-an-account"}),
            json!({"account_id": ACCOUNT.to_uppercase()}),
            json!({"sub": ACCOUNT}),
        ] {
            let token = hs256(b"sekrit", claims.clone());
            assert_eq!(v.verify(&token), Err(TokenError::Rejected), "{claims}");
        }
    }

    #[test]
    fn unsupported_algorithms_are_rejected() {
        let v = verifier();
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &json!({"account_id": ACCOUNT}),
            &EncodingKey::from_secret(b"sekrit"),
        )
        .unwrap();
        assert_eq!(v.verify(&token), Err(TokenError::Rejected));

        // alg "none", no signature algorithm at all.
        let b64 = |v: Value| base64url(v.to_string().as_bytes());
        let token = format!(
            "{}.{}.{}",
            b64(json!({"alg": "none", "typ": "JWT"})),
            b64(json!({"account_id": ACCOUNT})),
            "AAAA"
        );
        assert_eq!(v.verify(&token), Err(TokenError::Rejected));
    }

    #[test]
    fn an_hs256_token_signed_with_the_rsa_public_key_is_rejected() {
        // The classic algorithm-confusion attack.
        let token = hs256(RS256_PUBLIC, json!({"account_id": ACCOUNT}));
        assert_eq!(verifier().verify(&token), Err(TokenError::Rejected));
    }

    #[test]
    fn a_string_that_is_not_a_jwt_is_rejected_not_malformed() {
        let v = verifier();
        for token in [
            "",
            "garbage",
            "a.b",
            "aaaa.bbbb",
            "aaaa..cccc",
            ".bbbb.cccc",
            "aaaa.bbbb.",
            "aaaa.bbbb.cccc.dddd",
            "aa!a.bbbb.cccc",
            "aaaa.bb+b.cccc",
            "aaaa.bbbb.cc/c",
            "aaaa.bbbb.cc==",
            "aaaaa.bbbb.cccc",
            "Bearer aaaa.bbbb.cccc",
            // A KAZOO legacy (pre-JWT) auth token.
            "0123456789abcdef0123456789abcdef",
        ] {
            assert_eq!(v.verify(token), Err(TokenError::Rejected), "{token:?}");
        }
    }

    #[test]
    fn well_shaped_but_bad_header_is_rejected() {
        let v = verifier();
        let claims = base64url(br#"{"account_id":"x"}"#);
        for header in [&b"not json"[..], br#"{"typ":"JWT"}"#, br#"{"alg":"XX256"}"#] {
            let token = format!("{}.{claims}.AAAA", base64url(header));
            assert_eq!(v.verify(&token), Err(TokenError::Rejected));
        }
        assert_eq!(v.verify("aaaa.bbbb.cccc"), Err(TokenError::Rejected));
    }

    #[test]
    fn rs256_good_expired_and_untrusted() {
        let v = verifier();
        let good = rs256(
            RS256_PRIVATE,
            json!({"account_id": ACCOUNT, "exp": now() + 60}),
        );
        assert_eq!(v.verify(&good).unwrap().as_str(), ACCOUNT);
        let expired = rs256(
            RS256_PRIVATE,
            json!({"account_id": ACCOUNT, "exp": now() - 10}),
        );
        assert_eq!(v.verify(&expired), Err(TokenError::Rejected));
        let untrusted = rs256(RS256_OTHER_PRIVATE, json!({"account_id": ACCOUNT}));
        assert_eq!(v.verify(&untrusted), Err(TokenError::Rejected));
    }

    #[test]
    fn rs256_tries_every_configured_key() {
        let v = JwtVerifier::new(
            b"sekrit",
            vec![
                JwtVerifier::rsa_public_key(RS256_OTHER_PUBLIC).unwrap(),
                JwtVerifier::rsa_public_key(RS256_PUBLIC).unwrap(),
            ],
        );
        let token = rs256(RS256_PRIVATE, json!({"account_id": ACCOUNT}));
        assert_eq!(v.verify(&token).unwrap().as_str(), ACCOUNT);
        let token = rs256(RS256_OTHER_PRIVATE, json!({"account_id": ACCOUNT}));
        assert_eq!(v.verify(&token).unwrap().as_str(), ACCOUNT);
    }

    #[test]
    fn rs256_without_keys_is_rejected() {
        let v = JwtVerifier::new(b"sekrit", Vec::new());
        let token = rs256(RS256_PRIVATE, json!({"account_id": ACCOUNT}));
        assert_eq!(v.verify(&token), Err(TokenError::Rejected));
    }

    #[test]
    fn bad_public_key_pem() {
        assert!(JwtVerifier::rsa_public_key(b"not a pem").is_err());
    }

    pub(crate) fn base64url(bytes: &[u8]) -> String {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
            for i in 0..=chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            }
        }
        out
    }
}
