//! Publishes stamped events at a steady rate, in batches, cycling over the run's accounts and,
//! for each account, over its bindings: through `POST /v2/events`, or straight to RabbitMQ
//! ([`super::amqp`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;
use switchyard_actors::account::AccountId;
use tokio::time::{Instant, MissedTickBehavior};

use super::amqp::AmqpPublisher;
use super::client::unix_micros;
use super::events::{Message, Stamp, Template};
use super::rest_client::{RestClient, RestError, RestTarget};

/// Where events go.
pub(crate) enum Sink {
    /// `POST /v2/events` with a superduper account's token.
    Rest { rest: RestClient, token: String },
    /// RabbitMQ, connected, exchanges declared, confirms on.
    Amqp(Box<AmqpPublisher>),
}

impl Sink {
    pub(crate) fn rest(target: RestTarget, token: String) -> Sink {
        Sink::Rest {
            rest: RestClient::new(target),
            token,
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum PublishError {
    #[error(transparent)]
    Rest(#[from] RestError),
    #[error("RabbitMQ: {0}")]
    Amqp(String),
}

pub(crate) struct Publisher {
    sink: Sink,
    accounts: Vec<AccountId>,
    templates: Vec<Template>,
    padding: String,
    batch: u32,
    next_seq: u64,
    /// Events published so far (through RabbitMQ: confirmed), for the progress display.
    pub(crate) published: Arc<AtomicU64>,
}

/// What a publishing phase did.
#[derive(Debug, Clone, Default)]
pub(crate) struct Published {
    /// Events accepted (REST) or confirmed (RabbitMQ) per account: what subscribers are owed.
    pub(crate) per_account: Vec<u64>,
    pub(crate) events: u64,
    pub(crate) batches: u64,
    pub(crate) elapsed: Duration,
    /// RabbitMQ: publishes nacked, failed or never confirmed, and why.
    pub(crate) failed: u64,
    pub(crate) failures: BTreeMap<String, u64>,
    /// Why publishing stopped early, if it did.
    pub(crate) error: Option<PublishError>,
}

impl Publisher {
    /// A publisher into `sink`; `published` is the counter the sink's confirms (if any) add to.
    pub(crate) fn new(
        sink: Sink,
        published: Arc<AtomicU64>,
        accounts: Vec<AccountId>,
        templates: Vec<Template>,
        padding: String,
        batch: u32,
    ) -> Publisher {
        Publisher {
            sink,
            accounts,
            templates,
            padding,
            batch,
            next_seq: 0,
            published,
        }
    }

    /// REST: an empty batch: the node checks the token (and that it may publish) and accepts
    /// nothing. RabbitMQ: nothing more to check once connected.
    pub(crate) async fn check(&mut self) -> Result<(), RestError> {
        match &mut self.sink {
            Sink::Rest { rest, token } => rest
                .publish(token, Bytes::from_static(b"[]"))
                .await
                .map(drop),
            Sink::Amqp(_) => Ok(()),
        }
    }

    /// Publishes `rate` events per second for `duration`. A batch that cannot keep its slot is
    /// skipped, not sent late in a burst: the achieved rate is what the figures then show.
    pub(crate) async fn run(mut self, rate: f64, duration: Duration) -> Published {
        // A period rounded to nothing would be no pace at all (and tokio refuses it).
        let period =
            Duration::from_secs_f64(f64::from(self.batch) / rate).max(Duration::from_micros(1));
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let mut outcome = Published {
            per_account: vec![0; self.accounts.len()],
            ..Published::default()
        };
        let started = Instant::now();
        let deadline = started + duration;
        loop {
            ticks.tick().await;
            if Instant::now() >= deadline {
                break;
            }
            let (messages, per_account) = self.next_batch();
            let sent = match &mut self.sink {
                Sink::Rest { rest, token } => {
                    rest_batch(
                        rest,
                        token,
                        messages,
                        per_account,
                        &mut outcome,
                        &self.published,
                    )
                    .await
                }
                Sink::Amqp(amqp) => {
                    let mut sent = Ok(());
                    for (account, message) in &messages {
                        if let Err(error) = amqp.publish(*account, message).await {
                            sent = Err(PublishError::Amqp(error));
                            break;
                        }
                    }
                    sent
                }
            };
            match sent {
                Ok(()) => outcome.batches += 1,
                Err(error) => {
                    outcome.error = Some(error);
                    break;
                }
            }
        }
        // What the broker confirmed is what was published.
        if let Sink::Amqp(amqp) = self.sink {
            let confirmed = (*amqp).finish().await;
            outcome.per_account = confirmed.per_account;
            outcome.events = confirmed.acked;
            outcome.failed = confirmed.failed;
            outcome.failures = confirmed.failures;
        }
        outcome.elapsed = started.elapsed();
        outcome
    }

    /// The next batch: each event with the index of its account, and how many of its events
    /// are for each account.
    fn next_batch(&mut self) -> (Vec<(usize, Message)>, Vec<u64>) {
        let mut per_account = vec![0; self.accounts.len()];
        // One stamp time for the batch: it leaves at once.
        let sent_us = unix_micros();
        let messages = (0..self.batch)
            .map(|_| {
                let seq = self.next_seq;
                self.next_seq += 1;
                let accounts = self.accounts.len() as u64;
                let account = (seq % accounts) as usize;
                let binding = ((seq / accounts) % self.templates.len() as u64) as usize;
                per_account[account] += 1;
                let stamp = Stamp {
                    seq,
                    binding,
                    sent_us,
                };
                let message =
                    self.templates[binding].message(&self.accounts[account], stamp, &self.padding);
                (account, message)
            })
            .collect();
        (messages, per_account)
    }
}

/// One `POST /v2/events` of `messages`, counted into `outcome` when the node accepts all of it.
async fn rest_batch(
    rest: &mut RestClient,
    token: &str,
    messages: Vec<(usize, Message)>,
    per_account: Vec<u64>,
    outcome: &mut Published,
    published: &AtomicU64,
) -> Result<(), PublishError> {
    let batch = messages.len() as u64;
    let body: Vec<Value> = messages
        .into_iter()
        .map(|(_, message)| message.into_bus_json())
        .collect();
    let body = Bytes::from(serde_json::to_vec(&body).expect("JSON values serialise"));
    let accepted = rest.publish(token, body).await?;
    if accepted != batch {
        return Err(PublishError::Rest(RestError::Failed {
            method: hyper::Method::POST,
            path: "/v2/events".into(),
            reason: format!("{accepted} of a batch of {batch} accepted"),
        }));
    }
    for (total, more) in outcome.per_account.iter_mut().zip(per_account) {
        *total += more;
    }
    outcome.events += accepted;
    published.fetch_add(accepted, Relaxed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_cycle_accounts_then_bindings() {
        let accounts = vec![
            AccountId::parse("00000000000000000000000000000001").unwrap(),
            AccountId::parse("00000000000000000000000000000002").unwrap(),
        ];
        let templates = vec![
            Template::for_binding("call.*.*").unwrap(),
            Template::for_binding("fax.status.*").unwrap(),
        ];
        let target = RestTarget::parse("http://127.0.0.1:1").unwrap();
        let sink = Sink::rest(target, "t".into());
        let counter = Arc::new(AtomicU64::new(0));
        let mut publisher = Publisher::new(sink, counter, accounts, templates, "".into(), 5);
        let (messages, per_account) = publisher.next_batch();
        assert_eq!(per_account, [3, 2]);
        let seen: Vec<(usize, u64, u64, &str)> = messages
            .iter()
            .map(|(account, m)| {
                let binding = m.payload["Loadgen-Binding"].as_u64().unwrap();
                (
                    *account,
                    m.payload["Loadgen-Seq"].as_u64().unwrap(),
                    binding,
                    m.exchange,
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                (0, 0, 0, "callevt"),
                (1, 1, 0, "callevt"),
                (0, 2, 1, "faxes"),
                (1, 3, 1, "faxes"),
                (0, 4, 0, "callevt")
            ]
        );
        // One stamp time for the whole batch.
        let sent: Vec<&Value> = messages
            .iter()
            .map(|(_, m)| &m.payload["Loadgen-Sent-Us"])
            .collect();
        assert!(sent.iter().all(|s| *s == sent[0]));
        let (_, per_account) = publisher.next_batch();
        assert_eq!(per_account, [2, 3]);
    }
}
