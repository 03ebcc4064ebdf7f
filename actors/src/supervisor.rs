//! The supervisor: opens a session actor per socket (linked, so it hears how each one ends),
//! tracks every session per account in connect order, enforces the per-account connection
//! limit, answers REST queries from the descriptions its sessions publish (never waiting on a
//! session), cleans up after a session whatever way it ended: close, error or panic, and sheds
//! the biggest outbound queues when the node's queued bytes pass `max_queued_bytes` (SPEC 7).

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use tokio::task::JoinHandle;

use crate::account::AccountId;
use crate::clock;
use crate::description::{Description, DescriptionSlot, SocketFacts};
use crate::drain::{DRAIN_TICK, DrainPlan};
use crate::fabric::Fabric;
use crate::id::fresh_id;
use crate::log_limit::LogLimit;
use crate::outbox::{CloseReason, Outbox};
use crate::router::SessionKey;
use crate::session::{Session, SessionArgs, SessionMsg};
use crate::shrink::shrink_when_sparse;

/// A failing session is a bug, but one a client might trigger over and over.
static SESSION_FAILED: LogLimit = LogLimit::new();

pub enum SupervisorMsg {
    /// A socket was accepted: start its session.
    Open {
        peer: SocketAddr,
        reply: RpcReplyPort<Result<OpenedSession, ActorProcessingErr>>,
    },
    /// A session's first successful frame: count it against its account's connection limit.
    /// Answers false when the limit is reached (the session then stays unauthenticated).
    Authenticate {
        session: SessionKey,
        account: AccountId,
        reply: RpcReplyPort<bool>,
    },
    /// The sockets that authenticated as `account`, oldest first.
    List {
        account: AccountId,
        page: PageRequest,
        reply: RpcReplyPort<Result<Page, QueryError>>,
    },
    /// One authenticated socket: of `account`, or of any account when `None` (a KAZOO crossbar
    /// asking another node scopes the answer itself).
    Find {
        account: Option<AccountId>,
        socket_id: String,
        reply: RpcReplyPort<Option<FoundSocket>>,
    },
    /// Close one socket (4000), chosen as `Find` chooses it, and answer its last state.
    Kick {
        account: Option<AccountId>,
        socket_id: String,
        reply: RpcReplyPort<Option<FoundSocket>>,
    },
    /// Ask every socket to close (shutdown: 1001).
    CloseAll(CloseReason),
    /// Close the sockets open now with 1001, a batch at a time over `over` (a new drain
    /// replaces one under way), and any socket that opens from now on at once. The reply is how
    /// many are to close.
    Drain {
        over: Duration,
        reply: RpcReplyPort<usize>,
    },
    /// Time for the next batch of the drain this generation started.
    DrainTick(u64),
    /// The account directory changed: close the sockets of `removed` accounts (4001), and have
    /// every other authenticated session check that it may still hold its bindings.
    RightsChanged { removed: Vec<AccountId> },
    /// How many sessions are open.
    Count(RpcReplyPort<usize>),
    /// The `limit` accounts with the most authenticated sockets, most first, with their counts
    /// (the bounded label set of the per-account metric).
    BusiestAccounts {
        limit: usize,
        reply: RpcReplyPort<Vec<(AccountId, usize)>>,
    },
    /// The node's queued bytes passed `max_queued_bytes`: shed the biggest holders until it is
    /// back under. Sent by the supervisor's own watcher, once per crossing.
    Shed,
}

pub struct OpenedSession {
    pub session: ActorRef<SessionMsg>,
    pub id: Arc<str>,
    pub outbox: Arc<Outbox>,
}

/// A socket found by id, with the account it authenticated as.
#[derive(Debug, Clone)]
pub struct FoundSocket {
    pub account: AccountId,
    pub description: Description,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// `None`: the whole list.
    pub size: Option<usize>,
    /// The socket id the page starts at.
    pub start_key: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Page {
    pub sockets: Vec<Description>,
    /// The first socket of the next page, when more remain.
    pub next_start_key: Option<Arc<str>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("unknown start_key {0}")]
    UnknownStartKey(String),
}

