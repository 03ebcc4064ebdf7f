//! The one task that owns the broker connection: connect, declare, bind, consume; on a loss,
//! say so (`/readyz` 503), back off with jitter and do it all again, restoring every binding
//! the node's sockets still need. Sockets never notice: they only stop receiving meanwhile.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lapin::options::{BasicConsumeOptions, ConfirmSelectOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties};
use rand::Rng;
use tokio::sync::{mpsc, watch};

use switchyard_actors::month::YearMonth;
use switchyard_actors::router::PatternChange;

use super::bindings::{Binder, BindingChange};
use super::{Link, Shared, broker_uri, inbound, publish_json, topology};
use crate::bus::messages::{
    CLOSE_KEY, GET_KEY, GOODBYE, HEARTBEAT, Heartbeat, NODES_EXCHANGE, QUERY_EXCHANGE,
    REPLY_EXCHANGE,
};
use crate::bus::peers::HEARTBEAT_INTERVAL;

/// Backoff between attempts: doubling from the first to the cap, each wait drawn at random
/// from its upper half so that nodes cut off together do not come back in step.
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_CAP: Duration = Duration::from_secs(5);
/// A broker that takes longer than this to accept us counts as down.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the link checks whether the month turned (MODB bindings move along).
const MONTH_CHECK: Duration = Duration::from_secs(60);

type Patterns = mpsc::UnboundedReceiver<PatternChange>;

