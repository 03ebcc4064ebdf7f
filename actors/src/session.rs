//! One actor per websocket (SPEC 3): it holds the socket's authentication, its bindings and its
//! labels, and takes every client frame through the steps rate limit → authenticate → validate
//! → authorize → limits → command, each a function below. A failed frame changes nothing.
//! Replies go to the socket's outbox, the same queue events go to, so a client sees them in the
//! order they happened. Whenever a frame changes what REST shows of the socket, the session
//! publishes its new [`Description`] to its supervisor.

use std::net::SocketAddr;
use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tracing::Instrument;

use crate::account::{AccountId, AccountScope};
use crate::bindings::{self, Translation};
use crate::description::{Description, DescriptionSlot, SocketFacts};
use crate::fabric::Fabric;
use crate::frame::TextFrame;
use crate::limits::Limits;
use crate::month::YearMonth;
use crate::outbox::Outbox;
use crate::protocol::ProtocolError;
use crate::protocol::reply;
use crate::protocol::request::{self, Command, JsonObject, Request, Target};
use crate::rate_limit::TokenBucket;
use crate::router::{SessionKey, Subscription};
use crate::supervisor::SupervisorMsg;

/// The longest a subscribe reply waits for the broker to hold its bindings.
const BIND_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

pub enum SessionMsg {
    /// A text frame from the client; answered once its reply is queued, so that the socket's
    /// reader waits for its session (back-pressure instead of an unbounded mailbox).
    Frame(String, RpcReplyPort<()>),
    /// The account directory changed: drop the bindings it no longer allows, and say so.
    RecheckRights,
}

pub struct SessionArgs {
    pub fabric: Arc<Fabric>,
    pub supervisor: ActorRef<SupervisorMsg>,
    pub key: SessionKey,
    pub id: Arc<str>,
    pub peer: SocketAddr,
    /// Gregorian seconds.
    pub connected_at: u64,
    pub outbox: Arc<Outbox>,
    /// Where this session's description is published; the supervisor reads it.
    pub description: Arc<DescriptionSlot>,
}

/// One client binding the socket holds, and its place in the router.
struct HeldBinding {
    scope: AccountScope,
    binding: String,
    subscription: Subscription,
}

pub struct SessionState {
    args: SessionArgs,
    /// Set by the first successful frame, and never changed after it.
    account: Option<AccountId>,
    /// Oldest first.
    held: Vec<HeldBinding>,
    name: Option<String>,
    metadata: Option<JsonObject>,
    bucket: TokenBucket,
}

/// Why a frame was not carried out.
#[derive(Debug, thiserror::Error)]
enum FrameError {
    /// The client's: answered with an error reply, and the session goes on.
    #[error(transparent)]
    Refused(#[from] ProtocolError),
    /// The session cannot go on without its supervisor.
    #[error("the supervisor did not answer: {0}")]
    SupervisorGone(String),
}

/// A request that passed validation, its bindings translated.
struct ValidRequest {
    request: Request,
    /// One per binding of the request's target, in its order.
    translations: Vec<Translation>,
}

impl ValidRequest {
    fn target(&self) -> Option<&Target> {
        match &self.request.command {
            Command::Subscribe(target) | Command::Unsubscribe(Some(target)) => Some(target),
            Command::Unsubscribe(None) | Command::Ping => None,
        }
    }
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
                // Lines logged while answering (a refused token, say) name the socket; the span
                // costs nothing unless debug logging is on.
                let span = tracing::debug_span!("frame", socket = &*state.args.id);
                // Boxed: ractor keeps the handler's future in the actor's loop for the actor's
                // whole life, so its size would be every idle socket's.
                let reply = Box::pin(state.answer(&text).instrument(span)).await?;
                state.args.outbox.push(reply);
                let _ = done.send(());
            }
            SessionMsg::RecheckRights => state.recheck_rights(),
        }
        Ok(())
    }
}

impl SessionState {
    /// The reply to one text frame; an `Err` only when the session itself cannot go on.
    async fn answer(&mut self, text: &str) -> Result<TextFrame, ActorProcessingErr> {
        self.args.fabric.metrics.frames_in.inc();
        let frame = match request::parse_frame(text) {
            Ok(frame) => frame,
            Err(error) => return Ok(self.refuse(None, &error)),
        };
        let request_id = request::request_id(text);
        let echoed = request_id.as_ref().ok().copied().flatten();
        match self.carry_out(&frame, request_id.map(|_| ())).await {
            Ok(data) => Ok(reply::success(echoed, data)),
            Err(FrameError::Refused(error)) => Ok(self.refuse(echoed, &error)),
            Err(gone @ FrameError::SupervisorGone(_)) => Err(gone.into()),
        }
    }

