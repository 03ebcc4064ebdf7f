//! Event → matching subscriptions → each subscribed socket's outbox.
//!
//! A *route* is one distinct (client binding, internal binding, account filter); every socket
//! holding it is a subscriber. An event is matched once against the topic index, its frame tail
//! serialised once, and each matching route's frame built once and shared by all its subscribers.
//!
//! MODB names carry a month (`…-202611`) but a MODB binding must match every month (SPEC 4), so
//! both patterns and routing keys pass through [`canonical_key`] before they meet the trie.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;
use slab::Slab;

use crate::account::{AccountId, AccountScope, month_agnostic_modb};
use crate::authority::Authority;
use crate::bindings::{Family, Translation};
use crate::event::Event;
use crate::metrics::Metrics;
use crate::outbox::Outbox;
use crate::protocol::reply;
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
}

pub struct Router {
    index: RwLock<Index>,
    authority: Arc<dyn Authority>,
    metrics: Arc<Metrics>,
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
                    let pattern = canonical_key(subscription_key);
                    let head = reply::event_head(&client_binding, subscription_key);
                    let id = index.routes.insert(Route {
                        key: key.clone(),
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
        self.metrics.bindings.add(-(held.bindings as i64));
        for id in held.routes {
            self.leave_route(&mut index, session, id);
        }
    }

    fn leave_route(&self, index: &mut Index, session: SessionKey, id: RouteId) {
        let Some(route) = index.routes.get_mut(id) else {
            return;
        };
        route.subscribers.remove(&session);
        if route.subscribers.is_empty() {
            let route = index.routes.remove(id);
            index.trie.remove(&route.pattern, id);
            index.by_key.remove(&route.key);
            self.metrics.routes.dec();
        }
    }

    /// Delivers an event to every matching subscription; returns the number of frames queued.
    pub fn publish(&self, event: &Event) -> usize {
        self.metrics.events_in.inc();
        if !event.deliverable {
            self.metrics.events_undeliverable.inc();
            return 0;
        }
        let key = canonical_key(&event.routing_key);
        let event_account = event
            .account_id
            .as_deref()
            .map(|id| AccountId::parse(id).ok());
        let tail = reply::event_tail(event);
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
                if outbox.push(frame.clone()) {
                    delivered += 1;
                }
            }
        });
        drop(index);
        self.metrics.deliveries.add(delivered as u64);
        delivered
    }

    /// Nothing held by anyone: every socket's bindings are gone from the index.
    pub fn is_empty(&self) -> bool {
        let index = self.index.read();
        index.trie.is_empty()
            && index.routes.is_empty()
            && index.by_key.is_empty()
            && index.by_session.is_empty()
    }
}

/// A routing key or pattern with every MODB word made month-agnostic.
pub fn canonical_key(key: &str) -> String {
    if !key.contains("%2F") {
        return key.to_string();
    }
    key.split('.')
        .map(|word| month_agnostic_modb(word).unwrap_or_else(|| word.to_string()))
        .collect::<Vec<_>>()
        .join(".")
}
