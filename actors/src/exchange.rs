//! The KAZOO exchanges events arrive on (SPEC 5). A binding belongs to exactly one of them, and
//! an event matches only the bindings of its own exchange: without that, a superduper
//! `object.*.*` (`*.*.*.*`) would also match every four-word call key.

use std::borrow::Cow;
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Exchange {
    CallEvt,
    Configuration,
    Faxes,
    Conference,
}

impl Exchange {
    pub const ALL: [Exchange; 4] = [
        Exchange::CallEvt,
        Exchange::Configuration,
        Exchange::Faxes,
        Exchange::Conference,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Exchange::CallEvt => "callevt",
            Exchange::Configuration => "configuration",
            Exchange::Faxes => "faxes",
            Exchange::Conference => "conference",
        }
    }

    /// The routing key as KAZOO publishes it on this exchange, from the key clients see (an
    /// event's or a binding's, SPEC 5): a call event's key carries no account
    /// (`call.{EVENT}.{CALL_ID}`), so the account word comes out; the other exchanges' keys are
    /// the same on both sides.
    pub fn broker_key(self, key: &str) -> Cow<'_, str> {
        if self != Exchange::CallEvt {
            return Cow::Borrowed(key);
        }
        match key.split_once('.') {
            Some((call, rest)) => match rest.split_once('.') {
                Some((_account, tail)) => Cow::Owned(format!("{call}.{tail}")),
                None => Cow::Borrowed(key),
            },
            None => Cow::Borrowed(key),
        }
    }

    pub fn parse(name: &str) -> Option<Exchange> {
        Exchange::ALL
            .into_iter()
            .find(|exchange| exchange.name() == name)
    }
}

impl fmt::Display for Exchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for exchange in Exchange::ALL {
            assert_eq!(Exchange::parse(exchange.name()), Some(exchange));
        }
        assert_eq!(Exchange::parse("sysconf"), None);
    }

    #[test]
    fn call_keys_lose_their_account_on_the_broker() {
        let call = Exchange::CallEvt;
        assert_eq!(
            call.broker_key("call.aaaa.CHANNEL_CREATE.c%40x"),
            "call.CHANNEL_CREATE.c%40x"
        );
        assert_eq!(call.broker_key("call.*.*.*"), "call.*.*");
        assert_eq!(call.broker_key("call"), "call");
        let key = "doc_edited.account%2Faa%2Fbb%2Fcc.user.*";
        assert_eq!(Exchange::Configuration.broker_key(key), key);
        assert_eq!(
            Exchange::Faxes.broker_key("fax.status.a.f"),
            "fax.status.a.f"
        );
    }
}