    fn refuse(&self, request_id: Option<&RawValue>, error: &ProtocolError) -> TextFrame {
        let metrics = &self.args.fabric.metrics;
        metrics.errors_replied.inc();
        if matches!(error, ProtocolError::RateLimited { .. }) {
            metrics.rate_limited.inc();
        }
        reply::error(request_id, error)
    }

    /// SPEC 3's steps in order. The first error ends the frame with nothing changed: only
    /// the last step before the command has a side effect, and the command cannot fail.
    /// `request_id` is the verdict on the frame's request id, which the validate step reports.
    async fn carry_out(
        &mut self,
        frame: &JsonObject,
        request_id: Result<(), ProtocolError>,
    ) -> Result<Value, FrameError> {
        self.rate_limit()?;
        let account = self.authenticate(frame)?;
        request_id?;
        let request = validate(frame, &self.args.fabric.limits)?;
        self.authorize(&account, &request)?;
        self.enforce_limits(account, &request).await?;
        let subscribes = matches!(request.request.command, Command::Subscribe(_));
        let data = self.command(request);
        if subscribes {
            self.until_bound().await;
        }
        Ok(data)
    }

    /// In cluster mode a new binding reaches the broker a moment after the router has it: the
    /// reply waits for that, so that `subscribed` means "events from now on arrive". Bounded,
    /// so that a broker slow to answer cannot hold the socket.
    async fn until_bound(&self) {
        if let Some(settled) = self.args.fabric.router.settled() {
            let _ = tokio::time::timeout(BIND_WAIT, settled).await;
        }
    }

    /// A failed frame spends its token too: the limit counts frames, not successes.
    fn rate_limit(&mut self) -> Result<(), ProtocolError> {
        if self.bucket.try_take() {
            Ok(())
        } else {
            Err(ProtocolError::RateLimited {
                peer: self.args.peer,
            })
        }
    }

    /// The socket's account once it has one (a later token is ignored), else the token's.
    fn authenticate(&self, frame: &JsonObject) -> Result<AccountId, ProtocolError> {
        if let Some(account) = &self.account {
            return Ok(account.clone());
        }
        let token = request::auth_token(frame)?.ok_or(ProtocolError::TokenRequired)?;
        Ok(self.args.fabric.authority.authenticate(token)?)
    }

    fn authorize(&self, account: &AccountId, request: &ValidRequest) -> Result<(), ProtocolError> {
        match request.target() {
            Some(target) => self.may_bind(account, &target.scope),
            None => Ok(()),
        }
    }

    fn may_bind(&self, account: &AccountId, scope: &AccountScope) -> Result<(), ProtocolError> {
        let authority = &self.args.fabric.authority;
        match scope {
            AccountScope::All if authority.is_superduper(account) => Ok(()),
            AccountScope::All => Err(ProtocolError::UnauthorizedWildcard),
            AccountScope::One(other) if authority.may_act_on(account, other) => Ok(()),
            AccountScope::One(_) => Err(ProtocolError::UnauthorizedAccount),
        }
    }