struct Entry {
    actor: ActorRef<SessionMsg>,
    id: Arc<str>,
    outbox: Arc<Outbox>,
    /// Set when the session first authenticates.
    account: Option<AccountId>,
    /// What the session last published about itself.
    description: Arc<DescriptionSlot>,
}

pub struct SupervisorState {
    fabric: Arc<Fabric>,
    next_key: SessionKey,
    sessions: HashMap<SessionKey, Entry>,
    by_actor: HashMap<ActorId, SessionKey>,
    by_id: HashMap<Arc<str>, SessionKey>,
    /// Authenticated sessions per account; keys grow with connect order.
    by_account: HashMap<AccountId, BTreeSet<SessionKey>>,
    /// Set by `CloseAll` and `Drain`: a socket whose handshake was still under way then is
    /// closed as soon as it opens.
    closing: Option<CloseReason>,
    /// The drain under way, and the generation of the latest (stale ticks are ignored).
    drain: Option<DrainPlan<SessionKey>>,
    drain_generation: u64,
    /// Waits on the node's backlog and sends `Shed` when it overflows.
    shed_watcher: JoinHandle<()>,
}

pub struct Supervisor;

impl Actor for Supervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = Arc<Fabric>;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        fabric: Arc<Fabric>,
    ) -> Result<SupervisorState, ActorProcessingErr> {
        let backlog = fabric.backlog.clone();
        let shed_watcher = tokio::spawn(async move {
            loop {
                backlog.overflowed().await;
                if myself.cast(SupervisorMsg::Shed).is_err() {
                    break;
                }
            }
        });
        Ok(SupervisorState {
            shed_watcher,
            fabric,
            next_key: 0,
            sessions: HashMap::new(),
            by_actor: HashMap::new(),
            by_id: HashMap::new(),
            by_account: HashMap::new(),
            closing: None,
            drain: None,
            drain_generation: 0,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: SupervisorMsg,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            SupervisorMsg::Open { peer, reply } => {
                let _ = reply.send(state.open(myself, peer).await);
            }
            SupervisorMsg::Authenticate {
                session,
                account,
                reply,
            } => {
                let _ = reply.send(state.authenticate(session, account));
            }
            SupervisorMsg::List {
                account,
                page,
                reply,
            } => {
                let _ = reply.send(state.list(&account, &page));
            }
            SupervisorMsg::Find {
                account,
                socket_id,
                reply,
            } => {
                let found = state.socket_of(account.as_ref(), &socket_id);
                let _ = reply.send(found.map(|(_, found)| found));
            }
            SupervisorMsg::Kick {
                account,
                socket_id,
                reply,
            } => {
                let found = state.socket_of(account.as_ref(), &socket_id);
                let _ = reply.send(found.map(|(entry, found)| {
                    entry.outbox.close(CloseReason::Kicked);
                    found
                }));
            }
            SupervisorMsg::CloseAll(reason) => {
                state.closing = Some(reason);
                for entry in state.sessions.values() {
                    entry.outbox.close(reason);
                }
            }
            SupervisorMsg::Drain { over, reply } => {
                let _ = reply.send(state.start_drain(&myself, over));
            }
            SupervisorMsg::DrainTick(generation) => state.drain_tick(&myself, generation),
            SupervisorMsg::RightsChanged { removed } => state.rights_changed(&removed),
            SupervisorMsg::Count(reply) => {
                let _ = reply.send(state.sessions.len());
            }
            SupervisorMsg::BusiestAccounts { limit, reply } => {
                let _ = reply.send(state.busiest_accounts(limit));
            }
            SupervisorMsg::Shed => state.shed(&myself),
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        state.shed_watcher.abort();
        Ok(())
    }

    // The default stops the supervisor when any child exits; a session ending is routine.
    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        match event {
            SupervisionEvent::ActorTerminated(cell, _, _) => state.forget(cell.get_id(), false),
            SupervisionEvent::ActorFailed(cell, error) => {
                let socket = state.socket_id_of(cell.get_id());
                SESSION_FAILED.note(|suppressed| {
                    let socket = socket.as_deref();
                    tracing::error!(socket, %error, suppressed, "session failed")
                });
                state.forget(cell.get_id(), true)
            }
            _ => {}
        }
        Ok(())
    }
}

