//! The fabric's figures as prometheus-client metrics. Counters and gauges are shared atomics,
//! cheap on the event path; [`Metrics::register`] names them once in the node's registry, which
//! renders them at the edge.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::{Metric, Registry, Unit};

use crate::exchange::Exchange;

/// A label naming why something happened; its values are a fixed set of words.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: &'static str,
}

/// Defines a reason enum: its variants, `ALL` of them in order (a [`CounterSet`] is indexed by
/// the variant), and each one's word (its label value). The fabric's reasons are defined here,
/// the bus's drop causes with it too.
#[macro_export]
macro_rules! reasons {
    (
        $(#[$doc:meta])*
        $vis:vis $name:ident { $($(#[$vdoc:meta])* $variant:ident => $word:literal,)+ }
    ) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        $vis enum $name {
            $($(#[$vdoc])* $variant,)+
        }

        impl $name {
            $vis const ALL: &[$name] = &[$($name::$variant,)+];

            $vis fn word(self) -> &'static str {
                match self {
                    $($name::$variant => $word,)+
                }
            }
        }
    };
}

reasons! {
    /// Why a websocket session ended (`switchyard_disconnects_total`).
    pub Disconnect {
        /// The client sent a close frame.
        ClientClosed => "client_closed",
        /// The connection went without a close frame.
        ConnectionLost => "connection_lost",
        IdleTimeout => "idle_timeout",
        /// Closes for broken frames: 1009, 1007, 1002.
        FrameTooLarge => "frame_too_large",
        InvalidUtf8 => "invalid_utf8",
        ProtocolError => "protocol_error",
        /// 1001: a drain or a shutdown.
        GoingAway => "going_away",
        /// 1008 under `disconnect`.
        SlowConsumer => "slow_consumer",
        /// A write stalled past `max_lag`: cut without a close frame.
        WriteStalled => "write_stalled",
        /// 4000, through REST.
        Kicked => "kicked",
        /// 4001.
        AccountRemoved => "account_removed",
        /// 1011.
        InternalError => "internal_error",
    }
}

reasons! {
    /// Why a connection was turned away before it became a session
    /// (`switchyard_connections_refused_total`).
    pub Refusal {
        /// 429: its address holds `max_connections_per_ip` sockets.
        PerAddressLimit => "per_address_limit",
        /// 503: the node holds `max_connections` sockets or `max_handshakes` handshakes.
        NodeFull => "node_full",
        /// 503: the node drains or stops.
        Draining => "draining",
        /// A newcomer took its handshake's place.
        HandshakeEvicted => "handshake_evicted",
        TlsHandshakeFailed => "tls_handshake_failed",
        /// Not a websocket upgrade, or not within the handshake timeout.
        BadHandshake => "bad_handshake",
        /// The supervisor could not start its session.
        NodeUnavailable => "node_unavailable",
    }
}

/// A labelled counter family whose label sets are all known at start: each one's counter is
/// resolved once (counting is one atomic add, not a lookup), and every series is rendered from
/// zero on, so a rate sees the first occurrence.
#[derive(Debug)]
pub struct CounterSet<L> {
    family: Family<L, Counter>,
    /// In the order the label sets were given.
    counters: Vec<Counter>,
}

impl<L> CounterSet<L>
where
    L: Clone + std::hash::Hash + Eq + EncodeLabelSet + std::fmt::Debug + Send + Sync + 'static,
{
    pub fn new(labels: impl IntoIterator<Item = L>) -> Self {
        let family = Family::<L, Counter>::default();
        let counters = labels
            .into_iter()
            .map(|label| family.get_or_create_owned(&label))
            .collect();
        Self { family, counters }
    }

    /// Counts one for the `index`th label set.
    pub fn inc(&self, index: usize) {
        self.counters[index].inc();
    }

    /// The sum over every label set.
    pub fn total(&self) -> u64 {
        self.counters.iter().map(Counter::get).sum()
    }

    /// Names the family in `registry`.
    pub fn register(&self, registry: &mut Registry, name: &str, help: &str) {
        registry.register(name, help, self.family.clone());
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ExchangeLabel {
    exchange: &'static str,
}

/// Names each `(name, help, metric)` in `registry`.
pub fn register_each<M: Metric + Clone>(registry: &mut Registry, metrics: &[(&str, &str, &M)]) {
    for (name, help, metric) in metrics {
        registry.register(*name, *help, (*metric).clone());
    }
}

/// The label sets of a reason enum's `ALL`, in order.
pub fn reason_labels(words: impl IntoIterator<Item = &'static str>) -> Vec<ReasonLabel> {
    words
        .into_iter()
        .map(|reason| ReasonLabel { reason })
        .collect()
}

#[derive(Debug)]
pub struct Metrics {
    /// Open websocket sessions.
    pub connections: Gauge,
    /// Sessions that have authenticated.
    pub authenticated_connections: Gauge,
    /// Client bindings held, over all sessions.
    pub bindings: Gauge,
    /// Distinct internal routes in the topic index.
    pub routes: Gauge,
    pub connections_opened: Counter,
    /// By [`Refusal`].
    connections_refused: CounterSet<ReasonLabel>,
    /// By [`Disconnect`].
    disconnects: CounterSet<ReasonLabel>,
    /// By [`Exchange`].
    events_in: CounterSet<ExchangeLabel>,
    /// Accepted events that no client can receive (e.g. call events outside the nine).
    pub events_undeliverable: Counter,
    pub deliveries: Counter,
    /// From an event's fan-out to the write that put its frame on a socket.
    pub delivery_latency: LatencyHistogram,
    pub frames_in: Counter,
    pub errors_replied: Counter,
    pub rate_limited: Counter,
    pub frames_dropped: Counter,
    pub slow_consumer_disconnects: Counter,
    /// Slow consumers cut at the TCP level: a write stalled past the bound, so not even a close
    /// frame could reach them.
    pub slow_consumer_cuts: Counter,
    /// Sockets closed (or, under `drop_oldest`, trimmed) because the node's queued bytes passed
    /// `max_queued_bytes`; the closes are counted in `slow_consumer_disconnects` too.
    pub node_sheds: Counter,
    /// Bindings dropped because the directory no longer allows them.
    pub bindings_revoked: Counter,
    /// Sockets closed (4001) because their account left the directory.
    pub account_removed_closes: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            connections: Gauge::default(),
            authenticated_connections: Gauge::default(),
            bindings: Gauge::default(),
            routes: Gauge::default(),
            connections_opened: Counter::default(),
            connections_refused: CounterSet::new(reason_labels(
                Refusal::ALL.iter().map(|r| r.word()),
            )),
            disconnects: CounterSet::new(reason_labels(Disconnect::ALL.iter().map(|d| d.word()))),
            events_in: CounterSet::new(Exchange::ALL.map(|exchange| ExchangeLabel {
                exchange: exchange.name(),
            })),
            events_undeliverable: Counter::default(),
            deliveries: Counter::default(),
            delivery_latency: LatencyHistogram::default(),
            frames_in: Counter::default(),
            errors_replied: Counter::default(),
            rate_limited: Counter::default(),
            frames_dropped: Counter::default(),
            slow_consumer_disconnects: Counter::default(),
            slow_consumer_cuts: Counter::default(),
            node_sheds: Counter::default(),
            bindings_revoked: Counter::default(),
            account_removed_closes: Counter::default(),
        }
    }
}

impl Metrics {
    pub fn event_in(&self, exchange: Exchange) {
        self.events_in.inc(exchange as usize);
    }

    /// Events taken in, over every exchange.
    pub fn events_in(&self) -> u64 {
        self.events_in.total()
    }

    pub fn connection_refused(&self, reason: Refusal) {
        self.connections_refused.inc(reason as usize);
    }

    pub fn disconnected(&self, reason: Disconnect) {
        self.disconnects.inc(reason as usize);
    }

    /// Names every figure in `registry`; the registry renders them from then on.
    pub fn register(&self, registry: &mut Registry) {
        let gauges = [
            (
                "switchyard_connections",
                "Open websocket sessions",
                &self.connections,
            ),
            (
                "switchyard_authenticated_connections",
                "Sessions that have authenticated",
                &self.authenticated_connections,
            ),
            (
                "switchyard_bindings",
                "Client bindings held over all sessions",
                &self.bindings,
            ),
            (
                "switchyard_routes",
                "Distinct internal routes in the topic index",
                &self.routes,
            ),
        ];
        register_each(registry, &gauges);
        let counters = [
            (
                "switchyard_connections_opened",
                "Websocket sessions opened",
                &self.connections_opened,
            ),
            (
                "switchyard_events_undeliverable",
                "Accepted events no client can receive",
                &self.events_undeliverable,
            ),
            (
                "switchyard_deliveries",
                "Event frames queued to sockets",
                &self.deliveries,
            ),
            (
                "switchyard_frames_in",
                "Text frames received from clients",
                &self.frames_in,
            ),
            (
                "switchyard_error_replies",
                "Error replies sent to clients",
                &self.errors_replied,
            ),
            (
                "switchyard_rate_limited",
                "Frames refused by the per-socket rate limit",
                &self.rate_limited,
            ),
            (
                "switchyard_frames_dropped",
                "Event frames dropped by the drop_oldest policy",
                &self.frames_dropped,
            ),
            (
                "switchyard_slow_consumer_disconnects",
                "Sockets closed (1008) as slow consumers: a frame waited max_lag, or a queue passed its byte bound",
                &self.slow_consumer_disconnects,
            ),
            (
                "switchyard_slow_consumer_cuts",
                "Slow consumers cut at the TCP level: a write stalled past max_lag",
                &self.slow_consumer_cuts,
            ),
            (
                "switchyard_slow_consumer_sheds",
                "Sockets closed or trimmed because the node's queued bytes passed max_queued_bytes",
                &self.node_sheds,
            ),
            (
                "switchyard_bindings_revoked",
                "Bindings dropped because the account directory no longer allows them",
                &self.bindings_revoked,
            ),
            (
                "switchyard_account_removed_closes",
                "Sockets closed (4001) because their account left the directory",
                &self.account_removed_closes,
            ),
        ];
        register_each(registry, &counters);
        self.events_in.register(
            registry,
            "switchyard_events_in",
            "Events accepted from the bus, by exchange",
        );
        self.connections_refused.register(
            registry,
            "switchyard_connections_refused",
            "Connections turned away before they became sessions, by reason",
        );
        self.disconnects.register(
            registry,
            "switchyard_disconnects",
            "Websocket sessions ended, by reason",
        );
        registry.register_with_unit(
            "switchyard_delivery_latency",
            "From an event's fan-out to the write that put its frame on a socket",
            Unit::Seconds,
            self.delivery_latency.clone(),
        );
    }
}

/// The upper bounds of [`LatencyHistogram`]'s buckets, in microseconds: 100 µs to 10 s.
const LATENCY_BOUNDS_MICROS: [u64; 16] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000, 10_000_000,
];

/// A histogram of durations in atomic buckets. prometheus-client's `Histogram` takes a lock per
/// observation; this one takes a writer's whole batch of frames in a few atomic adds.
#[derive(Clone, Debug, Default)]
pub struct LatencyHistogram {
    inner: Arc<LatencyBuckets>,
}

#[derive(Debug, Default)]
struct LatencyBuckets {
    /// One per bound, and one past the last (`+Inf`).
    counts: [AtomicU64; LATENCY_BOUNDS_MICROS.len() + 1],
    sum_micros: AtomicU64,
}

impl LatencyHistogram {
    pub fn observe_all(&self, latencies: impl IntoIterator<Item = Duration>) {
        let mut counts = [0u64; LATENCY_BOUNDS_MICROS.len() + 1];
        let mut sum_micros = 0u64;
        for latency in latencies {
            let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
            counts[LATENCY_BOUNDS_MICROS.partition_point(|&bound| bound < micros)] += 1;
            sum_micros = sum_micros.saturating_add(micros);
        }
        for (total, count) in self.inner.counts.iter().zip(counts) {
            if count > 0 {
                total.fetch_add(count, Ordering::Relaxed);
            }
        }
        if sum_micros > 0 {
            self.inner
                .sum_micros
                .fetch_add(sum_micros, Ordering::Relaxed);
        }
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.counts().iter().sum()
    }

    fn counts(&self) -> [u64; LATENCY_BOUNDS_MICROS.len() + 1] {
        std::array::from_fn(|i| self.inner.counts[i].load(Ordering::Relaxed))
    }
}

impl TypedMetric for LatencyHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for LatencyHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let counts = self.counts();
        let bounds = LATENCY_BOUNDS_MICROS
            .iter()
            .map(|&micros| micros as f64 / 1e6)
            .chain([f64::INFINITY]);
        let buckets: Vec<(f64, u64)> = bounds.zip(counts).collect();
        let sum = self.inner.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        // The count is the buckets' own sum, so the two always agree in one scrape.
        let count = counts.iter().sum();
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::encoding::text::encode;

    fn rendered(metrics: &Metrics) -> String {
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        let mut text = String::new();
        encode(&mut text, &registry).unwrap();
        text
    }

    #[test]
    fn latencies_fall_in_the_bucket_of_their_upper_bound() {
        let metrics = Metrics::default();
        let ms = Duration::from_millis;
        metrics.delivery_latency.observe_all([
            Duration::from_micros(100),
            ms(1),
            ms(3),
            ms(20_000),
        ]);
        metrics.delivery_latency.observe_all([]);
        let text = rendered(&metrics);
        let sample = |name: &str| {
            text.lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
                .unwrap_or_else(|| panic!("{name} in {text}"))
        };
        let name = "switchyard_delivery_latency_seconds";
        assert_eq!(sample(&format!("{name}_bucket{{le=\"0.0001\"}}")), "1");
        assert_eq!(sample(&format!("{name}_bucket{{le=\"0.001\"}}")), "2");
        assert_eq!(sample(&format!("{name}_bucket{{le=\"0.0025\"}}")), "2");
        assert_eq!(sample(&format!("{name}_bucket{{le=\"0.005\"}}")), "3");
        assert_eq!(sample(&format!("{name}_bucket{{le=\"10.0\"}}")), "3");
        assert_eq!(sample(&format!("{name}_bucket{{le=\"+Inf\"}}")), "4");
        assert_eq!(sample(&format!("{name}_count")), "4");
        assert_eq!(sample(&format!("{name}_sum")), "20.0041");
        assert_eq!(metrics.delivery_latency.count(), 4);
    }

    #[test]
    fn events_are_counted_by_exchange_and_reasons_by_name() {
        // The counters are indexed by each enum's own order.
        for (index, exchange) in Exchange::ALL.into_iter().enumerate() {
            assert_eq!(exchange as usize, index);
        }
        for (index, reason) in Disconnect::ALL.iter().enumerate() {
            assert_eq!(*reason as usize, index);
        }
        for (index, reason) in Refusal::ALL.iter().enumerate() {
            assert_eq!(*reason as usize, index);
        }
        let metrics = Metrics::default();
        metrics.event_in(Exchange::CallEvt);
        metrics.event_in(Exchange::CallEvt);
        metrics.event_in(Exchange::Faxes);
        metrics.disconnected(Disconnect::IdleTimeout);
        metrics.connection_refused(Refusal::NodeFull);
        assert_eq!(metrics.events_in(), 3);
        let text = rendered(&metrics);
        for line in [
            "switchyard_events_in_total{exchange=\"callevt\"} 2",
            "switchyard_events_in_total{exchange=\"faxes\"} 1",
            "switchyard_events_in_total{exchange=\"conference\"} 0",
            "switchyard_disconnects_total{reason=\"idle_timeout\"} 1",
            "switchyard_disconnects_total{reason=\"kicked\"} 0",
            "switchyard_connections_refused_total{reason=\"node_full\"} 1",
            "switchyard_connections 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in {text}");
        }
    }
}
