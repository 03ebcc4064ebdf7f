//! The fabric driven with plain messages: a supervisor, sessions, the router and outboxes,
//! without sockets. The authority is a small table: tokens are `token-{account}`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorRef};
use serde_json::{Value, json};

use switchyard_actors::account::AccountId;
use switchyard_actors::authority::{Authority, TokenError};
use switchyard_actors::description::Description;
use switchyard_actors::event::{BusMessage, Event};
use switchyard_actors::fabric::Fabric;
use switchyard_actors::limits::Limits;
use switchyard_actors::outbox::{CloseReason, Outbox};
use switchyard_actors::session::SessionMsg;
use switchyard_actors::supervisor::{PageRequest, Supervisor, SupervisorMsg};

const PARENT: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const CHILD: &str = "cccccccccccccccccccccccccccccccc";
const OTHER: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const MASTER: &str = "ffffffffffffffffffffffffffffffff";

struct Table {
    parents: HashMap<String, String>,
}

impl Authority for Table {
    fn authenticate(&self, token: &str) -> Result<AccountId, TokenError> {
        if token == "panic" {
            panic!("a session must survive nothing, but its supervisor must survive this");
        }
        let account = token.strip_prefix("token-").ok_or(TokenError::Rejected)?;
        AccountId::parse(account).map_err(|_| TokenError::Rejected)
    }

    fn may_act_on(&self, actor: &AccountId, target: &AccountId) -> bool {
        if self.is_superduper(actor) {
            return true;
        }
        let mut at = Some(target.as_str().to_string());
        while let Some(account) = at {
            if account == actor.as_str() {
                return true;
            }
            at = self.parents.get(&account).cloned();
        }
        false
    }

    fn is_superduper(&self, account: &AccountId) -> bool {
        account.as_str() == MASTER
    }
}

struct Harness {
    fabric: Arc<Fabric>,
    supervisor: ActorRef<SupervisorMsg>,
}

struct TestSession {
    actor: ActorRef<SessionMsg>,
    id: String,
    outbox: Arc<Outbox>,
}

impl Harness {
    async fn start(limits: Limits) -> Self {
        let table = Table {
            parents: HashMap::from([(CHILD.to_string(), PARENT.to_string())]),
        };
        let fabric = Fabric::new(Arc::new(table), limits, "node@test".into());
        let (supervisor, _) = Actor::spawn(None, Supervisor, fabric.clone())
            .await
            .unwrap();
        Self { fabric, supervisor }
    }

    async fn open(&self) -> TestSession {
        let peer = "127.0.0.1:40000".parse().unwrap();
        let opened = ractor::call!(self.supervisor, |reply| SupervisorMsg::Open { peer, reply })
            .unwrap()
            .unwrap();
        TestSession {
            actor: opened.session,
            id: opened.id.to_string(),
            outbox: opened.outbox,
        }
    }

    async fn count(&self) -> usize {
        ractor::call!(self.supervisor, SupervisorMsg::Count).unwrap()
    }

    /// Waits until the supervisor has forgotten every session.
    async fn settled(&self) {
        for _ in 0..500 {
            if self.count().await == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("sessions were not cleaned up: {} left", self.count().await);
    }

    fn publish(&self, exchange: &str, routing_key: &str, payload: Value) -> usize {
        let message: BusMessage = serde_json::from_value(
            json!({"exchange": exchange, "routing_key": routing_key, "payload": payload}),
        )
        .unwrap();
        self.fabric
            .router
            .publish(&Event::from_bus(message).unwrap())
    }
}

/// A published description as the JSON REST sends.
fn described(description: &Description) -> Value {
    serde_json::from_str(description.as_json()).unwrap()
}

impl TestSession {
    async fn send(&self, frame: Value) -> Value {
        let text = frame.to_string();
        ractor::call!(self.actor, |done| SessionMsg::Frame(text, done)).unwrap();
        let mut batch = self.outbox.take();
        assert_eq!(batch.frames.len(), 1, "one reply per frame");
        serde_json::from_str(batch.frames.remove(0).frame.text()).unwrap()
    }

