//! One actor per websocket (SPEC 3): it holds the socket's authentication, its bindings and its
//! labels, and takes every client frame through the steps rate limit → authenticate → validate →
//! authorize → limits → command. A failed frame changes nothing. Replies go to the socket's
//! outbox, the same queue events go to, so a client sees them in the order they happened.

use std::net::SocketAddr;
use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::Serialize;
use serde_json::{Value, json};

use crate::account::{AccountId, AccountScope};
use crate::bindings::{self, Translation};
use crate::fabric::Fabric;
use crate::month::YearMonth;
use crate::outbox::{CloseReason, Outbox, TextFrame};
use crate::protocol::ProtocolError;
use crate::protocol::reply;
use crate::protocol::request::{self, Command, JsonObject, Target};
use crate::rate_limit::TokenBucket;
use crate::router::{SessionKey, Subscription};
use crate::supervisor::SupervisorMsg;

pub enum SessionMsg {
    /// A text frame from the client; answered once its reply is queued, so that the socket's
    /// reader waits for its session (back-pressure instead of an unbounded mailbox).
    Frame(String, RpcReplyPort<()>),
    Describe(RpcReplyPort<SessionInfo>),
    /// Close the socket (4000) and answer its last state.
    Kick(RpcReplyPort<SessionInfo>),
}

/// A socket as REST shows it (SPEC 6).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionInfo {
    pub bindings: Vec<String>,
    pub websocket_session_id: String,
    /// Gregorian seconds at connect.
    pub timestamp: u64,
    pub destination: String,
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<JsonObject>,
    /// The account the socket authenticated as.
    #[serde(skip)]
    pub account: Option<AccountId>,
}

pub struct SessionArgs {
    pub fabric: Arc<Fabric>,
    pub supervisor: ActorRef<SupervisorMsg>,
    pub key: SessionKey,
    pub id: Arc<str>,
    pub peer: SocketAddr,
    pub connected_at: u64,
    pub outbox: Arc<Outbox>,
}

struct Held {
    scope: AccountScope,
    binding: String,
    subscription: Subscription,
}

pub struct SessionState {
    args: SessionArgs,
    account: Option<AccountId>,
    /// Oldest first.
    held: Vec<Held>,
    name: Option<String>,
    metadata: Option<JsonObject>,
    bucket: TokenBucket,
}

pub struct Session;

impl Actor for Session {
    type Msg = SessionMsg;
    type State = SessionState;
    type Arguments = SessionArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: SessionArgs,
    ) -> Result<SessionState, ActorProcessingErr> {
        Ok(SessionState {
            bucket: TokenBucket::new(args.fabric.limits.rate),
            args,
            account: None,
            held: Vec::new(),
            name: None,
            metadata: None,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: SessionMsg,
        state: &mut SessionState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            SessionMsg::Frame(text, done) => {
                let reply = state.answer(&text).await?;
                state.args.outbox.push(reply);
                let _ = done.send(());
            }
            SessionMsg::Describe(reply) => {
                let _ = reply.send(state.info());
            }
            SessionMsg::Kick(reply) => {
                state.args.outbox.close(CloseReason::Kicked);
                let _ = reply.send(state.info());
            }
        }
        Ok(())
    }
}

impl SessionState {
    async fn answer(&mut self, text: &str) -> Result<TextFrame, ActorProcessingErr> {
        let metrics = &self.args.fabric.metrics;
        metrics.frames_in.inc();
        let frame = match request::parse_frame(text) {
            Ok(frame) => frame,
            Err(error) => {
                metrics.errors_replied.inc();
                return Ok(reply::error(None, &error));
            }
        };
        let request_id = request::request_id(&frame);
        Ok(match self.process(&frame).await? {
            Ok(data) => reply::success(request_id, data),
            Err(error) => {
                let metrics = &self.args.fabric.metrics;
                metrics.errors_replied.inc();
                if matches!(error, ProtocolError::RateLimited { .. }) {
                    metrics.rate_limited.inc();
                }
                reply::error(request_id, &error)
            }
        })
    }

