//! The event hot path: matching a routing key against the topic index, and normalising a bus
//! message into an event.
//!
//! `topic_match/few/N`: one routing key against N bindings over N/10 accounts (about ten each,
//! in the catalogue's shapes), from 1k to 1M: issue 10's row is 100k over 10k accounts, and the
//! time should stay flat (within 2×) across the sizes. Only the API of `TopicTrie` that every
//! build since the baseline has is used, so this file runs in a baseline tree too.

use std::hint::black_box;
use std::time::Instant;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng};
use switchyard::actors::account::AccountId;
use switchyard::actors::bindings::CALL_EVENTS;
use switchyard::actors::event::{BusMessage, Event};
use switchyard::actors::topic::TopicTrie;

const TYPES: [&str; 4] = ["user", "device", "callflow", "vmbox"];

/// Bindings in the index, at about ten per account.
const SIZES: [usize; 4] = [1_000, 10_000, 100_000, 1_000_000];

/// Seeded: the same index every run.
struct Rng(StdRng);

impl Rng {
    fn seeded(seed: u64) -> Self {
        Rng(StdRng::seed_from_u64(seed))
    }
    fn below(&mut self, n: usize) -> usize {
        self.0.random_range(0..n)
    }
    fn hex32(&mut self) -> String {
        format!("{:032x}", self.0.random::<u128>())
    }
}

fn adb(account: &str) -> String {
    AccountId::parse(account).expect("an account id").database()
}

/// About ten bindings per account, in the shapes the catalogue produces.
fn patterns_for(account: &str, rng: &mut Rng, out: &mut Vec<String>) {
    let db = adb(account);
    let ev = CALL_EVENTS[rng.below(CALL_EVENTS.len())];
    let ty = TYPES[rng.below(TYPES.len())];
    out.push(format!("call.{account}.CHANNEL_CREATE.*"));
    out.push(format!("call.{account}.{ev}.*"));
    out.push(format!("call.{account}.*.*"));
    out.push(format!("call.{account}.CHANNEL_ANSWER.{}", rng.hex32()));
    out.push(format!("*.{db}.{ty}.*"));
    out.push(format!("doc_edited.{db}.*.*"));
    out.push(format!("*.{db}-202611.fax.*"));
    out.push(format!("fax.status.{account}.*"));
    out.push(format!("conference.event.*.{account}.{}.*", rng.hex32()));
    out.push(format!("conference.event.add-member.{account}.conf1.*"));
}

struct Index {
    trie: TopicTrie,
    accounts: Vec<String>,
}

fn build(patterns: usize) -> Index {
    let mut rng = Rng::seeded(7);
    let mut all = Vec::with_capacity(patterns + 16);
    let mut accounts = Vec::new();
    while all.len() < patterns {
        let account = rng.hex32();
        patterns_for(&account, &mut rng, &mut all);
        accounts.push(account);
    }
    all.truncate(patterns);
    // A handful of superduper sockets watching everything of one kind.
    all.extend(["call.*.CHANNEL_DESTROY.*", "*.*.user.*"].map(String::from));
    let mut trie = TopicTrie::new();
    for (id, pattern) in all.iter().enumerate() {
        trie.insert(pattern, id);
    }
    Index { trie, accounts }
}

/// Keys of events that reach few bindings: held accounts, and accounts nobody watches.
fn keys(index: &Index) -> Vec<String> {
    let mut rng = Rng::seeded(11);
    (0..1024)
        .map(|i| {
            let account = if i % 4 == 3 {
                rng.hex32()
            } else {
                index.accounts[rng.below(index.accounts.len())].clone()
            };
            match i % 3 {
                0 => format!(
                    "call.{account}.{}.{}%4010%2E0%2E0%2E1",
                    CALL_EVENTS[rng.below(CALL_EVENTS.len())],
                    rng.hex32()
                ),
                1 => format!(
                    "doc_edited.{}.{}.{}",
                    adb(&account),
                    TYPES[rng.below(TYPES.len())],
                    rng.hex32()
                ),
                _ => format!("fax.status.{account}.{}", rng.hex32()),
            }
        })
        .collect()
}