impl SupervisorState {
    async fn open(
        &mut self,
        myself: ActorRef<SupervisorMsg>,
        peer: SocketAddr,
    ) -> Result<OpenedSession, ActorProcessingErr> {
        let key = self.next_key;
        self.next_key += 1;
        let id: Arc<str> = Arc::from(fresh_id());
        let connected_at = clock::gregorian_seconds();
        let description = Arc::new(DescriptionSlot::new(Description::render(
            &SocketFacts::new(&id, connected_at, &self.fabric.node_name, peer),
        )));
        let outbox = Arc::new(Outbox::new(
            self.fabric.limits.outbox,
            self.fabric.metrics.clone(),
            self.fabric.backlog.clone(),
        ));
        if let Some(reason) = self.closing {
            outbox.close(reason);
        }
        let args = SessionArgs {
            fabric: self.fabric.clone(),
            supervisor: myself.clone(),
            key,
            id: id.clone(),
            peer,
            connected_at,
            outbox: outbox.clone(),
            description: description.clone(),
        };
        let (actor, _) = Actor::spawn_linked(None, Session, args, myself.get_cell()).await?;
        self.by_actor.insert(actor.get_id(), key);
        self.by_id.insert(id.clone(), key);
        self.sessions.insert(
            key,
            Entry {
                actor: actor.clone(),
                id: id.clone(),
                outbox: outbox.clone(),
                account: None,
                description,
            },
        );
        let metrics = &self.fabric.metrics;
        metrics.connections.inc();
        metrics.connections_opened.inc();
        Ok(OpenedSession {
            session: actor,
            id,
            outbox,
        })
    }

    fn authenticate(&mut self, session: SessionKey, account: AccountId) -> bool {
        let Some(entry) = self.sessions.get_mut(&session) else {
            return false;
        };
        let sockets = self.by_account.entry(account.clone()).or_default();
        if sockets.len() >= self.fabric.limits.max_connections_per_account {
            if sockets.is_empty() {
                self.by_account.remove(&account);
            }
            return false;
        }
        sockets.insert(session);
        entry.account = Some(account);
        self.fabric.metrics.authenticated_connections.inc();
        true
    }

    /// Only an authenticated session is ever found: nobody sees the others.
    fn socket_of(
        &self,
        account: Option<&AccountId>,
        socket_id: &str,
    ) -> Option<(&Entry, FoundSocket)> {
        let entry = self.sessions.get(self.by_id.get(socket_id)?)?;
        let held = entry.account.as_ref()?;
        if account.is_some_and(|account| account != held) {
            return None;
        }
        let found = FoundSocket {
            account: held.clone(),
            description: entry.description.current(),
        };
        Some((entry, found))
    }

    /// The `limit` accounts holding the most sockets, most first; ties in account order.
    fn busiest_accounts(&self, limit: usize) -> Vec<(AccountId, usize)> {
        let mut counts: Vec<(Reverse<usize>, &AccountId)> = self
            .by_account
            .iter()
            .map(|(account, sessions)| (Reverse(sessions.len()), account))
            .collect();
        if counts.len() > limit {
            counts.select_nth_unstable(limit);
            counts.truncate(limit);
        }
        counts.sort_unstable();
        counts
            .into_iter()
            .map(|(Reverse(count), account)| (account.clone(), count))
            .collect()
    }

    fn list(&self, account: &AccountId, page: &PageRequest) -> Result<Page, QueryError> {
        let empty = BTreeSet::new();
        let sockets = self.by_account.get(account).unwrap_or(&empty);
        let first = match &page.start_key {
            None => 0,
            Some(start_key) => match self.by_id.get(start_key.as_str()) {
                Some(key) if sockets.contains(key) => *key,
                _ => return Err(QueryError::UnknownStartKey(start_key.clone())),
            },
        };
        let size = page.size.unwrap_or(usize::MAX);
        let mut listed = sockets
            .range(first..)
            .filter_map(|key| self.sessions.get(key));
        let descriptions = listed
            .by_ref()
            .take(size)
            .map(|entry| entry.description.current())
            .collect();
        Ok(Page {
            sockets: descriptions,
            next_start_key: listed.next().map(|entry| entry.id.clone()),
        })
    }

