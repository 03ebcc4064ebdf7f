//! Where events travel (SPEC 5, 8). A node alone uses the embedded bus: a published event goes
//! straight to this node's router. Cluster mode (RabbitMQ) will be another variant of [`Bus`].

use std::sync::Arc;

use switchyard_actors::event::Event;
use switchyard_actors::fabric::Fabric;

pub(crate) enum Bus {
    Embedded(EmbeddedBus),
}

impl Bus {
    pub(crate) fn embedded(fabric: Arc<Fabric>) -> Self {
        Bus::Embedded(EmbeddedBus { fabric })
    }

    /// Publishes a batch that was already validated whole; answers how many were accepted.
    pub(crate) async fn publish(&self, events: Vec<Event>) -> usize {
        match self {
            Bus::Embedded(bus) => bus.publish(&events),
        }
    }

    /// Whether events can flow (`/readyz`).
    pub(crate) fn is_ready(&self) -> bool {
        match self {
            Bus::Embedded(_) => true,
        }
    }
}

pub(crate) struct EmbeddedBus {
    fabric: Arc<Fabric>,
}

impl EmbeddedBus {
    fn publish(&self, events: &[Event]) -> usize {
        for event in events {
            self.fabric.router.publish(event);
        }
        events.len()
    }
}
