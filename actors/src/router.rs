//! Event → matching subscriptions → each subscribed socket's outbox.
//!
//! A *route* is one distinct (client binding, internal binding, account filter); every socket
//! holding it is a subscriber. An event is matched once against the topic index, its frame tail
//! serialised once, and each matching route's frame built once and shared by all its subscribers.
//!
//! MODB names carry a month (`…-202611`) but a MODB binding must match every month (SPEC 4), so
//! both patterns and routing keys pass through [`trie_key`] before they meet the trie, which
//! also prefixes them with their exchange, since a pattern such as `*.*.*.*` would otherwise
//! match keys of every exchange.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use parking_lot::RwLock;
use slab::Slab;
use tokio::sync::{mpsc, oneshot};

use crate::account::{AccountId, AccountScope, month_agnostic_modb};
use crate::authority::Authority;
use crate::bindings::{Family, Translation};
use crate::event::Event;
use crate::exchange::Exchange;
use crate::metrics::Metrics;
use crate::outbox::Outbox;
use crate::protocol::reply;
use crate::shrink::shrink_when_sparse;
use crate::topic::TopicTrie;

/// A session as the router knows it: unique for the node's lifetime, in connect order.
pub type SessionKey = u64;

pub type RouteId = usize;

#[derive(Clone, PartialEq, Eq, Hash, Debug)]
struct RouteKey {
    client_binding: Arc<str>,
    subscription_key: Arc<str>,
    /// Conference commands carry no account in their routing key: deliver only events whose
    /// `Account-ID` this account may act on.
    account_filter: Option<AccountId>,
}

struct Route {
    key: RouteKey,
    exchange: Exchange,
    /// The pattern as inserted in the trie.
    pattern: String,
    /// The event frame up to the event's own fields.
    head: String,
    subscribers: HashMap<SessionKey, Arc<Outbox>>,
}

#[derive(Default)]
struct SessionRoutes {
    routes: Vec<RouteId>,
    bindings: usize,
}

#[derive(Default)]
struct Index {
    trie: TopicTrie,
    routes: Slab<Route>,
    by_key: HashMap<RouteKey, RouteId>,
    by_session: HashMap<SessionKey, SessionRoutes>,
    /// How many routes share each trie pattern, and its exchange.
    patterns: HashMap<String, (Exchange, usize)>,
}

pub struct Router {
    index: RwLock<Index>,
    authority: Arc<dyn Authority>,
    metrics: Arc<Metrics>,
    /// Told when a pattern gains its first route or loses its last (see [`Router::watch_patterns`]).
    watcher: OnceLock<mpsc::UnboundedSender<PatternChange>>,
}

/// A topic pattern some subscription on this node needs, on its exchange, in the form clients
/// see, except that a MODB word stands for every month (`{ADB}-*`, see
/// [`month_agnostic_modb`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Pattern {
    pub exchange: Exchange,
    pub key: String,
}

#[derive(Debug)]
pub enum PatternChange {
    /// The first route with this pattern.
    Needed(Pattern),
    /// The last route with this pattern is gone.
    Unneeded(Pattern),
    /// Answer once every change before this one is in effect.
    Settled(oneshot::Sender<()>),
}

/// What one client binding of one socket holds in the router.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    routes: Vec<RouteId>,
}

impl Router {
    pub fn new(authority: Arc<dyn Authority>, metrics: Arc<Metrics>) -> Self {
        Self {
            index: RwLock::new(Index::default()),
            authority,
            metrics,
            watcher: OnceLock::new(),
        }
    }

    /// The patterns this node's subscriptions need, as they come and go: first every pattern
    /// held now, then each change in the order it happened. A broker binds exactly these. One
    /// watcher per router: `None` when it is already watched.
    pub fn watch_patterns(&self) -> Option<mpsc::UnboundedReceiver<PatternChange>> {
        let index = self.index.write();
        let (sender, receiver) = mpsc::unbounded_channel();
        for (pattern, &(exchange, _)) in &index.patterns {
            let _ = sender.send(PatternChange::Needed(pattern_of(exchange, pattern)));
        }
        self.watcher.set(sender).ok()?;
        Some(receiver)
    }

