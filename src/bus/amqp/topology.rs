//! What this node declares on the broker: the exchanges it consumes and talks on, and its own
//! queue. KAZOO declares the same exchanges with flags of its own, so each is first declared
//! passively (used as it is when it exists) and created only when absent.

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ExchangeKind};

use switchyard_actors::exchange::Exchange;

use crate::bus::messages::{NODES_EXCHANGE, QUERY_EXCHANGE, REPLY_EXCHANGE};

/// Every exchange a node uses, with the kind it gets when this node creates it.
fn exchanges() -> Vec<(&'static str, ExchangeKind)> {
    let mut all: Vec<_> = Exchange::ALL
        .iter()
        .map(|exchange| (exchange.name(), ExchangeKind::Topic))
        .collect();
    all.push((QUERY_EXCHANGE, ExchangeKind::Topic));
    all.push((REPLY_EXCHANGE, ExchangeKind::Direct));
    all.push((NODES_EXCHANGE, ExchangeKind::Fanout));
    all
}

pub(crate) async fn declare_exchanges(connection: &Connection) -> lapin::Result<()> {
    for (name, kind) in exchanges() {
        // A failed passive declare closes its channel: each check gets a channel of its own.
        let probe = connection.create_channel().await?;
        let passive = ExchangeDeclareOptions {
            passive: true,
            ..ExchangeDeclareOptions::default()
        };
        let exists = probe
            .exchange_declare(name.into(), kind.clone(), passive, FieldTable::default())
            .await
            .is_ok();
        if exists {
            let _ = probe.close(200, "checked".into()).await;
            continue;
        }
        let create = connection.create_channel().await?;
        create
            .exchange_declare(
                name.into(),
                kind,
                ExchangeDeclareOptions::default(),
                FieldTable::default(),
            )
            .await?;
        tracing::info!(exchange = name, "created an absent exchange");
        let _ = create.close(200, "declared".into()).await;
    }
    Ok(())
}

/// The node's queue: named by the broker, exclusive to this connection, gone with it.
pub(crate) async fn declare_queue(channel: &Channel) -> lapin::Result<String> {
    let queue = channel
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    Ok(queue.name().to_string())
}

pub(crate) async fn bind(
    channel: &Channel,
    queue: &str,
    exchange: &str,
    key: &str,
) -> lapin::Result<()> {
    channel
        .queue_bind(
            queue.into(),
            exchange.into(),
            key.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
}

pub(crate) async fn unbind(
    channel: &Channel,
    queue: &str,
    exchange: &str,
    key: &str,
) -> lapin::Result<()> {
    channel
        .queue_unbind(
            queue.into(),
            exchange.into(),
            key.into(),
            FieldTable::default(),
        )
        .await
}