    fn frames(&self) -> Vec<Value> {
        self.outbox
            .take()
            .frames
            .iter()
            .map(|queued| serde_json::from_str(queued.frame.text()).unwrap())
            .collect()
    }
}

fn call_event(account: &str, call_id: &str) -> Value {
    json!({"Event-Name": "CHANNEL_CREATE", "Call-ID": call_id,
           "Custom-Channel-Vars": {"Account-ID": account}})
}

fn subscribe(account: &str, binding: &str) -> Value {
    json!({"action": "subscribe", "auth_token": format!("token-{PARENT}"),
           "data": {"account_id": account, "binding": binding}})
}

#[tokio::test]
async fn a_subscribed_session_receives_matching_events_once_per_binding() {
    let harness = Harness::start(Limits::default()).await;
    let session = harness.open().await;
    let reply = session
        .send(subscribe(PARENT, "call.CHANNEL_CREATE.*"))
        .await;
    assert_eq!(
        reply["data"],
        json!({"subscribed": ["call.CHANNEL_CREATE.*"]})
    );
    let reply = session.send(subscribe(PARENT, "call.*.*")).await;
    assert_eq!(
        reply["data"],
        json!({"subscribed": ["call.CHANNEL_CREATE.*", "call.*.*"]})
    );

    assert_eq!(
        harness.publish("callevt", "ignored", call_event(PARENT, "c@1")),
        2
    );
    let frames = session.frames();
    let keys: Vec<&str> = frames
        .iter()
        .map(|frame| frame["subscribed_key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["call.CHANNEL_CREATE.*", "call.*.*"]);
    assert_eq!(
        frames[0]["routing_key"],
        json!(format!("call.{PARENT}.CHANNEL_CREATE.c%401"))
    );

    assert_eq!(harness.publish("callevt", "x", call_event(OTHER, "c")), 0);
    assert!(session.frames().is_empty());
}

#[tokio::test]
async fn every_way_a_session_ends_leaves_nothing_behind() {
    let harness = Harness::start(Limits::default()).await;

    let stopped = harness.open().await;
    stopped.send(subscribe(PARENT, "call.*.*")).await;
    let killed = harness.open().await;
    killed.send(subscribe(CHILD, "object.*.*")).await;
    // Authenticates with the token that makes the authority panic.
    let panicked = harness.open().await;
    assert_eq!(harness.fabric.metrics.bindings.get(), 2);
    assert_eq!(harness.fabric.metrics.connections.get(), 3);

    stopped.actor.stop(None);
    killed.actor.kill();
    let text = json!({"action": "ping", "auth_token": "panic"}).to_string();
    // The panicking session dies mid-frame; its caller sees the call fail.
    assert!(ractor::call!(panicked.actor, |done| SessionMsg::Frame(text, done)).is_err());
    harness.settled().await;

    assert!(harness.fabric.router.is_empty());
    assert_eq!(harness.fabric.metrics.bindings.get(), 0);
    assert_eq!(harness.fabric.metrics.routes.get(), 0);
    assert_eq!(harness.fabric.metrics.connections.get(), 0);
    assert_eq!(harness.fabric.metrics.authenticated_connections.get(), 0);
    assert_eq!(
        panicked.outbox.take().close,
        Some(CloseReason::InternalError)
    );
    assert_eq!(harness.publish("callevt", "x", call_event(PARENT, "c")), 0);
}

#[tokio::test]
async fn the_connection_limit_counts_authenticated_sockets_per_account() {
    let limits = Limits {
        max_connections_per_account: 1,
        ..Limits::default()
    };
    let harness = Harness::start(limits).await;
    let first = harness.open().await;
    let second = harness.open().await;
    let ping = json!({"action": "ping", "auth_token": format!("token-{PARENT}")});
    assert_eq!(first.send(ping.clone()).await["status"], "success");
    let refused = second.send(ping.clone()).await;
    assert_eq!(
        refused["data"]["errors"],
        json!(["connection limit reached for account"])
    );
    // Still unauthenticated.
    let again = second.send(json!({"action": "ping"})).await;
    assert_eq!(
        again["data"]["errors"],
        json!(["authentication token required"])
    );
    first.actor.stop(None);
    for _ in 0..500 {
        if harness.count().await == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(second.send(ping).await["status"], "success");
}

#[tokio::test]
async fn lists_are_per_account_in_connect_order_and_paged() {
    let harness = Harness::start(Limits::default()).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let session = harness.open().await;
        session
            .send(json!({"action": "ping", "auth_token": format!("token-{PARENT}"), "name": "n"}))
            .await;
        ids.push(session.id.clone());
    }
    let other = harness.open().await;
    other
        .send(json!({"action": "ping", "auth_token": format!("token-{OTHER}")}))
        .await;

    let parent = AccountId::parse(PARENT).unwrap();
    let list = |page: PageRequest| {
        let account = parent.clone();
        let supervisor = harness.supervisor.clone();
        async move {
            ractor::call!(supervisor, |reply| SupervisorMsg::List {
                account,
                page,
                reply
            })
            .unwrap()
        }
    };
    let all = list(PageRequest::default()).await.unwrap();
    let listed: Vec<_> = all
        .sockets
        .iter()
        .map(|s| {
            described(s)["websocket_session_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(listed, ids);
    assert_eq!(all.next_start_key, None);
    assert_eq!(described(&all.sockets[0])["name"], "n");

    let first = list(PageRequest {
        size: Some(2),
        start_key: None,
    })
    .await
    .unwrap();
    assert_eq!(first.sockets.len(), 2);
    assert_eq!(first.next_start_key.as_deref(), Some(ids[2].as_str()));
    let second = list(PageRequest {
        size: Some(2),
        start_key: first.next_start_key.map(|key| key.to_string()),
    })
    .await
    .unwrap();
    assert_eq!(
        described(&second.sockets[0])["websocket_session_id"],
        ids[2]
    );
    assert_eq!(second.next_start_key, None);

    let other_id = other.id.clone();
    assert!(
        list(PageRequest {
            size: None,
            start_key: Some(other_id),
        })
        .await
        .is_err(),
        "another account's socket is not a start key here"
    );
}

#[tokio::test]
async fn kick_closes_with_4000_and_answers_the_last_state() {
    let harness = Harness::start(Limits::default()).await;
    let session = harness.open().await;
    session.send(subscribe(PARENT, "call.*.*")).await;
    let id = session.id.clone();
    let kick = |account: &str| {
        let account = AccountId::parse(account).unwrap();
        let socket_id = id.clone();
        let supervisor = harness.supervisor.clone();
        async move {
            ractor::call!(supervisor, |reply| SupervisorMsg::Kick {
                account: Some(account),
                socket_id,
                reply
            })
            .unwrap()
        }
    };
    assert!(kick(OTHER).await.is_none(), "only the socket's own account");
    let last = kick(PARENT).await.unwrap();
    assert_eq!(last.account.as_str(), PARENT);
    assert_eq!(
        described(&last.description)["bindings"],
        json!(["call.*.*"])
    );
    assert_eq!(session.outbox.take().close, Some(CloseReason::Kicked));
}

#[tokio::test]
async fn sockets_opened_after_close_all_are_closed_at_once() {
    let harness = Harness::start(Limits::default()).await;
    let before = harness.open().await;
    harness
        .supervisor
        .cast(SupervisorMsg::CloseAll(CloseReason::GoingAway))
        .unwrap();
    let after = harness.open().await;
    assert_eq!(before.outbox.take().close, Some(CloseReason::GoingAway));
    assert_eq!(after.outbox.take().close, Some(CloseReason::GoingAway));
}

/// The per-account metric names only the busiest accounts, most sockets first, however many
/// accounts are connected; an account whose last socket left is not named.
#[tokio::test]
async fn the_busiest_accounts_are_the_ones_with_the_most_sockets() {
    let harness = Harness::start(Limits::default()).await;
    let account = |n: u8| format!("{:032x}", n);
    let mut sessions = Vec::new();
    for (n, sockets) in [(1, 1), (2, 3), (3, 2), (4, 2)] {
        for _ in 0..sockets {
            let session = harness.open().await;
            let ping = json!({"action": "ping", "auth_token": format!("token-{}", account(n))});
            assert_eq!(session.send(ping).await["status"], "success");
            sessions.push(session);
        }
    }
    let busiest = |limit| {
        let supervisor = harness.supervisor.clone();
        async move {
            ractor::call!(supervisor, |reply| SupervisorMsg::BusiestAccounts {
                limit,
                reply
            })
            .unwrap()
            .into_iter()
            .map(|(account, sockets)| (account.as_str().to_string(), sockets))
            .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        busiest(3).await,
        [(account(2), 3), (account(3), 2), (account(4), 2)]
    );
    assert_eq!(busiest(10).await.len(), 4);
    assert_eq!(busiest(0).await, []);

    // The one socket of account 1 goes.
    sessions.remove(0).actor.stop(None);
    for _ in 0..500 {
        if busiest(10).await.len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(busiest(10).await.last(), Some(&(account(4), 2)));
    assert_eq!(busiest(10).await.len(), 3);
}