    /// Fires once the watcher has put every pattern change so far in effect; `None` when
    /// nobody watches (the embedded bus: the router alone is the truth).
    pub fn settled(&self) -> Option<oneshot::Receiver<()>> {
        let watcher = self.watcher.get()?;
        let (settled, receiver) = oneshot::channel();
        watcher.send(PatternChange::Settled(settled)).ok()?;
        Some(receiver)
    }

    fn tell_watcher(&self, change: impl FnOnce() -> PatternChange) {
        if let Some(watcher) = self.watcher.get() {
            let _ = watcher.send(change());
        }
    }

    /// Adds one client binding of a session; the returned handle removes it again.
    pub fn subscribe(
        &self,
        session: SessionKey,
        outbox: &Arc<Outbox>,
        client_binding: &str,
        scope: &AccountScope,
        translation: &Translation,
    ) -> Subscription {
        let account_filter = match (translation.family, scope) {
            (Family::ConferenceCommand, AccountScope::One(account)) => Some(account.clone()),
            _ => None,
        };
        let client_binding: Arc<str> = Arc::from(client_binding);
        let mut index = self.index.write();
        let mut routes = Vec::with_capacity(translation.subscription_keys.len());
        for subscription_key in &translation.subscription_keys {
            let key = RouteKey {
                client_binding: client_binding.clone(),
                subscription_key: Arc::from(subscription_key.as_str()),
                account_filter: account_filter.clone(),
            };
            let id = match index.by_key.get(&key) {
                Some(&id) => id,
                None => {
                    let pattern = trie_key(translation.exchange, subscription_key);
                    let head = reply::event_head(&client_binding, subscription_key);
                    let exchange = translation.exchange;
                    let (_, routes) = index
                        .patterns
                        .entry(pattern.clone())
                        .or_insert((exchange, 0));
                    *routes += 1;
                    if *routes == 1 {
                        self.tell_watcher(|| PatternChange::Needed(pattern_of(exchange, &pattern)));
                    }
                    let id = index.routes.insert(Route {
                        key: key.clone(),
                        exchange,
                        pattern: pattern.clone(),
                        head,
                        subscribers: HashMap::new(),
                    });
                    index.trie.insert(&pattern, id);
                    index.by_key.insert(key, id);
                    self.metrics.routes.inc();
                    id
                }
            };
            index.routes[id].subscribers.insert(session, outbox.clone());
            routes.push(id);
        }
        let held = index.by_session.entry(session).or_default();
        held.routes.extend_from_slice(&routes);
        held.bindings += 1;
        self.metrics.bindings.inc();
        Subscription { routes }
    }

    /// Removes one client binding that `subscribe` added.
    pub fn unsubscribe(&self, session: SessionKey, subscription: &Subscription) {
        let mut index = self.index.write();
        let Some(held) = index.by_session.get_mut(&session) else {
            return;
        };
        for id in &subscription.routes {
            if let Some(at) = held.routes.iter().position(|held| held == id) {
                held.routes.swap_remove(at);
            }
        }
        held.bindings = held.bindings.saturating_sub(1);
        if held.bindings == 0 {
            index.by_session.remove(&session);
            shrink_when_sparse(&mut index.by_session);
        }
        self.metrics.bindings.dec();
        for &id in &subscription.routes {
            self.leave_route(&mut index, session, id);
        }
    }

    /// Drops everything a session holds: its last word, whatever way it ended.
    pub fn remove_session(&self, session: SessionKey) {
        let mut index = self.index.write();
        let Some(held) = index.by_session.remove(&session) else {
            return;
        };
        shrink_when_sparse(&mut index.by_session);
        self.metrics.bindings.dec_by(held.bindings as i64);
        for id in held.routes {
            self.leave_route(&mut index, session, id);
        }
    }