    /// Drops every binding the account may no longer hold (its parent link or its superduper
    /// flag went), and tells the client which, in an error reply it did not ask for.
    fn recheck_rights(&mut self) {
        let Some(account) = self.account.clone() else {
            return;
        };
        let (kept, revoked): (Vec<_>, Vec<_>) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|held| self.may_bind(&account, &held.scope).is_ok());
        self.held = kept;
        if revoked.is_empty() {
            return;
        }
        let fabric = &self.args.fabric;
        for held in &revoked {
            fabric.router.unsubscribe(self.args.key, &held.subscription);
        }
        fabric.metrics.bindings_revoked.inc_by(revoked.len() as u64);
        let unsubscribed: Vec<&str> = revoked.iter().map(|held| held.binding.as_str()).collect();
        let notice = reply::error_with(
            &ProtocolError::RightsRevoked,
            json!({"unsubscribed": unsubscribed, "subscribed": self.subscribed()}),
        );
        self.args.outbox.push(notice);
        self.args.description.publish(self.describe());
    }

    /// The socket's bindings first, then its account's connections: counting the socket
    /// against its account is the one check with a side effect, so it comes last.
    async fn enforce_limits(
        &mut self,
        account: AccountId,
        request: &ValidRequest,
    ) -> Result<(), FrameError> {
        if let Command::Subscribe(target) = &request.request.command {
            let limits = &self.args.fabric.limits;
            let new: Vec<&String> = target
                .bindings
                .iter()
                .filter(|binding| !self.holds(&target.scope, binding))
                .collect();
            if self.held.len() + new.len() > limits.max_bindings_per_socket {
                return Err(ProtocolError::BindingLimit.into());
            }
            let held_bytes: usize = self.held.iter().map(|held| held.binding.len()).sum();
            let new_bytes: usize = new.iter().map(|binding| binding.len()).sum();
            if held_bytes + new_bytes > limits.max_binding_bytes_per_socket {
                return Err(ProtocolError::BindingBytes {
                    max: limits.max_binding_bytes_per_socket,
                }
                .into());
            }
        }
        if self.account.is_none() {
            let admitted = ractor::call!(self.args.supervisor, |reply| {
                SupervisorMsg::Authenticate {
                    session: self.args.key,
                    account: account.clone(),
                    reply,
                }
            })
            .map_err(|error| FrameError::SupervisorGone(error.to_string()))?;
            if !admitted {
                return Err(ProtocolError::ConnectionLimit.into());
            }
            self.account = Some(account);
        }
        Ok(())
    }

    /// Carries out a frame that passed every step; nothing here can fail.
    fn command(&mut self, valid: ValidRequest) -> Value {
        let ValidRequest {
            request,
            translations,
        } = valid;
        let changes_description = !matches!(request.command, Command::Ping)
            || request.name.is_some()
            || request.metadata.is_some();
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
                let unsubscribed = json!(self.subscribed());
                for held in std::mem::take(&mut self.held) {
                    self.args
                        .fabric
                        .router
                        .unsubscribe(self.args.key, &held.subscription);
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
        if changes_description {
            self.args.description.publish(self.describe());
        }
        data
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
        self.held.push(HeldBinding {
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
    fn subscribed(&self) -> Vec<&str> {
        let mut bindings: Vec<&str> = Vec::with_capacity(self.held.len());
        for held in &self.held {
            if !bindings.contains(&held.binding.as_str()) {
                bindings.push(&held.binding);
            }
        }
        bindings
    }

    fn describe(&self) -> Description {
        let args = &self.args;
        Description::render(&SocketFacts {
            bindings: &self.subscribed(),
            name: self.name.as_deref(),
            metadata: self.metadata.as_ref(),
            ..SocketFacts::new(
                &args.id,
                args.connected_at,
                &args.fabric.node_name,
                args.peer,
            )
        })
    }
}

/// Validation, the binding catalogue included. Bindings are translated in the month the frame
/// arrived in: a MODB binding shows the month of subscription (SPEC 4). Their size is checked
/// first: whatever a frame names, the reply echoes.
fn validate(frame: &JsonObject, limits: &Limits) -> Result<ValidRequest, ProtocolError> {
    let request = request::decode(frame)?;
    let month = YearMonth::now();
    let translations = match &request.command {
        Command::Subscribe(target) | Command::Unsubscribe(Some(target)) => {
            check_sizes(&target.bindings, limits)?;
            target
                .bindings
                .iter()
                .map(|binding| bindings::translate(binding, &target.scope, month))
                .collect::<Result<_, _>>()?
        }
        Command::Unsubscribe(None) | Command::Ping => Vec::new(),
    };
    Ok(ValidRequest {
        request,
        translations,
    })
}

/// No word of a binding longer than `max_binding_id_bytes`, and no more than
/// `max_binding_bytes_per_socket` named in one frame.
fn check_sizes(bindings: &[String], limits: &Limits) -> Result<(), ProtocolError> {
    let max = limits.max_binding_id_bytes;
    if bindings
        .iter()
        .any(|binding| binding.split('.').any(|word| word.len() > max))
    {
        return Err(ProtocolError::BindingIdTooLong { max });
    }
    let max = limits.max_binding_bytes_per_socket;
    if bindings.iter().map(String::len).sum::<usize>() > max {
        return Err(ProtocolError::BindingBytes { max });
    }
    Ok(())
}
