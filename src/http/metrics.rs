//! `GET /metrics`: every figure of the node in one prometheus-client registry, rendered as
//! OpenMetrics text. The fabric and the bus register their own; this module adds REST's, the
//! process's and the busiest accounts', which are sampled at each scrape.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use ractor::ActorRef;
use ractor::rpc::CallResult;
use warp::http::StatusCode;

use switchyard_actors::fabric::Fabric;
use switchyard_actors::outbox::Backlog;
use switchyard_actors::supervisor::SupervisorMsg;

use crate::bus::BusMetrics;

/// The content type of [`Exposition::render`]'s text.
pub(super) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// How many accounts `switchyard_account_sockets` names: the busiest, so the label set stays
/// bounded however many accounts connect.
pub(super) const BUSIEST_ACCOUNTS: usize = 20;

/// The upper bounds of REST's latency buckets: 0.5 ms to 10 s.
const SECONDS_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AccountLabel {
    account: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    route: &'static str,
}

/// REST requests answered, by route (a fixed set of names, never the raw path) and status.
#[derive(Debug)]
pub(super) struct RestMetrics {
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabel, Histogram, fn() -> Histogram>,
}

impl RestMetrics {
    fn new() -> Self {
        fn latency() -> Histogram {
            Histogram::new(SECONDS_BUCKETS)
        }
        Self {
            requests: Family::default(),
            latency: Family::new_with_constructor(latency),
        }
    }

    pub(super) fn answered(&self, route: &'static str, status: StatusCode, took: Duration) {
        let status = status.as_u16();
        self.requests
            .get_or_create(&RequestLabels { route, status })
            .inc();
        self.latency
            .get_or_create(&RouteLabel { route })
            .observe(took.as_secs_f64());
    }
}

/// The node's registry, and the figures it samples at each scrape.
pub(super) struct Exposition {
    registry: Registry,
    pub(super) rest: RestMetrics,
    account_sockets: Family<AccountLabel, Gauge>,
    /// One scrape at a time: each refreshes `account_sockets` before rendering.
    scraping: tokio::sync::Mutex<()>,
}

impl Exposition {
    pub(super) fn new(fabric: &Fabric, bus: Option<&BusMetrics>) -> Self {
        let mut registry = Registry::default();
        fabric.metrics.register(&mut registry);
        if let Some(bus) = bus {
            bus.register(&mut registry);
        }
        let rest = RestMetrics::new();
        registry.register(
            "switchyard_rest_requests",
            "REST requests answered, by route and status",
            rest.requests.clone(),
        );
        registry.register_with_unit(
            "switchyard_rest_request_duration",
            "Time to answer a REST request, by route",
            Unit::Seconds,
            rest.latency.clone(),
        );
        let account_sockets = Family::<AccountLabel, Gauge>::default();
        registry.register(
            "switchyard_account_sockets",
            format!("Authenticated sockets of the {BUSIEST_ACCOUNTS} busiest accounts"),
            account_sockets.clone(),
        );
        registry.register_collector(Box::new(Sampled {
            backlog: fabric.backlog.clone(),
        }));
        Self {
            registry,
            rest,
            account_sockets,
            scraping: tokio::sync::Mutex::new(()),
        }
    }

    /// The whole exposition. The busiest accounts come from the supervisor; when it does not
    /// answer within `patience`, they are left out rather than the scrape failing.
    pub(super) async fn render(
        &self,
        supervisor: &ActorRef<SupervisorMsg>,
        patience: Duration,
    ) -> String {
        let _one_at_a_time = self.scraping.lock().await;
        let busiest = supervisor
            .call(
                |reply| SupervisorMsg::BusiestAccounts {
                    limit: BUSIEST_ACCOUNTS,
                    reply,
                },
                Some(patience),
            )
            .await;
        self.account_sockets.clear();
        if let Ok(CallResult::Success(busiest)) = busiest {
            for (account, sockets) in busiest {
                let label = AccountLabel {
                    account: account.as_str().to_string(),
                };
                self.account_sockets
                    .get_or_create(&label)
                    .set(i64::try_from(sockets).unwrap_or(i64::MAX));
            }
        }
        let mut text = String::with_capacity(16 * 1024);
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

/// Figures read when scraped: the node's queued bytes, and the process's memory, CPU time and
/// file descriptors under their conventional names.
#[derive(Debug)]
struct Sampled {
    backlog: Arc<Backlog>,
}

impl Collector for Sampled {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        gauge(
            &mut encoder,
            "switchyard_queued_bytes",
            "Bytes queued for websocket clients over all sessions.",
            self.backlog.bytes(),
        )?;
        if let Some(heap) = crate::heap::read() {
            let help = "Bytes the node has allocated (jemalloc builds only).";
            gauge(
                &mut encoder,
                "switchyard_heap_allocated_bytes",
                help,
                heap.allocated,
            )?;
            let help = "Bytes of memory the allocator holds (jemalloc builds only).";
            gauge(
                &mut encoder,
                "switchyard_heap_resident_bytes",
                help,
                heap.resident,
            )?;
        }
        let Some(usage) = ProcessUsage::read() else {
            return Ok(());
        };
        gauge(
            &mut encoder,
            "process_resident_memory_bytes",
            "Resident memory of the node.",
            usage.resident_bytes,
        )?;
        let cpu = ConstCounter::new(usage.cpu_seconds);
        let help = "User and system CPU time of the node.";
        cpu.encode(encoder.encode_descriptor(
            "process_cpu_seconds",
            help,
            None,
            cpu.metric_type(),
        )?)?;
        if let Some(open) = usage.open_fds {
            let help = "Open file descriptors: sockets, mostly.";
            gauge(&mut encoder, "process_open_fds", help, open)?;
        }
        if let Some(max) = usage.max_fds {
            let help = "The limit on open file descriptors.";
            gauge(&mut encoder, "process_max_fds", help, max)?;
        }
        Ok(())
    }
}

/// A gauge of `value`, the largest gauge value when it is larger.
fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: impl TryInto<i64>,
) -> Result<(), std::fmt::Error> {
    let gauge = ConstGauge::new(value.try_into().unwrap_or(i64::MAX));
    gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)
}

/// This process's figures from `/proc/self`.
struct ProcessUsage {
    resident_bytes: u64,
    cpu_seconds: f64,
    open_fds: Option<i64>,
    max_fds: Option<i64>,
}

impl ProcessUsage {
    fn read() -> Option<ProcessUsage> {
        let process = procfs::process::Process::myself().ok()?;
        let stat = process.stat().ok()?;
        let resident = stat.rss * procfs::page_size();
        let cpu = (stat.utime + stat.stime) as f64 / procfs::ticks_per_second() as f64;
        let open_fds = process.fd_count().ok().and_then(|n| i64::try_from(n).ok());
        let max_fds = rlimit::getrlimit(rlimit::Resource::NOFILE)
            .ok()
            .and_then(|(soft, _)| i64::try_from(soft).ok());
        Some(ProcessUsage {
            resident_bytes: resident,
            cpu_seconds: cpu,
            open_fds,
            max_fds,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let usage = ProcessUsage::read().expect("/proc/self/stat");
        assert!(usage.resident_bytes > 0);
        assert!(usage.cpu_seconds >= 0.0);
        assert!(usage.open_fds.is_some_and(|open| open > 0));
        assert!(usage.max_fds.is_some_and(|max| max > 0));
    }
}