    fn leave_route(&self, index: &mut Index, session: SessionKey, id: RouteId) {
        let Some(route) = index.routes.get_mut(id) else {
            return;
        };
        route.subscribers.remove(&session);
        shrink_when_sparse(&mut route.subscribers);
        if route.subscribers.is_empty() {
            let route = index.routes.remove(id);
            index.trie.remove(&route.pattern, id);
            index.by_key.remove(&route.key);
            self.metrics.routes.dec();
            if let Some((_, routes)) = index.patterns.get_mut(&route.pattern) {
                *routes -= 1;
                if *routes == 0 {
                    index.patterns.remove(&route.pattern);
                    let exchange = route.exchange;
                    self.tell_watcher(|| {
                        PatternChange::Unneeded(pattern_of(exchange, &route.pattern))
                    });
                }
            }
        }
    }

    /// Delivers an event to every matching subscription; returns the number of frames queued.
    pub fn publish(&self, event: &Event) -> usize {
        self.metrics.event_in(event.exchange);
        if !event.deliverable {
            self.metrics.events_undeliverable.inc();
            return 0;
        }
        let key = trie_key(event.exchange, &event.routing_key);
        let event_account = event
            .account_id
            .as_deref()
            .map(|id| AccountId::parse(id).ok());
        let tail = reply::event_tail(event);
        let now = Instant::now();
        let mut delivered = 0;
        let index = self.index.read();
        index.trie.for_each_match(&key, |id| {
            let route = &index.routes[id];
            if let (Some(filter), Some(event_account)) = (&route.key.account_filter, &event_account)
            {
                let allowed = event_account
                    .as_ref()
                    .is_some_and(|account| self.authority.may_act_on(filter, account));
                if !allowed {
                    return;
                }
            }
            let frame = reply::event_frame(&route.head, &tail);
            for outbox in route.subscribers.values() {
                if outbox.push_event(frame.clone(), now) {
                    delivered += 1;
                }
            }
        });
        drop(index);
        self.metrics.deliveries.inc_by(delivered as u64);
        delivered
    }

    /// Nothing held by anyone: every socket's bindings are gone from the index.
    pub fn is_empty(&self) -> bool {
        let index = self.index.read();
        index.trie.is_empty()
            && index.routes.is_empty()
            && index.by_key.is_empty()
            && index.by_session.is_empty()
            && index.patterns.is_empty()
    }
}

/// A trie pattern (see [`trie_key`]) as the exchange and key it was made of.
fn pattern_of(exchange: Exchange, trie_pattern: &str) -> Pattern {
    let key = trie_pattern
        .strip_prefix(exchange.name())
        .and_then(|rest| rest.strip_prefix('.'))
        .unwrap_or(trie_pattern);
    Pattern {
        exchange,
        key: key.to_string(),
    }
}

