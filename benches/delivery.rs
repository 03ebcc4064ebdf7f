//! The per-event and per-subscriber costs of a delivery, without sockets: building a route's
//! wire frame (once per route), and a whole fan-out of one event to 1,000 subscribers' queues.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use switchyard::actors::account::{AccountId, AccountScope};
use switchyard::actors::authority::{Authority, TokenError};
use switchyard::actors::bindings::translate;
use switchyard::actors::event::{BusMessage, Event};
use switchyard::actors::metrics::Metrics;
use switchyard::actors::month::YearMonth;
use switchyard::actors::outbox::{Backlog, Outbox, OutboxLimits};
use switchyard::actors::protocol::reply;
use switchyard::actors::router::Router;

const ACCOUNT: &str = "3a63acc3694ba189947235ae4727941b";

/// Every account acts on itself only.
struct Alone;

impl Authority for Alone {
    fn authenticate(&self, _: &str) -> Result<AccountId, TokenError> {
        Err(TokenError::Rejected)
    }
    fn may_act_on(&self, actor: &AccountId, target: &AccountId) -> bool {
        actor == target
    }
    fn is_superduper(&self, _: &AccountId) -> bool {
        false
    }
}

/// A CHANNEL_CREATE of about 300 bytes, as the load generator sends.
fn event() -> Event {
    let message: BusMessage = serde_json::from_value(json!({
        "exchange": "callevt",
        "routing_key": format!("call.{ACCOUNT}.CHANNEL_CREATE.c1"),
        "payload": {
            "Event-Name": "CHANNEL_CREATE", "Event-Category": "call_event",
            "Call-ID": "c1", "Call-Direction": "inbound",
            "Caller-ID-Name": "Alice Example", "Caller-ID-Number": "+14155550100",
            "Custom-Channel-Vars": {"Account-ID": ACCOUNT},
            "Timestamp": 63_842_112_000_u64, "Padding": "x".repeat(120),
        }
    }))
    .expect("a bus message");
    Event::from_bus(message).expect("an event")
}

fn frame_encoding(c: &mut Criterion) {
    let event = event();
    let head = reply::event_head(
        "call.CHANNEL_CREATE.*",
        &format!("call.{ACCOUNT}.CHANNEL_CREATE.*"),
    );
    let tail = reply::event_tail(&event);
    let mut group = c.benchmark_group("frame");
    group.throughput(Throughput::Bytes((head.len() + tail.len()) as u64));
    group.bench_function("event_tail", |b| {
        b.iter(|| reply::event_tail(black_box(&event)))
    });
    group.bench_function("event_frame_per_route", |b| {
        b.iter(|| reply::event_frame(black_box(&head), black_box(&tail)))
    });
    group.finish();
}

fn fan_out(c: &mut Criterion) {
    const SUBSCRIBERS: usize = 1_000;
    let metrics = Arc::new(Metrics::default());
    let backlog = Arc::new(Backlog::default());
    let router = Router::new(Arc::new(Alone), metrics.clone());
    let scope = AccountScope::One(AccountId::parse(ACCOUNT).expect("an account"));
    let binding = "call.CHANNEL_CREATE.*";
    let translation =
        translate(binding, &scope, YearMonth::from_unix_seconds(0)).expect("a binding");
    let outboxes: Vec<Arc<Outbox>> = (0..SUBSCRIBERS)
        .map(|session| {
            let outbox = Arc::new(Outbox::new(
                OutboxLimits::default(),
                metrics.clone(),
                backlog.clone(),
            ));
            router.subscribe(session as u64, &outbox, binding, &scope, &translation);
            outbox
        })
        .collect();
    let event = event();
    let mut group = c.benchmark_group("fan_out");
    group.throughput(Throughput::Elements(SUBSCRIBERS as u64));
    group.bench_function("one_event_to_1000_queues", |b| {
        b.iter(|| {
            let delivered = router.publish(black_box(&event));
            for outbox in &outboxes {
                outbox.take();
            }
            delivered
        })
    });
    group.finish();
}

criterion_group!(benches, frame_encoding, fan_out);
criterion_main!(benches);