fn topic_match(c: &mut Criterion) {
    let mut group = c.benchmark_group("topic_match");
    group.throughput(Throughput::Elements(1));
    for patterns in SIZES {
        // Built once per size: a million inserts take seconds, not a sample's microseconds.
        let started = Instant::now();
        let index = build(patterns);
        let built = started.elapsed();
        let keys = keys(&index);
        let matched: usize = keys
            .iter()
            .map(|k| {
                let mut n = 0;
                index.trie.for_each_match(k, |_| n += 1);
                n
            })
            .sum();
        eprintln!(
            "{patterns} patterns over {} accounts, {} trie nodes, built in {built:.2?}, {:.2} \
             matches per key",
            index.accounts.len(),
            index.trie.node_count(),
            matched as f64 / keys.len() as f64
        );
        group.bench_with_input(BenchmarkId::new("few", patterns), &keys, |b, keys| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % keys.len();
                let mut sum = 0usize;
                index
                    .trie
                    .for_each_match(black_box(&keys[i]), |id| sum = sum.wrapping_add(id));
                sum
            })
        });
    }
    group.finish();
}

fn channel_create() -> BusMessage {
    let account = "3a63acc3694ba189947235ae4727941b";
    let payload = serde_json::json!({
        "Event-Category": "call_event",
        "Event-Name": "CHANNEL_CREATE",
        "App-Name": "ecallmgr",
        "App-Version": "4.3.0",
        "Msg-ID": "6d7a8b0c-1f2e-4a5b-9c8d-7e6f5a4b3c2d",
        "Node": "ecallmgr@apps001.example.net",
        "Server-ID": "",
        "Call-ID": "NTQ5ZjU4YzI2ZmRmNjI0ZDNkNjM0NWU1ZWQ4ZjA2MDk",
        "Call-Direction": "inbound",
        "Caller-ID-Name": "Alice Example",
        "Caller-ID-Number": "+14155550100",
        "Callee-ID-Name": null,
        "Callee-ID-Number": null,
        "Channel-Call-State": "DOWN",
        "Channel-State": "CS_NEW",
        "Channel-Name": "sofia/sipinterface_1/+14155550100@10.1.2.3",
        "Media-Server": "freeswitch@fs001.example.net",
        "From": "+14155550100@sip.example.net",
        "To": "2001@sip.example.net",
        "Request": "2001@sip.example.net",
        "Presence-ID": "2001@sip.example.net",
        "Timestamp": 63_842_112_000_u64,
        "Switch-Hostname": "fs001.example.net",
        "Switch-Nodename": "freeswitch@fs001.example.net",
        "Switch-URI": "sip:10.1.2.3:5060",
        "Switch-URL": "sip:mod_sofia@10.1.2.3:5060",
        "Other-Leg-Call-ID": null,
        "Custom-Channel-Vars": {
            "Account-ID": account,
            "Authorizing-ID": "8bd5b0d5c1a04f6a9dfe3b4c2a1e0f9d",
            "Authorizing-Type": "device",
            "Owner-ID": "f1e2d3c4b5a6978877665544332211aa",
            "Realm": "sip.example.net",
            "Username": "user_abc123",
            "Call-Interaction-ID": "63842112000-7a1b2c3d",
            "Channel-Authorized": "true",
            "Global-Resource": "false",
            "Bridge-ID": null,
        },
        "Custom-Application-Vars": {"Campaign-ID": "spring", "Queue-Name": null},
        "Custom-SIP-Headers": {"X-Forwarded-For": "198.51.100.7"},
        "Raw-Headers": [["Via", "SIP/2.0/UDP 10.1.2.3"]],
        "Media-Recordings": [],
        "Route-Options": [{"Codec-Name": "PCMU", "Rate": 8000}, {"Codec-Name": "OPUS", "Rate": 48000}],
    });
    let serde_json::Value::Object(payload) = payload else {
        unreachable!()
    };
    BusMessage {
        exchange: "callevt".into(),
        routing_key: "call.CHANNEL_CREATE.NTQ5ZjU4YzI2ZmRmNjI0ZDNkNjM0NWU1ZWQ4ZjA2MDk".into(),
        payload,
    }
}

fn event_from_bus(c: &mut Criterion) {
    let message = channel_create();
    let size = serde_json::to_vec(&message.payload).unwrap().len();
    let event = Event::from_bus(message.clone()).unwrap();
    eprintln!(
        "CHANNEL_CREATE payload {size} bytes in, data {} bytes out",
        event.data.len()
    );
    let mut group = c.benchmark_group("event");
    group.throughput(Throughput::Bytes(size as u64));
    group.bench_function("from_bus/CHANNEL_CREATE", |b| {
        b.iter_batched(
            || message.clone(),
            |m| Event::from_bus(black_box(m)).unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, topic_match, event_from_bus);
criterion_main!(benches);