    fn rights_changed(&self, removed: &[AccountId]) {
        for (account, sockets) in &self.by_account {
            let gone = removed.contains(account);
            for entry in sockets.iter().filter_map(|key| self.sessions.get(key)) {
                if gone {
                    entry.outbox.close(CloseReason::AccountRemoved);
                    self.fabric.metrics.account_removed_closes.inc();
                } else {
                    let _ = entry.actor.cast(SessionMsg::RecheckRights);
                }
            }
        }
    }

    /// The sockets holding the most bytes go first, until the node is back under its bound. A
    /// holder's bytes are read once, so the order is that of this moment; pushes meanwhile
    /// only add to the excess, which is read afresh before each holder. Still over after every
    /// holder had its turn (new bytes went to sockets that held none), it goes again, as long
    /// as a round frees something.
    fn shed(&self, myself: &ActorRef<SupervisorMsg>) {
        let backlog = &self.fabric.backlog;
        if backlog.excess() == 0 {
            return;
        }
        let mut holders: Vec<(usize, &Entry)> = self
            .sessions
            .values()
            .map(|entry| (entry.outbox.queued_bytes(), entry))
            .filter(|(bytes, _)| *bytes > 0)
            .collect();
        holders.sort_unstable_by_key(|(bytes, _)| Reverse(*bytes));
        let mut shed = 0;
        for (_, entry) in holders {
            let excess = backlog.excess();
            if excess == 0 {
                break;
            }
            if entry.outbox.shed(excess) > 0 {
                shed += 1;
            }
        }
        if shed == 0 {
            return;
        }
        if backlog.excess() > 0 {
            let _ = myself.cast(SupervisorMsg::Shed);
        }
        tracing::warn!(
            shed,
            queued_bytes = backlog.bytes(),
            max_queued_bytes = backlog.limit(),
            "node-wide outbound bound passed: the biggest queues were shed"
        );
    }

    fn start_drain(&mut self, myself: &ActorRef<SupervisorMsg>, over: Duration) -> usize {
        self.closing = Some(CloseReason::GoingAway);
        let mut keys: Vec<SessionKey> = self.sessions.keys().copied().collect();
        keys.sort_unstable();
        let plan = DrainPlan::new(keys, over);
        let sockets = plan.len();
        self.drain = Some(plan);
        self.drain_generation += 1;
        self.drain_tick(myself, self.drain_generation);
        sockets
    }

    fn drain_tick(&mut self, myself: &ActorRef<SupervisorMsg>, generation: u64) {
        let Some(plan) = self
            .drain
            .as_mut()
            .filter(|_| generation == self.drain_generation)
        else {
            return;
        };
        for key in plan.next_batch() {
            // Gone already, or closing for another reason: its slot in the batch goes unused.
            if let Some(entry) = self.sessions.get(&key) {
                entry.outbox.close(CloseReason::GoingAway);
            }
        }
        if plan.is_empty() {
            self.drain = None;
        } else {
            myself.send_after(DRAIN_TICK, move || SupervisorMsg::DrainTick(generation));
        }
    }

    /// The id of the socket an actor is the session of.
    fn socket_id_of(&self, actor: ActorId) -> Option<Arc<str>> {
        let key = self.by_actor.get(&actor)?;
        Some(self.sessions.get(key)?.id.clone())
    }

    fn forget(&mut self, actor: ActorId, failed: bool) {
        let Some(key) = self.by_actor.remove(&actor) else {
            return;
        };
        let Some(entry) = self.sessions.remove(&key) else {
            return;
        };
        if failed {
            entry.outbox.close(CloseReason::InternalError);
        }
        self.by_id.remove(&entry.id);
        if let Some(account) = entry.account {
            if let Some(sockets) = self.by_account.get_mut(&account) {
                sockets.remove(&key);
                if sockets.is_empty() {
                    self.by_account.remove(&account);
                }
            }
            self.fabric.metrics.authenticated_connections.dec();
        }
        self.fabric.router.remove_session(key);
        self.fabric.metrics.connections.dec();
        shrink_when_sparse(&mut self.sessions);
        shrink_when_sparse(&mut self.by_actor);
        shrink_when_sparse(&mut self.by_id);
    }
}
