//! The rest scenario's queries: what operators' dashboards ask a node about its sockets (the whole
//! list of an account, one page of it, one socket), kept in flight on kept-alive connections of
//! their own while the node holds the run's sockets, each answer timed and checked.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use bytes::Bytes;
use hdrhistogram::Histogram;
use hyper::{Method, StatusCode};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use serde::de::IgnoredAny;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::args::RestQuery;
use super::rest_client::{RestClient, RestError, RestTarget, error_message};
use super::tally::{LATENCY_MAX_US, new_histogram};

/// Sockets per page query, as a dashboard pages through a long list.
pub(crate) const PAGE_SIZE: usize = 100;
/// After a request that got no answer at all (the node closed or is gone), a pause before the
/// next, so that a dead node costs the run failures, not a busy loop of reconnects.
const PAUSE_AFTER_TRANSPORT_ERROR: Duration = Duration::from_millis(100);

/// One account as the queries see it: its sockets (in the node's order, learned from a first
/// whole list) and how many the run holds.
#[derive(Debug, Clone)]
struct AccountSockets {
    account: String,
    token: String,
    ids: Vec<String>,
    held: u64,
}

/// What one query kind did over the phase.
#[derive(Debug, Clone)]
pub(crate) struct QueryStats {
    pub(crate) requests: u64,
    pub(crate) failed: u64,
    /// Failed requests by reason: an HTTP status, a transport error or a wrong answer.
    pub(crate) failures: BTreeMap<String, u64>,
    /// Request to whole answer, in microseconds.
    pub(crate) latency: Histogram<u64>,
}

impl QueryStats {
    fn new() -> QueryStats {
        QueryStats {
            requests: 0,
            failed: 0,
            failures: BTreeMap::new(),
            latency: new_histogram(),
        }
    }

    fn record(&mut self, took: Duration, outcome: Result<(), String>) {
        self.requests += 1;
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.latency
            .saturating_record(micros.clamp(1, LATENCY_MAX_US));
        if let Err(reason) = outcome {
            self.failed += 1;
            *self.failures.entry(reason).or_default() += 1;
        }
    }

    fn add(&mut self, other: &QueryStats) {
        self.requests += other.requests;
        self.failed += other.failed;
        for (reason, count) in &other.failures {
            *self.failures.entry(reason.clone()).or_default() += count;
        }
        self.latency
            .add(&other.latency)
            .expect("histograms of the same bounds add up");
    }
}

/// What the query phase did, per kind.
#[derive(Debug, Clone, Default)]
pub(crate) struct Queried {
    pub(crate) per_query: BTreeMap<RestQuery, QueryStats>,
    pub(crate) elapsed: Duration,
}

/// How hard the queries come: connections asking at once, and how often in all.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pace {
    pub(crate) concurrency: usize,
    /// Queries per second over all connections; 0: each asks again as soon as it is answered.
    pub(crate) rate: u32,
}

impl Pace {
    /// How often one connection asks, when paced.
    fn interval(self) -> Option<Duration> {
        (self.rate > 0).then(|| Duration::from_secs_f64(self.concurrency as f64 / self.rate as f64))
    }
}

/// The query phase, ready to run: every account's sockets known.
pub(crate) struct RestLoad {
    target: RestTarget,
    accounts: Arc<Vec<AccountSockets>>,
    queries: Vec<RestQuery>,
    pace: Pace,
    /// Requests answered so far, for the progress display.
    pub(crate) sent: Arc<AtomicU64>,
}

/// Why the query phase could not start.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum LearnError {
    #[error(transparent)]
    Rest(#[from] RestError),
    #[error("GET {path}: unreadable answer: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("the node lists no socket of account {0}: nothing to query")]
    NoSockets(String),
}

#[derive(Deserialize)]
struct Listing<'a> {
    #[serde(borrow)]
    data: Vec<Listed<'a>>,
}

#[derive(Deserialize)]
struct Listed<'a> {
    #[serde(borrow)]
    websocket_session_id: std::borrow::Cow<'a, str>,
}

/// Only the count of a whole list is checked: no need to read each socket of 5,000.
#[derive(Deserialize)]
struct Counted {
    data: Vec<IgnoredAny>,
}

#[derive(Deserialize)]
struct OneSocket<'a> {
    #[serde(borrow)]
    data: Listed<'a>,
}

fn list_path(account: &str) -> String {
    format!("/v2/accounts/{account}/websockets")
}

