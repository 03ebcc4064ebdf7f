//! Account ids and the database names derived from them.

use std::fmt;
use std::sync::Arc;

use crate::month::YearMonth;

/// A KAZOO account id: exactly 32 lowercase hex characters. Cheap to clone.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct AccountId(Arc<str>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an account id (32 lowercase hex characters expected)")]
pub struct InvalidAccountId;

fn is_lower_hex(b: u8) -> bool {
    matches!(b, b'0'..=b'9' | b'a'..=b'f')
}

impl AccountId {
    pub fn parse(raw: &str) -> Result<Self, InvalidAccountId> {
        if raw.len() == 32 && raw.bytes().all(is_lower_hex) {
            Ok(Self(Arc::from(raw)))
        } else {
            Err(InvalidAccountId)
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// `account%2F{a1a2}%2F{a3a4}%2F{a5..a32}`
    pub fn database(&self) -> String {
        let a = self.as_str();
        format!("account%2F{}%2F{}%2F{}", &a[..2], &a[2..4], &a[4..])
    }
    /// `{database}-{YYYYMM}`
    pub fn modb(&self, month: YearMonth) -> String {
        format!("{}-{month}", self.database())
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The account a binding is for: one account, or every account (`*`, superduper only).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum AccountScope {
    One(AccountId),
    All,
}

/// A routing-key word that names an account's MODB (`account%2F..%2F..%2F…-YYYYMM`), with the
/// month replaced so that every month of one account gives the same word. `None` for any other
/// word. This is how MODB bindings survive the month (SPEC 4).
///
/// The month becomes a literal `*`: enc() turns every `*` of an id into `%2A`, so no real
/// routing-key word can collide with the result.
pub fn month_agnostic_modb(word: &str) -> Option<String> {
    // `account%2F` 2 `%2F` 2 `%2F` 28 `-` 6
    const LEN: usize = 10 + 2 + 3 + 2 + 3 + 28 + 1 + 6;
    let b = word.as_bytes();
    if b.len() != LEN {
        return None;
    }
    let hex = |r: std::ops::Range<usize>| b[r].iter().copied().all(is_lower_hex);
    let shaped = b.starts_with(b"account%2F")
        && hex(10..12)
        && &b[12..15] == b"%2F"
        && hex(15..17)
        && &b[17..20] == b"%2F"
        && hex(20..48)
        && b[48] == b'-'
        && b[49..].iter().all(u8::is_ascii_digit);
    shaped.then(|| format!("{}*", &word[..49]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "0123456789abcdef0123456789abcdef";
    const ADB: &str = "account%2F01%2F23%2F456789abcdef0123456789abcdef";

    #[test]
    fn parse_accepts_32_lower_hex() {
        let a = AccountId::parse(A).unwrap();
        assert_eq!(a.as_str(), A);
        assert_eq!(a.to_string(), A);
        assert_eq!(a.clone(), a);
    }

    #[test]
    fn parse_refuses_everything_else() {
        for bad in [
            "",
            "*",
            "0123456789abcdef0123456789abcde",   // 31
            "0123456789abcdef0123456789abcdef0", // 33
            "0123456789ABCDEF0123456789ABCDEF",  // upper case
            "0123456789abcdef0123456789abcdeg",  // not hex
            "0123456789abcdef 123456789abcdef",
            "0123456789abcdef-0123456789abcde",
            "0123456789abcdef0123456789abcdé", // 32 bytes, non-ASCII
        ] {
            assert_eq!(AccountId::parse(bad), Err(InvalidAccountId), "{bad:?}");
        }
    }

    #[test]
    fn database_name() {
        let a = AccountId::parse(A).unwrap();
        assert_eq!(a.database(), ADB);
    }

    #[test]
    fn modb_name() {
        let a = AccountId::parse(A).unwrap();
        let march = YearMonth {
            year: 2024,
            month: 3,
        };
        assert_eq!(a.modb(march), format!("{ADB}-202403"));
        let december = YearMonth {
            year: 2025,
            month: 12,
        };
        assert_eq!(a.modb(december), format!("{ADB}-202512"));
    }

    #[test]
    fn month_agnostic_of_modb() {
        let a = AccountId::parse(A).unwrap();
        let want = format!("{ADB}-*");
        for (year, month) in [(2024, 1), (2024, 12), (2031, 7)] {
            let modb = a.modb(YearMonth { year, month });
            assert_eq!(month_agnostic_modb(&modb), Some(want.clone()));
        }
    }

    #[test]
    fn month_agnostic_of_other_words() {
        let modb = format!("{ADB}-202403");
        for other in [
            String::new(),
            "*".to_owned(),
            "#".to_owned(),
            ADB.to_owned(),
            format!("{ADB}-*"),
            format!("{ADB}-20240"),
            format!("{ADB}-2024031"),
            format!("{ADB}-2024a3"),
            format!("{ADB}_202403"),
            modb.replace("account%2F", "account/"),
            modb.replace("account", "Account"),
            modb.replace("%2F01", "%2f01"),
            modb.replace("abcdef-", "ABCDEF-"),
            modb.replace("%2F23", "%2Fz3"),
            format!("x{modb}"),
            modb[1..].to_owned(),
            "call".to_owned(),
            "doc_created".to_owned(),
        ] {
            assert_eq!(month_agnostic_modb(&other), None, "{other:?}");
        }
    }

    #[test]
    fn month_agnostic_with_non_ascii_of_same_length() {
        // Byte slicing must not split a character, nor accept one.
        let mut w = format!("{ADB}-20240");
        w.pop();
        w.push('é');
        assert_eq!(w.len(), 55);
        assert_eq!(month_agnostic_modb(&w), None);
    }
}
