//! Where events travel (SPEC 5, 8). A node alone uses the embedded bus: a published event goes
//! straight to this node's router. In cluster mode ([`amqp`]) events come from RabbitMQ, where
//! KAZOO publishes them, and `POST /v2/events` publishes there too, so that every node's
//! subscribers get each event once; the nodes also ask each other about their sockets.

mod amqp;
pub(crate) mod messages;
mod metrics;
mod peers;
mod queries;

use std::sync::Arc;

use ractor::ActorRef;
use url::Url;

use switchyard_actors::event::{BusMessage, Event, EventError};
use switchyard_actors::fabric::Fabric;
use switchyard_actors::supervisor::SupervisorMsg;

pub(crate) use amqp::{AmqpBus, Ask, broker_uri};
pub(crate) use messages::Reply;
pub(crate) use metrics::BusMetrics;
pub(crate) use queries::Gathered;

pub(crate) enum Bus {
    Embedded(EmbeddedBus),
    Amqp(AmqpBus),
}

/// An event validated for publishing, with what its bus needs to send it on.
pub(crate) struct Outgoing {
    pub event: Event,
    /// The payload as it will go to a broker (`None` on the embedded bus, which needs none).
    pub payload: Option<Vec<u8>>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum PublishError {
    #[error("the bus is not connected: nothing was published; retry")]
    BusDown,
    #[error("the broker refused the batch; retry")]
    Refused,
    #[error("the broker failed the batch ({0}); retry")]
    Broker(String),
}

impl PublishError {
    fn broker(error: lapin::Error) -> Self {
        Self::Broker(error.to_string())
    }
}

impl Bus {
    pub(crate) fn embedded(fabric: Arc<Fabric>) -> Self {
        Bus::Embedded(EmbeddedBus { fabric })
    }

    /// Connects to RabbitMQ in the background: the node serves while the broker is away.
    pub(crate) fn amqp(
        url: Url,
        node_name: String,
        fabric: Arc<Fabric>,
        supervisor: ActorRef<SupervisorMsg>,
    ) -> Self {
        Bus::Amqp(AmqpBus::start(url, node_name, fabric, supervisor))
    }

    /// Validates one bus message for publishing, keeping what this bus will send.
    pub(crate) fn prepare(&self, message: BusMessage) -> Result<Outgoing, EventError> {
        let payload = match self {
            Bus::Embedded(_) => None,
            // A map of JSON values: it serialises.
            Bus::Amqp(_) => Some(serde_json::to_vec(&message.payload).unwrap_or_default()),
        };
        Ok(Outgoing {
            event: Event::from_bus(message)?,
            payload,
        })
    }

    /// Publishes a batch that was validated whole; answers how many were accepted.
    pub(crate) async fn publish(&self, batch: Vec<Outgoing>) -> Result<usize, PublishError> {
        match self {
            Bus::Embedded(bus) => Ok(bus.publish(&batch)),
            Bus::Amqp(bus) => bus.publish(&batch).await,
        }
    }

    /// Whether events can flow (`/readyz`).
    pub(crate) fn is_ready(&self) -> bool {
        match self {
            Bus::Embedded(_) => true,
            Bus::Amqp(bus) => bus.is_connected(),
        }
    }

    /// The other nodes, in cluster mode.
    pub(crate) fn cluster(&self) -> Option<&AmqpBus> {
        match self {
            Bus::Embedded(_) => None,
            Bus::Amqp(bus) => Some(bus),
        }
    }

    pub(crate) async fn shutdown(&self) {
        if let Bus::Amqp(bus) = self {
            bus.shutdown().await;
        }
    }
}

pub(crate) struct EmbeddedBus {
    fabric: Arc<Fabric>,
}

impl EmbeddedBus {
    fn publish(&self, batch: &[Outgoing]) -> usize {
        for outgoing in batch {
            self.fabric.router.publish(&outgoing.event);
        }
        batch.len()
    }
}
