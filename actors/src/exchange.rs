//! The KAZOO exchanges events arrive on (SPEC 5). A binding belongs to exactly one of them, and
//! an event matches only the bindings of its own exchange: without that, a superduper
//! `object.*.*` (`*.*.*.*`) would also match every four-word call key.

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
}
