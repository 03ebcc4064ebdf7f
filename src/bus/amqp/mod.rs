//! Cluster mode (SPEC 8): the node's link to RabbitMQ. One task ([`link`]) owns the connection:
//! it connects and reconnects with backoff, declares the topology, keeps the queue's bindings
//! equal to what the node's subscriptions need ([`bindings`]) and hands every message that
//! arrives to [`inbound`]. Everything else talks to the broker through the [`Link`] that task
//! publishes while it is connected.

mod bindings;
mod inbound;
mod link;
mod topology;
mod uri;

pub(crate) use uri::broker_uri;

use std::sync::Arc;
use std::time::Instant;

use lapin::options::BasicPublishOptions;
use lapin::{BasicProperties, Channel, Confirmation};
use ractor::ActorRef;
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use url::Url;

use switchyard_actors::fabric::Fabric;
use switchyard_actors::id::fresh_id;
use switchyard_actors::supervisor::SupervisorMsg;

use super::messages::{
    APP_NAME, APP_VERSION, CATEGORY, CLOSE_KEY, CLOSE_REQ, GET_KEY, GET_REQ, QUERY_EXCHANGE,
    Request,
};
use super::metrics::BusMetrics;
use super::peers::Peers;
use super::queries::{Gathered, Pending, QUERY_DEADLINE};
use super::{Outgoing, PublishError};

/// The broker as the rest of the node sees it while connected.
#[derive(Clone)]
struct Link {
    /// This node's queue: its `Server-ID`.
    queue: String,
    /// Queries, replies and heartbeats: fire and forget.
    control: Channel,
    /// Events published for `POST /v2/events`: with publisher confirms.
    events: Channel,
}

/// What the link task and the handles share.
struct Shared {
    url: Url,
    node_name: String,
    fabric: Arc<Fabric>,
    supervisor: ActorRef<SupervisorMsg>,
    metrics: BusMetrics,
    peers: Peers,
    pending: Pending,
    link: watch::Sender<Option<Link>>,
}

pub(crate) struct AmqpBus {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: parking_lot::Mutex<Option<JoinHandle<()>>>,
}

/// A question for every other node: the sockets of an account, one socket, or closing one.
pub(crate) enum Ask<'a> {
    List {
        account: &'a str,
    },
    Find {
        account: &'a str,
        socket_id: &'a str,
    },
    Close {
        account: &'a str,
        socket_id: &'a str,
    },
}

impl AmqpBus {
    /// Starts the link task; returns at once (the broker may be down: the task retries).
    pub(crate) fn start(
        url: Url,
        node_name: String,
        fabric: Arc<Fabric>,
        supervisor: ActorRef<SupervisorMsg>,
    ) -> Self {
        let patterns = fabric
            .router
            .watch_patterns()
            .expect("a new fabric's router has no watcher yet");
        let shared = Arc::new(Shared {
            url,
            node_name,
            fabric,
            supervisor,
            metrics: BusMetrics::default(),
            peers: Peers::default(),
            pending: Pending::default(),
            link: watch::channel(None).0,
        });
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(link::run(shared.clone(), patterns, stopped));
        Self {
            shared,
            stop,
            task: parking_lot::Mutex::new(Some(task)),
        }
    }

    pub(crate) fn is_connected(&self) -> bool {
        self.shared.link.borrow().is_some()
    }

    pub(crate) fn metrics(&self) -> &BusMetrics {
        &self.shared.metrics
    }

    /// Publishes a validated batch with publisher confirms: answers once the broker holds
    /// every message of it.
    pub(crate) async fn publish(&self, batch: &[Outgoing]) -> Result<usize, PublishError> {
        let link = self.link().ok_or(PublishError::BusDown)?;
        let properties = BasicProperties::default().with_content_type("application/json".into());
        let mut confirms = Vec::with_capacity(batch.len());
        for outgoing in batch {
            let event = &outgoing.event;
            let key = event.exchange.broker_key(&event.routing_key);
            let confirm = link
                .events
                .basic_publish(
                    event.exchange.name().into(),
                    key.as_ref().into(),
                    BasicPublishOptions::default(),
                    outgoing.payload.as_deref().unwrap_or_default(),
                    properties.clone(),
                )
                .await
                .map_err(PublishError::broker)?;
            confirms.push(confirm);
        }
        for confirm in confirms {
            match confirm.await.map_err(PublishError::broker)? {
                Confirmation::Ack(_) | Confirmation::NotRequested => {}
                Confirmation::Nack(_) => return Err(PublishError::Refused),
            }
        }
        Ok(batch.len())
    }

    /// Asks every other node and gathers what they say within [`QUERY_DEADLINE`].
    pub(crate) async fn ask(&self, ask: Ask<'_>) -> Gathered {
        let shared = &self.shared;
        let Some(link) = self.link() else {
            return Gathered {
                replies: Vec::new(),
                partial: true,
            };
        };
        let alive = shared.peers.alive(Instant::now());
        if alive.is_empty() {
            return Gathered::default();
        }
        let started = Instant::now();
        let (key, request) = self.request(ask, &link.queue);
        let all_in = shared.pending.expect(&request.msg_id, alive);
        if publish_json(&link.control, QUERY_EXCHANGE, key, &request)
            .await
            .is_ok()
        {
            let _ = tokio::time::timeout(QUERY_DEADLINE, all_in).await;
        }
        let gathered = shared.pending.finish(&request.msg_id);
        if gathered.partial {
            shared.metrics.remote_queries_partial.inc();
        }
        shared
            .metrics
            .remote_queries
            .observe(started.elapsed().as_secs_f64());
        gathered
    }

    fn request(&self, ask: Ask<'_>, queue: &str) -> (&'static str, Request) {
        let (key, event_name, account, socket_id) = match ask {
            Ask::List { account } => (GET_KEY, GET_REQ, account, None),
            Ask::Find { account, socket_id } => (GET_KEY, GET_REQ, account, Some(socket_id)),
            Ask::Close { account, socket_id } => (CLOSE_KEY, CLOSE_REQ, account, Some(socket_id)),
        };
        let request = Request {
            msg_id: fresh_id(),
            account_id: Some(account.to_string()),
            auth_account_id: None,
            socket_id: socket_id.map(str::to_string),
            event_category: CATEGORY.to_string(),
            event_name: event_name.to_string(),
            app_name: APP_NAME.to_string(),
            app_version: APP_VERSION.to_string(),
            server_id: queue.to_string(),
            node: self.shared.node_name.clone(),
        };
        (key, request)
    }

    /// Says goodbye to the other nodes and closes the connection.
    pub(crate) async fn shutdown(&self) {
        self.stop.send_replace(true);
        let task = self.task.lock().take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }

    fn link(&self) -> Option<Link> {
        self.shared.link.borrow().clone()
    }
}

/// One JSON message, no confirm: the bus's own talk (queries, replies, heartbeats).
async fn publish_json(
    channel: &Channel,
    exchange: &str,
    key: &str,
    message: &impl Serialize,
) -> lapin::Result<()> {
    // Plain structs of strings and pre-rendered JSON: nothing here fails to serialise.
    let body = serde_json::to_vec(message).unwrap_or_default();
    channel
        .basic_publish(
            exchange.into(),
            key.into(),
            BasicPublishOptions::default(),
            &body,
            BasicProperties::default().with_content_type("application/json".into()),
        )
        .await
        .map(drop)
}
