//! Which bindings this node's queue needs on the broker, from the patterns its subscriptions
//! need (`Router::watch_patterns`): reference-counted, so a broker binding comes with the first
//! pattern that needs it and goes with the last. Pure bookkeeping; the link applies the changes.
//!
//! Two things make a broker binding differ from a pattern. A call pattern names its account but
//! KAZOO's call keys do not (`call.{EVENT}.{CALL_ID}`), so several accounts' patterns share one
//! binding and the router filters. And a MODB pattern stands for every month (SPEC 4), which
//! no topic pattern can say inside a word: it is bound for last month, this month and next, and
//! moved along when the month turns, so a socket that outlives the month keeps its events.

use std::collections::HashMap;

use switchyard_actors::exchange::Exchange;
use switchyard_actors::month::YearMonth;
use switchyard_actors::router::{Pattern, PatternChange};

/// One binding of this node's queue on an event exchange.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct BrokerBinding {
    pub exchange: Exchange,
    pub key: String,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum BindingChange {
    Bind(BrokerBinding),
    Unbind(BrokerBinding),
}

pub(crate) struct Binder {
    /// Each pattern needed and the broker bindings it stands for this month.
    patterns: HashMap<Pattern, Vec<BrokerBinding>>,
    /// How many patterns need each broker binding.
    wanted: HashMap<BrokerBinding, usize>,
    month: YearMonth,
}

impl Binder {
    pub(crate) fn new(month: YearMonth) -> Self {
        Self {
            patterns: HashMap::new(),
            wanted: HashMap::new(),
            month,
        }
    }

    /// Every broker binding needed now.
    pub(crate) fn wanted(&self) -> impl Iterator<Item = &BrokerBinding> {
        self.wanted.keys()
    }

    pub(crate) fn apply(&mut self, change: PatternChange) -> Vec<BindingChange> {
        let mut changes = Vec::new();
        match change {
            PatternChange::Needed(pattern) => {
                if self.patterns.contains_key(&pattern) {
                    return changes;
                }
                let bindings = broker_bindings(&pattern, self.month);
                self.want(&bindings, &mut changes);
                self.patterns.insert(pattern, bindings);
            }
            PatternChange::Unneeded(pattern) => {
                if let Some(bindings) = self.patterns.remove(&pattern) {
                    self.unwant(&bindings, &mut changes);
                }
            }
            // Everything before it is applied by the time the caller applies what this returns.
            PatternChange::Settled(settled) => {
                let _ = settled.send(());
            }
        }
        changes
    }

    /// The month turned: MODB patterns move their window along.
    pub(crate) fn roll_to(&mut self, month: YearMonth) -> Vec<BindingChange> {
        let mut changes = Vec::new();
        if month == self.month {
            return changes;
        }
        self.month = month;
        let patterns: Vec<Pattern> = self.patterns.keys().cloned().collect();
        for pattern in patterns {
            let now = broker_bindings(&pattern, month);
            if self.patterns[&pattern] == now {
                continue;
            }
            // Want the new before unwanting the old, so that a binding in both stays bound.
            self.want(&now, &mut changes);
            let before = self.patterns.insert(pattern, now).unwrap_or_default();
            self.unwant(&before, &mut changes);
        }
        changes
    }

    fn want(&mut self, bindings: &[BrokerBinding], changes: &mut Vec<BindingChange>) {
        for binding in bindings {
            let count = self.wanted.entry(binding.clone()).or_default();
            *count += 1;
            if *count == 1 {
                changes.push(BindingChange::Bind(binding.clone()));
            }
        }
    }

    fn unwant(&mut self, bindings: &[BrokerBinding], changes: &mut Vec<BindingChange>) {
        for binding in bindings {
            if let Some(count) = self.wanted.get_mut(binding) {
                *count -= 1;
                if *count == 0 {
                    self.wanted.remove(binding);
                    changes.push(BindingChange::Unbind(binding.clone()));
                }
            }
        }
    }
}