    /// The outer `Result` is the actor's own failure (its supervisor is gone); the inner one is
    /// the client's.
    async fn process(
        &mut self,
        frame: &JsonObject,
    ) -> Result<Result<Value, ProtocolError>, ActorProcessingErr> {
        let fabric = self.args.fabric.clone();

        // Rate limit.
        if !self.bucket.try_take() {
            return Ok(Err(ProtocolError::RateLimited {
                peer: self.args.peer,
            }));
        }

        // Authenticate: once per socket; later tokens are ignored.
        let account = match &self.account {
            Some(account) => account.clone(),
            None => {
                let authenticated = request::auth_token(frame).and_then(|token| {
                    let token = token.ok_or(ProtocolError::TokenRequired)?;
                    Ok(fabric.authority.authenticate(token)?)
                });
                match authenticated {
                    Ok(account) => account,
                    Err(error) => return Ok(Err(error)),
                }
            }
        };

        // Validate, the bindings included.
        let request = match request::decode(frame) {
            Ok(request) => request,
            Err(error) => return Ok(Err(error)),
        };
        let target = match &request.command {
            Command::Subscribe(target) | Command::Unsubscribe(Some(target)) => Some(target),
            Command::Unsubscribe(None) | Command::Ping => None,
        };
        let translations = match target.map(translate).transpose() {
            Ok(translations) => translations.unwrap_or_default(),
            Err(error) => return Ok(Err(error)),
        };

        // Authorize.
        if let Some(target) = target
            && let Err(error) = authorize(&fabric, &account, &target.scope)
        {
            return Ok(Err(error));
        }

        // Limits: bindings first, then the account's connections, which is the only check
        // with a side effect and so comes last.
        if let Command::Subscribe(target) = &request.command {
            let new = target
                .bindings
                .iter()
                .filter(|binding| !self.holds(&target.scope, binding))
                .count();
            if self.held.len() + new > fabric.limits.max_bindings_per_socket {
                return Ok(Err(ProtocolError::BindingLimit));
            }
        }
        if self.account.is_none() {
            let admitted = ractor::call!(self.args.supervisor, |reply| {
                SupervisorMsg::Authenticate {
                    session: self.args.key,
                    account: account.clone(),
                    reply,
                }
            })?;
            if !admitted {
                return Ok(Err(ProtocolError::ConnectionLimit));
            }
            self.account = Some(account);
        }

        // Command: nothing can fail from here on.
        let data = match request.command {
            Command::Ping => json!({"response": "pong"}),
            Command::Subscribe(target) => {
                for (binding, translation) in target.bindings.iter().zip(&translations) {
                    self.subscribe(&target.scope, binding, translation);
                }
                json!({"subscribed": self.subscribed()})
            }
            Command::Unsubscribe(Some(target)) => {
                for binding in &target.bindings {
                    self.unsubscribe(&target.scope, binding);
                }
                json!({"unsubscribed": target.bindings, "subscribed": self.subscribed()})
            }
            Command::Unsubscribe(None) => {
                let unsubscribed = self.subscribed();
                for held in std::mem::take(&mut self.held) {
                    fabric.router.unsubscribe(self.args.key, &held.subscription);
                }
                json!({"unsubscribed": unsubscribed, "subscribed": []})
            }
        };
        if request.name.is_some() {
            self.name = request.name;
        }
        if request.metadata.is_some() {
            self.metadata = request.metadata;
        }
        Ok(Ok(data))
    }

    fn holds(&self, scope: &AccountScope, binding: &str) -> bool {
        self.held
            .iter()
            .any(|held| &held.scope == scope && held.binding == binding)
    }

    fn subscribe(&mut self, scope: &AccountScope, binding: &str, translation: &Translation) {
        if self.holds(scope, binding) {
            return;
        }
        let subscription = self.args.fabric.router.subscribe(
            self.args.key,
            &self.args.outbox,
            binding,
            scope,
            translation,
        );
        self.held.push(Held {
            scope: scope.clone(),
            binding: binding.to_string(),
            subscription,
        });
    }

    fn unsubscribe(&mut self, scope: &AccountScope, binding: &str) {
        if let Some(at) = self
            .held
            .iter()
            .position(|held| &held.scope == scope && held.binding == binding)
        {
            let held = self.held.remove(at);
            self.args
                .fabric
                .router
                .unsubscribe(self.args.key, &held.subscription);
        }
    }

    /// Every client binding held, oldest first, each once.
    fn subscribed(&self) -> Vec<String> {
        let mut bindings: Vec<String> = Vec::with_capacity(self.held.len());
        for held in &self.held {
            if !bindings.contains(&held.binding) {
                bindings.push(held.binding.clone());
            }
        }
        bindings
    }

    fn info(&self) -> SessionInfo {
        SessionInfo {
            bindings: self.subscribed(),
            websocket_session_id: self.args.id.to_string(),
            timestamp: self.args.connected_at,
            destination: self.args.fabric.node_name.clone(),
            source: self.args.peer.ip().to_string(),
            name: self.name.clone(),
            metadata: self.metadata.clone(),
            account: self.account.clone(),
        }
    }
}

fn translate(target: &Target) -> Result<Vec<Translation>, ProtocolError> {
    let month = YearMonth::now();
    target
        .bindings
        .iter()
        .map(|binding| Ok(bindings::translate(binding, &target.scope, month)?))
        .collect()
}

fn authorize(
    fabric: &Fabric,
    account: &AccountId,
    scope: &AccountScope,
) -> Result<(), ProtocolError> {
    let authority = &fabric.authority;
    match scope {
        AccountScope::All if authority.is_superduper(account) => Ok(()),
        AccountScope::All => Err(ProtocolError::UnauthorizedWildcard),
        AccountScope::One(target) if authority.may_act_on(account, target) => Ok(()),
        AccountScope::One(_) => Err(ProtocolError::UnauthorizedAccount),
    }
}
