//! Publishes stamped events at a steady rate, in batches, cycling over the run's accounts and,
//! for each account, over its bindings: through `POST /v2/events`, or straight to RabbitMQ
//! ([`super::amqp`]).
//!
//! Through REST, up to `--publish-concurrency` POSTs are in flight at once, each on a kept-alive
//! connection of its own (one [`RestClient`] per in-flight slot). Events are still stamped here,
//! in order, one batch per tick; only the sending overlaps. Two events for one socket may then
//! reach the node out of stamp order: the subscribers' count tolerates that
//! ([`super::tally::SeqWindow`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;
use switchyard_actors::account::AccountId;
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};

use super::amqp::AmqpPublisher;
use super::client::unix_micros;
use super::events::{Message, Stamp, Template};
use super::rest_client::{RestClient, RestError, RestTarget};

/// Where events go.
pub(crate) enum Sink {
    /// `POST /v2/events` with a superduper account's token, on one client (one connection) per
    /// request in flight.
    Rest {
        rests: Vec<RestClient>,
        token: Arc<str>,
    },
    /// RabbitMQ, connected, exchanges declared, confirms on.
    Amqp(Box<AmqpPublisher>),
}

impl Sink {
    /// REST publishing with up to `concurrency` (at least 1) requests in flight.
    pub(crate) fn rest(target: RestTarget, token: String, concurrency: usize) -> Sink {
        Sink::Rest {
            rests: (0..concurrency.max(1))
                .map(|_| RestClient::new(target.clone()))
                .collect(),
            token: token.into(),
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
    /// nothing; the other in-flight slots' connections are opened too. RabbitMQ: nothing more to
    /// check once connected.
    pub(crate) async fn check(&mut self) -> Result<(), RestError> {
        match &mut self.sink {
            Sink::Rest { rests, token } => {
                let (first, others) = rests.split_first_mut().expect("at least one client");
                first.publish(token, Bytes::from_static(b"[]")).await?;
                for rest in others {
                    rest.open().await?;
                }
                Ok(())
            }
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
        let mut in_flight = InFlight::default();
        loop {
            // REST: a free slot first, then the tick, as one request at a time always did: a
            // tick missed while every slot is busy is skipped, not sent late in a burst.
            let rest = match &mut self.sink {
                Sink::Rest { rests, token } => {
                    // Answers already in count now (the progress display), and free their slots.
                    if !in_flight.reap(&mut outcome, &self.published, rests) {
                        break;
                    }
                    let free = match rests.pop() {
                        Some(free) => Some(free),
                        None => in_flight.next_free(&mut outcome, &self.published).await,
                    };
                    match free {
                        Some(free) => Some((free, token.clone())),
                        // A request failed: send no more.
                        None => break,
                    }
                }
                Sink::Amqp(_) => None,
            };
            ticks.tick().await;
            if Instant::now() >= deadline {
                break;
            }
            let (messages, per_account) = self.next_batch();
            let sent = match (&mut self.sink, rest) {
                (Sink::Rest { .. }, Some((rest, token))) => {
                    in_flight.send(rest, token, messages, per_account);
                    Ok(())
                }
                (Sink::Amqp(amqp), _) => {
                    let mut sent = Ok(());
                    for (account, message) in &messages {
                        if let Err(error) = amqp.publish(*account, message).await {
                            sent = Err(PublishError::Amqp(error));
                            break;
                        }
                    }
                    if sent.is_ok() {
                        outcome.batches += 1;
                    }
                    sent
                }
                (Sink::Rest { .. }, None) => unreachable!("a REST sink always gets a client"),
            };
            if let Err(error) = sent {
                outcome.error = Some(error);
                break;
            }
        }
        // What is still in flight counts, whether or not publishing stopped early.
        in_flight.finish(&mut outcome, &self.published).await;
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

/// What one `POST /v2/events` brought back: its client, to send the next, and how many of its
/// events were accepted for each account (or why it failed).
type Answer = (RestClient, Result<Vec<u64>, PublishError>);

/// The REST requests in flight, each with the client (connection) it owns.
#[derive(Default)]
struct InFlight {
    requests: JoinSet<Answer>,
}

impl InFlight {
    /// Sends one batch on `rest`, in the background.
    fn send(
        &mut self,
        mut rest: RestClient,
        token: Arc<str>,
        messages: Vec<(usize, Message)>,
        per_account: Vec<u64>,
    ) {
        self.requests.spawn(async move {
            let sent = rest_batch(&mut rest, &token, messages, per_account).await;
            (rest, sent)
        });
    }

    /// Counts in the requests that have ended, without waiting; their clients go back to `free`.
    /// False when one failed (the error is in `outcome`): publishing stops.
    fn reap(
        &mut self,
        outcome: &mut Published,
        published: &AtomicU64,
        free: &mut Vec<RestClient>,
    ) -> bool {
        while let Some(answer) = self.requests.try_join_next() {
            let (rest, sent) = answer.expect("a publish task does not panic");
            if !count_answer(sent, outcome, published) {
                return false;
            }
            free.push(rest);
        }
        true
    }

    /// Waits for a request to end and counts it in; its client is free again. None when it
    /// failed (the error is in `outcome`): publishing stops.
    async fn next_free(
        &mut self,
        outcome: &mut Published,
        published: &AtomicU64,
    ) -> Option<RestClient> {
        let answer = self.requests.join_next().await?;
        let (rest, sent) = answer.expect("a publish task does not panic");
        count_answer(sent, outcome, published).then_some(rest)
    }

    /// Waits for every request still in flight and counts each in.
    async fn finish(&mut self, outcome: &mut Published, published: &AtomicU64) {
        while let Some(answer) = self.requests.join_next().await {
            let (_, sent) = answer.expect("a publish task does not panic");
            count_answer(sent, outcome, published);
        }
    }
}

/// Counts one request's answer into `outcome`: its events when the node accepted all of them,
/// else its error (the first one stays). Whether it was accepted.
fn count_answer(
    sent: Result<Vec<u64>, PublishError>,
    outcome: &mut Published,
    published: &AtomicU64,
) -> bool {
    match sent {
        Ok(per_account) => {
            let accepted: u64 = per_account.iter().sum();
            for (total, more) in outcome.per_account.iter_mut().zip(per_account) {
                *total += more;
            }
            outcome.events += accepted;
            outcome.batches += 1;
            published.fetch_add(accepted, Relaxed);
            true
        }
        Err(error) => {
            outcome.error.get_or_insert(error);
            false
        }
    }
}

/// One `POST /v2/events` of `messages`; `per_account` back when the node accepts all of it.
async fn rest_batch(
    rest: &mut RestClient,
    token: &str,
    messages: Vec<(usize, Message)>,
    per_account: Vec<u64>,
) -> Result<Vec<u64>, PublishError> {
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
    Ok(per_account)
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
        let target =
            RestTarget::parse("http://127.0.0.1:1", &crate::tls::Trust::new(None).unwrap())
                .unwrap();
        let sink = Sink::rest(target, "t".into(), 1);
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

    /// A stand-in for the node's `POST /v2/events`: accepts every batch, and notes each event's
    /// seq and the connection it came on. The first request of each connection is answered only
    /// once `in_flight` connections each have one waiting: the publisher must keep that many in
    /// flight, or the test hangs. From request `fail_at` on (counted over all connections), it
    /// answers 500.
    async fn fake_node(
        in_flight: usize,
        fail_at: Option<usize>,
    ) -> (RestTarget, Arc<parking_lot::Mutex<Vec<(usize, u64)>>>) {
        use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = RestTarget::parse(
            &format!("http://{}", listener.local_addr().unwrap()),
            &crate::tls::Trust::new(None).unwrap(),
        );
        let seen = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let barrier = Arc::new(tokio::sync::Barrier::new(in_flight));
        let requests = Arc::new(AtomicU64::new(0));
        let noted = seen.clone();
        tokio::spawn(async move {
            for connection in 0.. {
                let (stream, _) = listener.accept().await.unwrap();
                let (seen, barrier, requests) = (noted.clone(), barrier.clone(), requests.clone());
                tokio::spawn(async move {
                    let mut stream = BufReader::new(stream);
                    let mut first = true;
                    loop {
                        let mut length = 0;
                        loop {
                            let mut line = String::new();
                            if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                                return;
                            }
                            if let Some(value) =
                                line.to_ascii_lowercase().strip_prefix("content-length:")
                            {
                                length = value.trim().parse().unwrap();
                            }
                            if line == "\r\n" {
                                break;
                            }
                        }
                        let mut body = vec![0; length];
                        stream.read_exact(&mut body).await.unwrap();
                        let events: Vec<Value> = serde_json::from_slice(&body).unwrap();
                        if first && !events.is_empty() {
                            first = false;
                            barrier.wait().await;
                        }
                        let request = requests.fetch_add(1, Relaxed) as usize;
                        let answer = if fail_at.is_some_and(|at| request >= at) {
                            "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 2\r\n\r\n{}"
                                .to_string()
                        } else {
                            seen.lock().extend(events.iter().map(|e| {
                                (connection, e["payload"]["Loadgen-Seq"].as_u64().unwrap())
                            }));
                            let body = format!(r#"{{"data":{{"accepted":{}}}}}"#, events.len());
                            format!(
                                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                                body.len()
                            )
                        };
                        stream.get_mut().write_all(answer.as_bytes()).await.unwrap();
                    }
                });
            }
        });
        (target.unwrap(), seen)
    }

    fn publisher(target: RestTarget, concurrency: usize, batch: u32) -> Publisher {
        let accounts = vec![
            AccountId::parse("00000000000000000000000000000001").unwrap(),
            AccountId::parse("00000000000000000000000000000002").unwrap(),
            AccountId::parse("00000000000000000000000000000003").unwrap(),
        ];
        let templates = vec![Template::for_binding("call.*.*").unwrap()];
        let sink = Sink::rest(target, "t".into(), concurrency);
        let counter = Arc::new(AtomicU64::new(0));
        Publisher::new(sink, counter, accounts, templates, "".into(), batch)
    }

    #[tokio::test]
    async fn several_in_flight_each_on_its_own_connection_count_every_accepted_event() {
        let (target, seen) = fake_node(4, None).await;
        let mut publisher = publisher(target, 4, 2);
        publisher.check().await.unwrap();
        let counter = publisher.published.clone();
        let run = publisher.run(100_000.0, Duration::from_millis(300));
        let outcome = tokio::time::timeout(Duration::from_secs(20), run)
            .await
            .expect("four requests in flight at once");
        assert!(outcome.error.is_none(), "{:?}", outcome.error);
        let seen = seen.lock().clone();
        // Every stamped event was sent once and counted once, whatever order they came in.
        let mut seqs: Vec<u64> = seen.iter().map(|(_, seq)| *seq).collect();
        seqs.sort_unstable();
        assert_eq!(seqs, (0..outcome.events).collect::<Vec<_>>());
        assert!(outcome.events >= 8);
        assert_eq!(outcome.batches * 2, outcome.events);
        assert_eq!(counter.load(Relaxed), outcome.events);
        assert_eq!(outcome.per_account.iter().sum::<u64>(), outcome.events);
        for (account, owed) in outcome.per_account.iter().enumerate() {
            let events = seqs
                .iter()
                .filter(|seq| **seq % 3 == account as u64)
                .count();
            assert_eq!(*owed, events as u64);
        }
        // Four connections (the check's among them), each one's events in stamp order.
        let mut connections: Vec<usize> = seen.iter().map(|(c, _)| *c).collect();
        connections.sort_unstable();
        connections.dedup();
        assert_eq!(connections, [0, 1, 2, 3]);
        for connection in connections {
            let own: Vec<u64> = seen
                .iter()
                .filter(|(c, _)| *c == connection)
                .map(|(_, s)| *s)
                .collect();
            assert!(own.is_sorted(), "{own:?}");
        }
    }

    #[tokio::test]
    async fn a_failed_request_stops_publishing_and_counts_only_what_was_accepted() {
        // The check is request 0; requests 1 to 5 are accepted, then every one fails.
        let (target, seen) = fake_node(2, Some(6)).await;
        let mut publisher = publisher(target, 2, 1);
        publisher.check().await.unwrap();
        let counter = publisher.published.clone();
        let outcome = publisher.run(100_000.0, Duration::from_secs(60)).await;
        let error = outcome.error.expect("the 500 stops it").to_string();
        assert!(error.contains("HTTP 500"), "{error}");
        assert_eq!(outcome.events, 5);
        assert_eq!(outcome.batches, 5);
        assert_eq!(counter.load(Relaxed), 5);
        assert_eq!(seen.lock().len(), 5);
        assert_eq!(outcome.per_account.iter().sum::<u64>(), 5);
    }
}