/// The broker bindings one pattern stands for in `month`.
fn broker_bindings(pattern: &Pattern, month: YearMonth) -> Vec<BrokerBinding> {
    let key = pattern.exchange.broker_key(&pattern.key);
    let months = [month.previous(), month, month.next()];
    let mut keys: Vec<String> = if key.split('.').any(is_any_month_modb) {
        months
            .iter()
            .map(|month| {
                key.split('.')
                    .map(|word| match is_any_month_modb(word) {
                        true => format!("{}{month}", &word[..word.len() - 1]),
                        false => word.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(".")
            })
            .collect()
    } else {
        vec![key.into_owned()]
    };
    keys.dedup();
    keys.into_iter()
        .map(|key| BrokerBinding {
            exchange: pattern.exchange,
            key,
        })
        .collect()
}

/// A MODB word made month-agnostic by the router (`{ADB}-*`).
fn is_any_month_modb(word: &str) -> bool {
    word.starts_with("account%2F") && word.ends_with("-*")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADB: &str = "account%2Faa%2Faa%2Faaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    fn ym(year: u32, month: u32) -> YearMonth {
        YearMonth { year, month }
    }

    fn pattern(exchange: Exchange, key: &str) -> Pattern {
        Pattern {
            exchange,
            key: key.to_string(),
        }
    }

    fn bind(exchange: Exchange, key: &str) -> BindingChange {
        BindingChange::Bind(BrokerBinding {
            exchange,
            key: key.to_string(),
        })
    }

    fn unbind(exchange: Exchange, key: &str) -> BindingChange {
        BindingChange::Unbind(BrokerBinding {
            exchange,
            key: key.to_string(),
        })
    }

    #[test]
    fn call_patterns_of_two_accounts_share_one_broker_binding() {
        let mut binder = Binder::new(ym(2026, 12));
        let a = pattern(Exchange::CallEvt, "call.aaaa.CHANNEL_CREATE.*");
        let b = pattern(Exchange::CallEvt, "call.bbbb.CHANNEL_CREATE.*");
        assert_eq!(
            binder.apply(PatternChange::Needed(a.clone())),
            [bind(Exchange::CallEvt, "call.CHANNEL_CREATE.*")]
        );
        assert_eq!(binder.apply(PatternChange::Needed(b.clone())), []);
        assert_eq!(binder.apply(PatternChange::Unneeded(a)), []);
        assert_eq!(
            binder.apply(PatternChange::Unneeded(b)),
            [unbind(Exchange::CallEvt, "call.CHANNEL_CREATE.*")]
        );
        assert_eq!(binder.wanted().count(), 0);
    }

    #[test]
    fn modb_patterns_bind_a_window_of_months_that_moves() {
        let mut binder = Binder::new(ym(2026, 12));
        let fax = pattern(
            Exchange::Configuration,
            &format!("doc_created.{ADB}-*.fax.*"),
        );
        let key = |month: &str| format!("doc_created.{ADB}-{month}.fax.*");
        assert_eq!(
            binder.apply(PatternChange::Needed(fax.clone())),
            [
                bind(Exchange::Configuration, &key("202611")),
                bind(Exchange::Configuration, &key("202612")),
                bind(Exchange::Configuration, &key("202701")),
            ]
        );
        assert_eq!(
            binder.roll_to(ym(2027, 1)),
            [
                bind(Exchange::Configuration, &key("202702")),
                unbind(Exchange::Configuration, &key("202611")),
            ]
        );
        assert_eq!(binder.roll_to(ym(2027, 1)), []);
        assert_eq!(binder.apply(PatternChange::Unneeded(fax)).len(), 3);
        assert_eq!(binder.wanted().count(), 0);
    }

    #[test]
    fn other_patterns_bind_as_they_are() {
        let mut binder = Binder::new(ym(2026, 12));
        let doc = pattern(Exchange::Configuration, &format!("*.{ADB}.user.*"));
        assert_eq!(
            binder.apply(PatternChange::Needed(doc.clone())),
            [bind(Exchange::Configuration, &format!("*.{ADB}.user.*"))]
        );
        assert_eq!(binder.apply(PatternChange::Needed(doc)), [], "already held");
        let all = pattern(Exchange::Configuration, "*.*.*.*");
        assert_eq!(
            binder.apply(PatternChange::Needed(all)),
            [bind(Exchange::Configuration, "*.*.*.*")]
        );
    }
}
