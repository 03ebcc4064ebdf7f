//! Publishes stamped events through `POST /v2/events` at a steady rate, in batches, cycling over
//! the run's accounts and, for each account, over its bindings.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;
use switchyard_actors::account::AccountId;
use tokio::time::{Instant, MissedTickBehavior};

use super::client::unix_micros;
use super::events::{Stamp, Template};
use super::rest_client::{RestClient, RestError, RestTarget};

pub(crate) struct Publisher {
    rest: RestClient,
    token: String,
    accounts: Vec<AccountId>,
    templates: Vec<Template>,
    padding: String,
    batch: u32,
    next_seq: u64,
    /// Events published so far, for the progress display.
    pub(crate) published: Arc<AtomicU64>,
}

/// What a publishing phase did.
#[derive(Debug, Clone, Default)]
pub(crate) struct Published {
    pub(crate) per_account: Vec<u64>,
    pub(crate) events: u64,
    pub(crate) batches: u64,
    pub(crate) elapsed: Duration,
    /// Why publishing stopped early, if it did.
    pub(crate) error: Option<RestError>,
}

impl Publisher {
    pub(crate) fn new(
        target: RestTarget,
        token: String,
        accounts: Vec<AccountId>,
        templates: Vec<Template>,
        padding: String,
        batch: u32,
    ) -> Publisher {
        Publisher {
            rest: RestClient::new(target),
            token,
            accounts,
            templates,
            padding,
            batch,
            next_seq: 0,
            published: Arc::new(AtomicU64::new(0)),
        }
    }

    /// An empty batch: the node checks the token (and that it may publish) and accepts nothing.
    pub(crate) async fn check(&mut self) -> Result<(), RestError> {
        self.rest
            .publish(&self.token, Bytes::from_static(b"[]"))
            .await
            .map(drop)
    }

    /// Publishes `rate` events per second for `duration`. A batch that cannot keep its slot is
    /// skipped, not sent late in a burst: the achieved rate is what the figures then show.
    pub(crate) async fn run(mut self, rate: u32, duration: Duration) -> Published {
        let period = Duration::from_secs_f64(f64::from(self.batch) / f64::from(rate.max(1)));
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
            let (body, per_account) = self.next_batch();
            match self.rest.publish(&self.token, body).await {
                Ok(accepted) if accepted == u64::from(self.batch) => {
                    for (total, more) in outcome.per_account.iter_mut().zip(per_account) {
                        *total += more;
                    }
                    outcome.events += accepted;
                    outcome.batches += 1;
                    self.published.fetch_add(accepted, Relaxed);
                }
                Ok(accepted) => {
                    outcome.error = Some(RestError::Failed {
                        method: hyper::Method::POST,
                        path: "/v2/events".into(),
                        reason: format!("{accepted} of a batch of {} accepted", self.batch),
                    });
                    break;
                }
                Err(error) => {
                    outcome.error = Some(error);
                    break;
                }
            }
        }
        outcome.elapsed = started.elapsed();
        outcome
    }

    /// The next batch's body, and how many of its events are for each account.
    fn next_batch(&mut self) -> (Bytes, Vec<u64>) {
        let mut per_account = vec![0; self.accounts.len()];
        let sent_us = unix_micros();
        let messages: Vec<Value> = (0..self.batch)
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
                self.templates[binding].bus_message(&self.accounts[account], stamp, &self.padding)
            })
            .collect();
        let body = serde_json::to_vec(&messages).expect("JSON values serialise");
        (Bytes::from(body), per_account)
    }
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
        let mut publisher = Publisher::new(target, "t".into(), accounts, templates, "".into(), 5);
        let (body, per_account) = publisher.next_batch();
        assert_eq!(per_account, [3, 2]);
        let messages: Vec<Value> = serde_json::from_slice(&body).unwrap();
        let seen: Vec<(u64, u64, &str)> = messages
            .iter()
            .map(|m| {
                let payload = &m["payload"];
                let binding = payload["Loadgen-Binding"].as_u64().unwrap();
                (
                    payload["Loadgen-Seq"].as_u64().unwrap(),
                    binding,
                    m["exchange"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                (0, 0, "callevt"),
                (1, 0, "callevt"),
                (2, 1, "faxes"),
                (3, 1, "faxes"),
                (4, 0, "callevt")
            ]
        );
        let (_, per_account) = publisher.next_batch();
        assert_eq!(per_account, [2, 3]);
    }
}