impl RestLoad {
    /// Lists each account's sockets once (with the account's own token), to learn the ids that
    /// pages and lookups ask for. `accounts`, `tokens` and `held` are index-aligned with the run's
    /// accounts; a single token serves every account.
    pub(crate) async fn learn(
        target: RestTarget,
        accounts: &[String],
        tokens: &[String],
        held: &[u64],
        queries: Vec<RestQuery>,
        pace: Pace,
    ) -> Result<RestLoad, LearnError> {
        let mut client = RestClient::new(target.clone());
        let mut known = Vec::with_capacity(accounts.len());
        for (index, account) in accounts.iter().enumerate() {
            let token = tokens[index % tokens.len()].clone();
            let path = list_path(account);
            let body = client
                .expect_success(Method::GET, &path, Some(&token), Bytes::new())
                .await?;
            let listing: Listing =
                serde_json::from_slice(&body).map_err(|e| LearnError::Unreadable {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
            if listing.data.is_empty() {
                return Err(LearnError::NoSockets(account.clone()));
            }
            known.push(AccountSockets {
                account: account.clone(),
                token,
                ids: listing
                    .data
                    .into_iter()
                    .map(|s| s.websocket_session_id.into_owned())
                    .collect(),
                held: held.get(index).copied().unwrap_or(0),
            });
        }
        Ok(RestLoad {
            target,
            accounts: Arc::new(known),
            queries,
            pace,
            sent: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Keeps the pace's queries in flight for `duration`, each connection asking in turn.
    pub(crate) async fn run(self, duration: Duration) -> Queried {
        let started = Instant::now();
        let deadline = started + duration;
        let mut tasks = JoinSet::new();
        for task in 0..self.pace.concurrency {
            let querier = Querier {
                client: RestClient::new(self.target.clone()),
                accounts: self.accounts.clone(),
                rng: StdRng::from_os_rng(),
                sent: self.sent.clone(),
            };
            // Each task starts at its own kind, so that the kinds stay evenly mixed at any
            // concurrency.
            let kinds: Vec<RestQuery> = (0..self.queries.len())
                .map(|k| self.queries[(task + k) % self.queries.len()])
                .collect();
            tasks.spawn(querier.run(kinds, self.pace.interval(), deadline));
        }
        let mut queried = Queried::default();
        while let Some(done) = tasks.join_next().await {
            let Ok(per_query) = done else { continue };
            for (kind, stats) in per_query {
                queried
                    .per_query
                    .entry(kind)
                    .or_insert_with(QueryStats::new)
                    .add(&stats);
            }
        }
        queried.elapsed = started.elapsed();
        queried
    }
}

/// One connection's worth of queries, one after the other.
struct Querier {
    client: RestClient,
    accounts: Arc<Vec<AccountSockets>>,
    rng: StdRng,
    sent: Arc<AtomicU64>,
}

/// A query as sent: its path, and what its answer must be.
struct Asked<'a> {
    path: String,
    token: &'a str,
    expect: Expect<'a>,
}

enum Expect<'a> {
    /// Every socket the run holds for the account.
    Count(u64),
    /// A page starting at `first`, of `size` sockets.
    Page { first: &'a str, size: usize },
    /// The socket `id`.
    Socket(&'a str),
}

impl Querier {
    async fn run(
        mut self,
        kinds: Vec<RestQuery>,
        interval: Option<Duration>,
        deadline: Instant,
    ) -> BTreeMap<RestQuery, QueryStats> {
        let mut stats: BTreeMap<RestQuery, QueryStats> = kinds
            .iter()
            .map(|kind| (*kind, QueryStats::new()))
            .collect();
        // Connect before the clock starts: the phase measures queries, not TCP handshakes.
        let _ = self.client.open().await;
        let mut pacing = interval.map(|every| {
            let mut pacing = tokio::time::interval(every);
            // A slow answer delays the next question; it does not bring a burst of them.
            pacing.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            pacing
        });
        for kind in kinds.iter().cycle() {
            if let Some(pacing) = &mut pacing {
                pacing.tick().await;
            }
            if Instant::now() >= deadline {
                break;
            }
            let accounts = self.accounts.clone();
            let account = &accounts[self.rng.random_range(0..accounts.len())];
            let asked = ask(*kind, account, &mut self.rng);
            let started = Instant::now();
            let answer = self
                .client
                .send(Method::GET, &asked.path, Some(asked.token), Bytes::new())
                .await;
            let took = started.elapsed();
            self.sent.fetch_add(1, Relaxed);
            let transport_failed = answer.is_err();
            let outcome = answer
                .map_err(|error| transport_reason(&error))
                .and_then(|(status, body)| check(&asked.expect, status, &body));
            stats
                .get_mut(kind)
                .expect("every kind")
                .record(took, outcome);
            if transport_failed {
                tokio::time::sleep(PAUSE_AFTER_TRANSPORT_ERROR).await;
            }
        }
        stats
    }
}

/// The request for `kind` about `account`, with a random socket where it needs one.
fn ask<'a>(kind: RestQuery, account: &'a AccountSockets, rng: &mut StdRng) -> Asked<'a> {
    let list = list_path(&account.account);
    let index = rng.random_range(0..account.ids.len());
    let id = account.ids[index].as_str();
    let (path, expect) = match kind {
        RestQuery::List => (list, Expect::Count(account.held)),
        RestQuery::Page => (
            format!("{list}?page_size={PAGE_SIZE}&start_key={id}"),
            Expect::Page {
                first: id,
                size: PAGE_SIZE.min(account.ids.len() - index),
            },
        ),
        RestQuery::Socket => (format!("{list}/{id}"), Expect::Socket(id)),
    };
    Asked {
        path,
        token: &account.token,
        expect,
    }
}

/// The reason a request got no answer, without its path (which differs for every request).
fn transport_reason(error: &RestError) -> String {
    match error {
        RestError::Unreachable { reason, .. } => format!("cannot connect: {reason}"),
        RestError::Failed { reason, .. } => reason.clone(),
        RestError::Status {
            status, message, ..
        } => format!("HTTP {status}: {message}"),
    }
}

/// `Ok` when the answer is what the run's sockets call for; else the reason it is wrong.
fn check(expect: &Expect<'_>, status: StatusCode, body: &[u8]) -> Result<(), String> {
    if status != StatusCode::OK {
        return Err(format!("HTTP {status}: {}", error_message(body)));
    }
    let unreadable = |e: serde_json::Error| format!("unreadable answer: {e}");
    match *expect {
        Expect::Count(held) => {
            let listed = serde_json::from_slice::<Counted>(body).map_err(unreadable)?;
            let count = listed.data.len() as u64;
            if count != held {
                return Err(format!("{count} sockets, expected {held}"));
            }
        }
        Expect::Page { first, size } => {
            let page = serde_json::from_slice::<Listing>(body).map_err(unreadable)?;
            if page.data.len() > PAGE_SIZE {
                return Err(format!(
                    "{} sockets in a page of {PAGE_SIZE}",
                    page.data.len()
                ));
            }
            if page.data.len() != size {
                return Err(format!("{} sockets, expected {size}", page.data.len()));
            }
            if page.data[0].websocket_session_id != first {
                return Err("the page does not start at its start_key".to_string());
            }
        }
        Expect::Socket(id) => {
            let socket = serde_json::from_slice::<OneSocket>(body).map_err(unreadable)?;
            if socket.data.websocket_session_id != id {
                return Err("the answer is another socket's".to_string());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_paced_connection_asks_its_share_of_the_rate() {
        let pace = |concurrency, rate| Pace { concurrency, rate }.interval();
        assert_eq!(pace(1, 0), None, "unpaced: ask again at once");
        assert_eq!(pace(1, 10), Some(Duration::from_millis(100)));
        assert_eq!(pace(4, 10), Some(Duration::from_millis(400)));
    }

    fn listing(ids: &[&str]) -> Vec<u8> {
        let data: Vec<_> = ids
            .iter()
            .map(|id| json!({"websocket_session_id": id, "bindings": []}))
            .collect();
        json!({"data": data, "status": "success"})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn a_list_must_hold_every_socket() {
        let body = listing(&["a", "b", "c"]);
        assert_eq!(check(&Expect::Count(3), StatusCode::OK, &body), Ok(()));
        assert_eq!(
            check(&Expect::Count(4), StatusCode::OK, &body),
            Err("3 sockets, expected 4".to_string())
        );
    }

    #[test]
    fn a_page_must_start_at_its_key_and_hold_what_follows() {
        let body = listing(&["b", "c"]);
        let page = |first, size| Expect::Page { first, size };
        assert_eq!(check(&page("b", 2), StatusCode::OK, &body), Ok(()));
        assert_eq!(
            check(&page("b", 3), StatusCode::OK, &body),
            Err("2 sockets, expected 3".to_string())
        );
        assert!(check(&page("c", 2), StatusCode::OK, &body).is_err());
        let ids: Vec<String> = (0..101).map(|i| i.to_string()).collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        assert_eq!(
            check(&page("0", 100), StatusCode::OK, &listing(&ids)),
            Err("101 sockets in a page of 100".to_string())
        );
    }

    #[test]
    fn a_lookup_must_answer_the_socket_asked_for() {
        let body = json!({"data": {"websocket_session_id": "a"}}).to_string();
        assert_eq!(
            check(&Expect::Socket("a"), StatusCode::OK, body.as_bytes()),
            Ok(())
        );
        assert!(check(&Expect::Socket("b"), StatusCode::OK, body.as_bytes()).is_err());
        let missing = br#"{"message":"socket not found","status":"error"}"#;
        assert_eq!(
            check(&Expect::Socket("a"), StatusCode::NOT_FOUND, missing),
            Err("HTTP 404 Not Found: socket not found".to_string())
        );
        assert!(
            check(&Expect::Socket("a"), StatusCode::OK, b"nope")
                .unwrap_err()
                .starts_with("unreadable answer")
        );
    }

    #[test]
    fn pages_never_run_past_the_last_socket() {
        let account = AccountSockets {
            account: "a".into(),
            token: "t".into(),
            ids: (0..150).map(|i| i.to_string()).collect(),
            held: 150,
        };
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..200 {
            let asked = ask(RestQuery::Page, &account, &mut rng);
            let Expect::Page { first, size } = asked.expect else {
                panic!("a page")
            };
            let index: usize = first.parse().unwrap();
            assert_eq!(size, 100.min(150 - index));
            assert!(asked.path.ends_with(&format!("start_key={first}")));
        }
        let asked = ask(RestQuery::List, &account, &mut rng);
        assert_eq!(asked.path, "/v2/accounts/a/websockets");
        assert!(matches!(asked.expect, Expect::Count(150)));
    }
}