/// What the trie holds and is asked: the exchange, so that an event meets only the bindings of
/// its own exchange, then the key with every MODB word made month-agnostic. Built in one
/// string: it is on the event path.
fn trie_key(exchange: Exchange, key: &str) -> String {
    let mut out = String::with_capacity(exchange.name().len() + 1 + key.len());
    out.push_str(exchange.name());
    for word in key.split('.') {
        out.push('.');
        match month_agnostic_modb(word) {
            Some(canonical) => out.push_str(&canonical),
            None => out.push_str(word),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authority::TokenError;
    use crate::bindings::translate;
    use crate::event::BusMessage;
    use crate::month::YearMonth;
    use crate::outbox::{Backlog, OutboxLimits};
    use serde_json::{Value, json};

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const CHILD: &str = "cccccccccccccccccccccccccccccccc";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    /// A is CHILD's parent; nobody is superduper.
    struct Family;

    impl Authority for Family {
        fn authenticate(&self, _: &str) -> Result<AccountId, TokenError> {
            Err(TokenError::Rejected)
        }
        fn may_act_on(&self, actor: &AccountId, target: &AccountId) -> bool {
            actor == target || (actor.as_str() == A && target.as_str() == CHILD)
        }
        fn is_superduper(&self, _: &AccountId) -> bool {
            false
        }
    }

    fn router() -> (Router, Arc<Metrics>) {
        let metrics = Arc::new(Metrics::default());
        (Router::new(Arc::new(Family), metrics.clone()), metrics)
    }

    fn outbox(metrics: &Arc<Metrics>) -> Arc<Outbox> {
        Arc::new(Outbox::new(
            OutboxLimits::default(),
            metrics.clone(),
            Arc::new(Backlog::default()),
        ))
    }

    fn scope(account: &str) -> AccountScope {
        AccountScope::One(AccountId::parse(account).unwrap())
    }

    fn hold(
        router: &Router,
        session: SessionKey,
        outbox: &Arc<Outbox>,
        account: &str,
        binding: &str,
        month: YearMonth,
    ) -> Subscription {
        let scope = scope(account);
        let translation = translate(binding, &scope, month).unwrap();
        router.subscribe(session, outbox, binding, &scope, &translation)
    }

    fn event(exchange: &str, routing_key: &str, payload: Value) -> Event {
        let message: BusMessage = serde_json::from_value(
            json!({"exchange": exchange, "routing_key": routing_key, "payload": payload}),
        )
        .unwrap();
        Event::from_bus(message).unwrap()
    }

    fn received(outbox: &Outbox) -> Vec<Value> {
        outbox
            .take()
            .frames
            .iter()
            .map(|queued| serde_json::from_str(queued.frame.text()).unwrap())
            .collect()
    }

    #[test]
    fn modb_bindings_match_every_month() {
        let (router, metrics) = router();
        let socket = outbox(&metrics);
        let november = YearMonth {
            year: 2026,
            month: 11,
        };
        hold(&router, 1, &socket, A, "fax.object.doc_created", november);
        let modb = |month: &str| {
            let account = AccountId::parse(A).unwrap();
            format!("{}-{month}", account.database())
        };
        for month in ["202611", "202612", "202701"] {
            let key = format!("doc_created.{}.fax.f1", modb(month));
            let delivered = router.publish(&event(
                "configuration",
                &key,
                json!({"Event-Name": "doc_created"}),
            ));
            assert_eq!(delivered, 1, "{key}");
            let frames = received(&socket);
            assert_eq!(frames[0]["routing_key"], json!(key));
            assert_eq!(
                frames[0]["subscription_key"],
                json!(format!("doc_created.{}.fax.*", modb("202611")))
            );
        }
        let account_db = AccountId::parse(A).unwrap().database();
        let not_modb = format!("doc_created.{account_db}.fax.f1");
        let delivered = router.publish(&event(
            "configuration",
            &not_modb,
            json!({"Event-Name": "doc_created"}),
        ));
        assert_eq!(delivered, 0, "the account database is not a MODB");
    }

    #[test]
    fn conference_commands_reach_only_accounts_that_may_act_on_the_event() {
        let (router, metrics) = router();
        let parent = outbox(&metrics);
        let other = outbox(&metrics);
        let month = YearMonth::now();
        hold(&router, 1, &parent, A, "conference.command.c1", month);
        hold(&router, 2, &other, B, "conference.command.c1", month);
        let command = |account: Option<&str>| {
            let mut payload = json!({"Event-Name": "command"});
            if let Some(account) = account {
                payload["Account-ID"] = json!(account);
            }
            event("conference", "conference.command.c1", payload)
        };

        assert_eq!(router.publish(&command(Some(CHILD))), 1);
        assert_eq!(received(&parent).len(), 1);
        assert!(received(&other).is_empty());

        assert_eq!(router.publish(&command(Some("not-an-account"))), 0);
        assert_eq!(
            router.publish(&command(None)),
            2,
            "no Account-ID: no filter"
        );
    }

    #[test]
    fn one_frame_per_route_shared_by_its_subscribers() {
        let (router, metrics) = router();
        let sockets: Vec<_> = (0..3).map(|_| outbox(&metrics)).collect();
        let month = YearMonth::now();
        for (key, socket) in sockets.iter().enumerate() {
            hold(&router, key as u64, socket, A, "call.*.*", month);
        }
        assert_eq!(metrics.routes.get(), 1);
        assert_eq!(metrics.bindings.get(), 3);
        let call = event(
            "callevt",
            "x",
            json!({"Event-Name": "CHANNEL_ANSWER", "Call-ID": "c",
                   "Custom-Channel-Vars": {"Account-ID": A}}),
        );
        assert_eq!(router.publish(&call), 3);
        let frames: Vec<_> = sockets.iter().map(|s| s.take().frames).collect();
        assert_eq!(frames[0], frames[1]);
        assert_eq!(metrics.deliveries.get(), 3);
    }

    #[test]
    fn unsubscribe_and_remove_session_empty_the_index() {
        let (router, metrics) = router();
        let socket = outbox(&metrics);
        let month = YearMonth::now();
        let call = hold(&router, 1, &socket, A, "call.*.*", month);
        hold(&router, 1, &socket, A, "object.*.*", month);
        hold(&router, 2, &socket, A, "call.*.*", month);
        router.unsubscribe(1, &call);
        assert_eq!(metrics.bindings.get(), 2);
        router.remove_session(1);
        router.remove_session(2);
        assert!(router.is_empty());
        assert_eq!(metrics.bindings.get(), 0);
        assert_eq!(metrics.routes.get(), 0);
    }

    #[test]
    fn the_watcher_hears_each_pattern_once_when_first_needed_and_when_last_gone() {
        let (router, metrics) = router();
        let socket = outbox(&metrics);
        let month = YearMonth::now();
        let before = hold(&router, 1, &socket, A, "call.*.*", month);
        let mut watch = router.watch_patterns().unwrap();
        assert!(router.watch_patterns().is_none(), "one watcher");
        let call = Pattern {
            exchange: Exchange::CallEvt,
            key: format!("call.{A}.*.*"),
        };
        assert!(matches!(watch.try_recv(), Ok(PatternChange::Needed(p)) if p == call));
        // Another socket with the same pattern: nothing new.
        hold(&router, 2, &socket, A, "call.*.*", month);
        assert!(watch.try_recv().is_err());
        router.unsubscribe(1, &before);
        router.remove_session(2);
        assert!(matches!(watch.try_recv(), Ok(PatternChange::Unneeded(p)) if p == call));
        let settled = router.settled().unwrap();
        assert!(matches!(watch.try_recv(), Ok(PatternChange::Settled(_))));
        drop(settled);
        assert!(watch.try_recv().is_err());
    }

    #[test]
    fn trie_keys_name_the_exchange_and_only_touch_modb_words() {
        let account = AccountId::parse(A).unwrap();
        let modb = account.modb(YearMonth {
            year: 2026,
            month: 1,
        });
        let key = format!("doc_edited.{modb}.user.x");
        let canonical = trie_key(Exchange::Configuration, &key);
        assert_ne!(canonical, format!("configuration.{key}"));
        assert_eq!(
            canonical,
            trie_key(
                Exchange::Configuration,
                &format!(
                    "doc_edited.{}.user.x",
                    account.modb(YearMonth {
                        year: 2030,
                        month: 12
                    })
                )
            )
        );
        let plain = format!("doc_edited.{}.user.x", account.database());
        assert_eq!(
            trie_key(Exchange::Configuration, &plain),
            format!("configuration.{plain}")
        );
        assert_eq!(
            trie_key(Exchange::CallEvt, "call.a.b.c"),
            "callevt.call.a.b.c"
        );
    }

    #[test]
    fn events_meet_only_the_bindings_of_their_exchange() {
        let (router, metrics) = router();
        let socket = outbox(&metrics);
        let translation = translate("object.*.*", &AccountScope::All, YearMonth::now()).unwrap();
        assert_eq!(translation.subscription_keys, ["*.*.*.*"]);
        router.subscribe(1, &socket, "object.*.*", &AccountScope::All, &translation);
        let call = event(
            "callevt",
            "x",
            json!({"Event-Name": "CHANNEL_CREATE", "Call-ID": "c",
                   "Custom-Channel-Vars": {"Account-ID": A}}),
        );
        assert_eq!(router.publish(&call), 0);
        let fax = event(
            "faxes",
            &format!("fax.status.{A}.f"),
            json!({"Event-Name": "status"}),
        );
        assert_eq!(router.publish(&fax), 0);
        let doc = event(
            "configuration",
            "doc_created.db.user.u",
            json!({"Event-Name": "doc_created"}),
        );
        assert_eq!(router.publish(&doc), 1);
    }
}
