//! Publishing straight to RabbitMQ, as KAZOO's publishers do (`--publish-via amqp://…`): each
//! event to its KAZOO exchange with KAZOO's incoming routing key, the payload as a JSON body of
//! content type `application/json`. Publisher confirms are on, and many publishes are in flight:
//! [`AmqpPublisher::publish`] hands each publish's confirm to a collector task and returns at
//! once; the collector counts acks (per account, for the deliveries owed) and failures.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions};
use lapin::types::FieldTable;
use lapin::uri::AMQPUri;
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind,
    PublisherConfirm,
};
use parking_lot::Mutex;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use url::{Host, Url};

use super::events::Message;

/// Publishes sent whose confirm has not arrived yet, at most: beyond it, publishing waits.
pub(crate) const MAX_IN_FLIGHT: usize = 10_000;
/// After the last publish, how long the broker gets to confirm what is still in flight.
const CONFIRM_PATIENCE: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where to publish: an `amqp://` URL (user, password, host, port, vhost as lapin reads them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AmqpTarget {
    uri: AMQPUri,
    /// The URL with its password hidden: what errors and the report show.
    pub(crate) shown: String,
}

impl AmqpTarget {
    /// `raw` checked: an `amqp://` URL with a host that lapin can read. Errors never show a
    /// password.
    pub(crate) fn parse(raw: &str) -> Result<AmqpTarget, String> {
        let what = "\"rest\" or an amqp:// URL";
        let url = Url::parse(raw).map_err(|e| {
            if raw.contains('@') {
                format!("not {what}: {e}")
            } else {
                format!("{raw:?} is not {what}: {e}")
            }
        })?;
        let shown = redacted(&url);
        match url.scheme() {
            "amqp" => {}
            "amqps" => {
                return Err(format!(
                    "{shown:?}: amqps:// is not supported (the load generator does not speak \
                     TLS); use amqp://"
                ));
            }
            _ => return Err(format!("{shown:?} is not {what}")),
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(format!("{shown:?} names no host"));
        }
        let mut uri = raw
            .parse::<AMQPUri>()
            .map_err(|e| format!("{shown:?} is not {what}: {e}"))?;
        // lapin reads the host with `Url::domain`, empty for an IP address, and then connects
        // to `localhost`: the host is taken from the URL instead (as the node does).
        uri.authority.host = match url.host() {
            Some(Host::Ipv4(ip)) => ip.to_string(),
            Some(Host::Ipv6(ip)) => ip.to_string(),
            Some(Host::Domain(domain)) => domain.to_string(),
            None => return Err(format!("{shown:?} names no host")),
        };
        Ok(AmqpTarget { uri, shown })
    }
}

/// `url` with its password, if any, replaced by `***`.
fn redacted(url: &Url) -> String {
    let mut shown = url.clone();
    if shown.password().is_some() {
        let _ = shown.set_password(Some("***"));
    }
    shown.to_string()
}

/// What the broker confirmed.
#[derive(Debug, Clone, Default)]
pub(crate) struct Confirmed {
    /// Acked publishes per account (index into the run's accounts).
    pub(crate) per_account: Vec<u64>,
    pub(crate) acked: u64,
    pub(crate) failed: u64,
    /// Failed publishes by reason: a nack, a confirm that errored, or none in time.
    pub(crate) failures: BTreeMap<String, u64>,
}

impl Confirmed {
    fn fail(&mut self, reason: String) {
        self.failed += 1;
        *self.failures.entry(reason).or_default() += 1;
    }
}

pub(crate) struct AmqpPublisher {
    connection: Connection,
    channel: Channel,
    properties: BasicProperties,
    /// To the collector: each publish's account and its confirm.
    in_flight: mpsc::Sender<(usize, PublisherConfirm)>,
    collector: JoinHandle<()>,
    confirmed: Arc<Mutex<Confirmed>>,
    sent: u64,
}

impl AmqpPublisher {
    /// Connects, declares `exchanges` as KAZOO does when absent and turns publisher confirms
    /// on. `acked` counts acks as they arrive (the progress display).
    pub(crate) async fn connect(
        target: &AmqpTarget,
        exchanges: &[&'static str],
        accounts: usize,
        acked: Arc<AtomicU64>,
    ) -> Result<AmqpPublisher, String> {
        let properties =
            ConnectionProperties::default().with_connection_name("switchyard-loadgen".into());
        let connection = tokio::time::timeout(
            CONNECT_TIMEOUT,
            Connection::connect_uri(target.uri.clone(), properties),
        )
        .await
        .map_err(|_| format!("no connection within {CONNECT_TIMEOUT:?}"))?
        .map_err(|e| e.to_string())?;
        let mut channel = connection
            .create_channel()
            .await
            .map_err(|e| e.to_string())?;
        for exchange in exchanges {
            channel = declare(&connection, channel, exchange).await?;
        }
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| format!("confirm.select: {e}"))?;
        let confirmed = Arc::new(Mutex::new(Confirmed {
            per_account: vec![0; accounts],
            ..Confirmed::default()
        }));
        let (in_flight, confirms) = mpsc::channel(MAX_IN_FLIGHT);
        let collector = tokio::spawn(collect(confirms, confirmed.clone(), acked));
        Ok(AmqpPublisher {
            connection,
            channel,
            properties: BasicProperties::default().with_content_type("application/json".into()),
            in_flight,
            collector,
            confirmed,
            sent: 0,
        })
    }

    /// Sends one event for account `account` and hands its confirm to the collector, without
    /// waiting for it (only for room when [`MAX_IN_FLIGHT`] are in flight). An error means the
    /// channel or connection is gone.
    pub(crate) async fn publish(
        &mut self,
        account: usize,
        message: &Message,
    ) -> Result<(), String> {
        let body = serde_json::to_vec(&message.payload).expect("JSON values serialise");
        let confirm = self
            .channel
            .basic_publish(
                message.exchange.into(),
                message.routing_key.as_str().into(),
                BasicPublishOptions::default(),
                &body,
                self.properties.clone(),
            )
            .await
            .map_err(|e| format!("basic.publish to {}: {e}", message.exchange))?;
        self.sent += 1;
        self.in_flight
            .send((account, confirm))
            .await
            .map_err(|_| "the confirm collector stopped".to_string())
    }

    /// Waits (a while) for the confirms still in flight, closes the connection and says what
    /// was confirmed; publishes never confirmed count as failed.
    pub(crate) async fn finish(self) -> Confirmed {
        let AmqpPublisher {
            connection,
            in_flight,
            mut collector,
            confirmed,
            sent,
            ..
        } = self;
        drop(in_flight);
        if tokio::time::timeout(CONFIRM_PATIENCE, &mut collector)
            .await
            .is_err()
        {
            collector.abort();
        }
        let _ = connection.close(200, "OK".into()).await;
        let mut confirmed = confirmed.lock().clone();
        let unconfirmed = sent.saturating_sub(confirmed.acked + confirmed.failed);
        if unconfirmed > 0 {
            confirmed.failed += unconfirmed;
            *confirmed
                .failures
                .entry(format!("no confirm within {CONFIRM_PATIENCE:?}"))
                .or_default() += unconfirmed;
        }
        confirmed
    }
}

/// Declares `exchange` as KAZOO does: a passive declare first (it may exist with other
/// properties), and when it is absent (the broker then closes the channel) a topic exchange,
/// not durable, not auto-deleted, on a new channel. The channel to go on with.
async fn declare(
    connection: &Connection,
    channel: Channel,
    exchange: &str,
) -> Result<Channel, String> {
    let passive = ExchangeDeclareOptions {
        passive: true,
        ..ExchangeDeclareOptions::default()
    };
    let topic = ExchangeKind::Topic;
    if channel
        .exchange_declare(
            exchange.into(),
            topic.clone(),
            passive,
            FieldTable::default(),
        )
        .await
        .is_ok()
    {
        return Ok(channel);
    }
    let channel = connection
        .create_channel()
        .await
        .map_err(|e| e.to_string())?;
    let kazoo = ExchangeDeclareOptions {
        durable: false,
        auto_delete: false,
        ..ExchangeDeclareOptions::default()
    };
    channel
        .exchange_declare(exchange.into(), topic, kazoo, FieldTable::default())
        .await
        .map_err(|e| format!("cannot declare exchange {exchange}: {e}"))?;
    Ok(channel)
}

/// Awaits each confirm in turn (they all are in flight meanwhile) and counts it.
async fn collect(
    mut confirms: mpsc::Receiver<(usize, PublisherConfirm)>,
    confirmed: Arc<Mutex<Confirmed>>,
    acked: Arc<AtomicU64>,
) {
    while let Some((account, confirm)) = confirms.recv().await {
        let outcome = confirm.await;
        let mut confirmed = confirmed.lock();
        match outcome {
            Ok(Confirmation::Ack(None)) => {
                confirmed.acked += 1;
                confirmed.per_account[account] += 1;
                acked.fetch_add(1, Relaxed);
            }
            Ok(Confirmation::Ack(Some(returned))) => {
                confirmed.fail(format!("returned: {}", returned.reply_text))
            }
            Ok(Confirmation::Nack(_)) => confirmed.fail("nacked by the broker".into()),
            Ok(Confirmation::NotRequested) => confirmed.fail("not confirmed".into()),
            Err(error) => confirmed.fail(format!("confirm: {error}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_amqp_urls_and_hides_their_password() {
        let target = AmqpTarget::parse("amqp://guest:secret@127.0.0.1:5672/%2f").unwrap();
        assert_eq!(target.shown, "amqp://guest:***@127.0.0.1:5672/%2f");
        assert_eq!(
            target.uri.authority.host, "127.0.0.1",
            "not lapin's localhost"
        );
        assert_eq!(target.uri.authority.userinfo.password, "secret");
        assert_eq!(target.uri.vhost, "/");
        let plain = AmqpTarget::parse("amqp://rabbit.example/vh").unwrap();
        assert_eq!(plain.shown, "amqp://rabbit.example/vh");
    }

    #[test]
    fn refuses_other_schemes_without_showing_the_password() {
        let error = |raw| AmqpTarget::parse(raw).unwrap_err();
        assert_eq!(
            error("http://u:pw@127.0.0.1:5672/"),
            "\"http://u:***@127.0.0.1:5672/\" is not \"rest\" or an amqp:// URL"
        );
        assert!(error("amqps://u:pw@h/").contains("amqps:// is not supported"));
        assert!(!error("amqps://u:pw@h/").contains("pw"));
        assert!(error("rabbit:5672").contains("is not \"rest\" or an amqp:// URL"));
        assert!(error("not a url").starts_with("\"not a url\" is not \"rest\" or an amqp://"));
        // Unparsable with credentials in it: the value is not echoed.
        let hidden = error("amqp://u:pw@[zz]/");
        assert!(!hidden.contains("pw"), "{hidden}");
        assert!(error("amqp:///vh").contains("names no host"));
    }
}