#[derive(Debug, thiserror::Error)]
enum LinkError {
    #[error("{0}")]
    Broker(#[from] lapin::Error),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("the broker stopped delivering")]
    ConsumerEnded,
    #[error("bus URL {0}")]
    Url(String),
}

enum Ended {
    Stopped,
    Lost(LinkError),
}

pub(super) async fn run(
    shared: Arc<Shared>,
    mut patterns: Patterns,
    mut stop: watch::Receiver<bool>,
) {
    let mut binder = Binder::new(YearMonth::now());
    let mut failures: u32 = 0;
    let mut connected_before = false;
    // The queue this node had before its last loss: the others are told to forget it.
    let mut previous_queue: Option<String> = None;
    let bus = crate::config::BusSetting::Amqp(shared.url.clone()).to_string();
    loop {
        if *stop.borrow() {
            return;
        }
        let attempt = tokio::select! {
            attempt = connect(&shared, &binder) => attempt,
            _ = stop.changed() => return,
        };
        match attempt {
            Ok(session) => {
                if connected_before {
                    shared.metrics.reconnects.inc();
                }
                connected_before = true;
                failures = 0;
                tracing::info!(%bus, queue = session.link.queue, "connected to RabbitMQ");
                if let Some(old) = previous_queue.replace(session.link.queue.clone()) {
                    session.forget_queue(&shared, &old).await;
                }
                let ended = session
                    .serve(&shared, &mut binder, &mut patterns, &mut stop)
                    .await;
                went_down(&shared);
                match ended {
                    Ended::Stopped => return,
                    Ended::Lost(error) => {
                        tracing::warn!(%bus, %error, "lost RabbitMQ; reconnecting (sockets stay open)")
                    }
                }
            }
            Err(error) => {
                if failures == 0 {
                    tracing::warn!(%bus, %error, "cannot reach RabbitMQ; retrying with backoff until it answers");
                } else {
                    tracing::debug!(%bus, %error, failures, "RabbitMQ still unreachable");
                }
                failures = failures.saturating_add(1);
            }
        }
        // Meanwhile subscriptions come and go: the binder keeps count for the next connection.
        let wait = tokio::time::sleep(backoff(failures));
        tokio::pin!(wait);
        loop {
            tokio::select! {
                _ = &mut wait => break,
                Some(change) = patterns.recv() => { binder.apply(change); }
                _ = stop.changed() => return,
            }
        }
    }
}

fn backoff(failures: u32) -> Duration {
    let ceiling = BACKOFF_FIRST
        .saturating_mul(1 << failures.min(16))
        .min(BACKOFF_CAP);
    let half = ceiling / 2;
    half + half.mul_f64(rand::rng().random::<f64>())
}

fn went_down(shared: &Shared) {
    shared.link.send_replace(None);
    shared.metrics.connected.set(0);
    shared.metrics.broker_bindings.set(0);
    shared.peers.forget_all();
    shared.metrics.known_nodes.set(0);
}

/// A live connection with everything declared and bound.
struct Session {
    connection: Connection,
    consume: Channel,
    consumer: lapin::Consumer,
    link: Link,
}

async fn connect(shared: &Shared, binder: &Binder) -> Result<Session, LinkError> {
    tokio::time::timeout(CONNECT_TIMEOUT, establish(shared, binder))
        .await
        .unwrap_or(Err(LinkError::Timeout(CONNECT_TIMEOUT)))
}

async fn establish(shared: &Shared, binder: &Binder) -> Result<Session, LinkError> {
    let properties =
        ConnectionProperties::default().with_connection_name(shared.node_name.as_str().into());
    let uri = broker_uri(&shared.url).map_err(LinkError::Url)?;
    let connection = Connection::connect_uri(uri, properties).await?;
    topology::declare_exchanges(&connection).await?;
    let consume = connection.create_channel().await?;
    let control = connection.create_channel().await?;
    let events = connection.create_channel().await?;
    events
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let queue = topology::declare_queue(&consume).await?;
    for (exchange, key) in [
        (QUERY_EXCHANGE, GET_KEY),
        (QUERY_EXCHANGE, CLOSE_KEY),
        (REPLY_EXCHANGE, queue.as_str()),
        (NODES_EXCHANGE, ""),
    ] {
        topology::bind(&consume, &queue, exchange, key).await?;
    }
    for binding in binder.wanted() {
        topology::bind(&consume, &queue, binding.exchange.name(), &binding.key).await?;
        shared.metrics.broker_bindings.inc();
    }
    let consumer = consume
        .basic_consume(
            queue.as_str().into(),
            "".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..BasicConsumeOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    Ok(Session {
        connection,
        consume,
        consumer,
        link: Link {
            queue,
            control,
            events,
        },
    })
}

impl Session {
    async fn serve(
        mut self,
        shared: &Arc<Shared>,
        binder: &mut Binder,
        patterns: &mut Patterns,
        stop: &mut watch::Receiver<bool>,
    ) -> Ended {
        shared.link.send_replace(Some(self.link.clone()));
        shared.metrics.connected.set(1);
        let lost = self
            .connection
            .events_listener()
            .filter_map(|event| async move {
                match event {
                    lapin::Event::Error(error) => Some(error),
                    _ => None,
                }
            });
        tokio::pin!(lost);
        let mut heartbeat = tokio::time::interval(HEARTBEAT_INTERVAL);
        let mut month = tokio::time::interval(MONTH_CHECK);
        loop {
            let step = tokio::select! {
                delivery = self.consumer.next() => match delivery {
                    Some(Ok(delivery)) => {
                        inbound::dispatch(shared, &self.link, delivery);
                        Ok(())
                    }
                    Some(Err(error)) => Err(error.into()),
                    None => Err(LinkError::ConsumerEnded),
                },
                Some(change) = patterns.recv() => {
                    let changes = binder.apply(change);
                    self.apply(shared, changes).await
                }
                _ = heartbeat.tick() => self.heartbeat(shared).await,
                _ = month.tick() => {
                    let changes = binder.roll_to(YearMonth::now());
                    self.apply(shared, changes).await
                }
                Some(error) = lost.next() => Err(error.into()),
                _ = stop.changed() => {
                    self.say_goodbye(shared).await;
                    return Ended::Stopped;
                }
            };
            if let Err(error) = step {
                return Ended::Lost(error);
            }
        }
    }

    async fn apply(&self, shared: &Shared, changes: Vec<BindingChange>) -> Result<(), LinkError> {
        let queue = &self.link.queue;
        for change in changes {
            match change {
                BindingChange::Bind(binding) => {
                    topology::bind(&self.consume, queue, binding.exchange.name(), &binding.key)
                        .await?;
                    shared.metrics.broker_bindings.inc();
                }
                BindingChange::Unbind(binding) => {
                    topology::unbind(&self.consume, queue, binding.exchange.name(), &binding.key)
                        .await?;
                    shared.metrics.broker_bindings.dec();
                }
            }
        }
        Ok(())
    }

    async fn heartbeat(&self, shared: &Shared) -> Result<(), LinkError> {
        let alive = shared.peers.alive(Instant::now()).len();
        shared.metrics.known_nodes.set(alive as i64);
        let beat = Heartbeat::new(HEARTBEAT, &self.link.queue, &shared.node_name);
        publish_json(&self.link.control, NODES_EXCHANGE, "", &beat).await?;
        Ok(())
    }

    /// Says goodbye for this node's queue of an earlier connection, which nobody answers from
    /// any more: the others stop waiting for it at once rather than after the expiry.
    async fn forget_queue(&self, shared: &Shared, old: &str) {
        let goodbye = Heartbeat::new(GOODBYE, old, &shared.node_name);
        let _ = publish_json(&self.link.control, NODES_EXCHANGE, "", &goodbye).await;
    }

    async fn say_goodbye(self, shared: &Shared) {
        let goodbye = Heartbeat::new(GOODBYE, &self.link.queue, &shared.node_name);
        let _ = publish_json(&self.link.control, NODES_EXCHANGE, "", &goodbye).await;
        let _ = self
            .connection
            .close(200, "node shutting down".into())
            .await;
    }
}
