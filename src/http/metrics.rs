//! `GET /metrics`: the fabric's counters as Prometheus text.

use std::fmt::{Display, Write};

use switchyard_actors::metrics::Metrics;
use switchyard_actors::outbox::Backlog;

use crate::bus::BusMetrics;

/// The fabric's figures, and the bus's in cluster mode.
pub(super) fn render(metrics: &Metrics, backlog: &Backlog, bus: Option<&BusMetrics>) -> String {
    let gauges = [
        (
            "switchyard_connections",
            "Open websocket sessions.",
            metrics.connections.get(),
        ),
        (
            "switchyard_authenticated_connections",
            "Sessions that have authenticated.",
            metrics.authenticated_connections.get(),
        ),
        (
            "switchyard_bindings",
            "Client bindings held over all sessions.",
            metrics.bindings.get(),
        ),
        (
            "switchyard_routes",
            "Distinct internal routes in the topic index.",
            metrics.routes.get(),
        ),
        (
            "switchyard_queued_bytes",
            "Bytes queued for websocket clients over all sessions.",
            i64::try_from(backlog.bytes()).unwrap_or(i64::MAX),
        ),
    ];
    let counters = [
        (
            "switchyard_connections_total",
            "Websocket sessions opened.",
            metrics.connections_total.get(),
        ),
        (
            "switchyard_events_in_total",
            "Events accepted from the bus.",
            metrics.events_in.get(),
        ),
        (
            "switchyard_events_undeliverable_total",
            "Accepted events no client can receive.",
            metrics.events_undeliverable.get(),
        ),
        (
            "switchyard_deliveries_total",
            "Event frames queued to sockets.",
            metrics.deliveries.get(),
        ),
        (
            "switchyard_frames_in_total",
            "Text frames received from clients.",
            metrics.frames_in.get(),
        ),
        (
            "switchyard_error_replies_total",
            "Error replies sent to clients.",
            metrics.errors_replied.get(),
        ),
        (
            "switchyard_rate_limited_total",
            "Frames refused by the per-socket rate limit.",
            metrics.rate_limited.get(),
        ),
        (
            "switchyard_frames_dropped_total",
            "Frames dropped by the drop_oldest policy.",
            metrics.frames_dropped.get(),
        ),
        (
            "switchyard_slow_consumer_disconnects_total",
            "Sockets closed (1008) as slow consumers: a frame waited max_lag, or a queue passed its byte bound.",
            metrics.slow_consumer_disconnects.get(),
        ),
        (
            "switchyard_bindings_revoked_total",
            "Bindings dropped because the account directory no longer allows them.",
            metrics.bindings_revoked.get(),
        ),
        (
            "switchyard_account_removed_closes_total",
            "Sockets closed (4001) because their account left the directory.",
            metrics.account_removed_closes.get(),
        ),
        (
            "switchyard_slow_consumer_cuts_total",
            "Slow consumers cut at the TCP level: a write stalled past max_lag.",
            metrics.slow_consumer_cuts.get(),
        ),
        (
            "switchyard_slow_consumer_sheds_total",
            "Sockets closed or trimmed because the node's queued bytes passed max_queued_bytes.",
            metrics.node_sheds.get(),
        ),
    ];
    let mut text = String::with_capacity(2048);
    // The conventional names, so the load generator and dashboards read them without a pid.
    if let Some((bytes, seconds)) = own_usage() {
        let memory = (
            "process_resident_memory_bytes",
            "Resident memory of the node.",
            bytes,
        );
        write_each(&mut text, "gauge", &[memory]);
        let cpu = (
            "process_cpu_seconds_total",
            "User and system CPU time of the node.",
            seconds,
        );
        write_each(&mut text, "counter", &[cpu]);
    }
    write_each(&mut text, "gauge", &gauges);
    write_each(&mut text, "counter", &counters);
    if let Some(bus) = bus {
        render_bus(&mut text, bus);
    }
    text
}

/// One family per sample: its help, its type and its value.
fn write_each(text: &mut String, kind: &str, samples: &[(&str, &str, impl Display)]) {
    for (name, help, value) in samples {
        let _ = writeln!(
            text,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    }
}

fn render_bus(text: &mut String, bus: &BusMetrics) {
    let gauges = [
        (
            "switchyard_bus_connected",
            "1 while connected to RabbitMQ.",
            bus.connected.get(),
        ),
        (
            "switchyard_bus_bindings",
            "Bindings of this node's queue on the event exchanges.",
            bus.broker_bindings.get(),
        ),
        (
            "switchyard_bus_known_nodes",
            "Other nodes heard from within the expiry.",
            bus.known_nodes.get(),
        ),
    ];
    write_each(text, "gauge", &gauges);
    let counters = [
        (
            "switchyard_bus_reconnects_total",
            "Connections to RabbitMQ re-established after a loss.",
            bus.reconnects.get(),
        ),
        (
            "switchyard_bus_messages_consumed_total",
            "Event messages taken from RabbitMQ.",
            bus.consumed.get(),
        ),
        (
            "switchyard_bus_queries_answered_total",
            "Socket queries from other nodes answered.",
            bus.queries_answered.get(),
        ),
        (
            "switchyard_bus_remote_queries_partial_total",
            "Queries answered without every node known alive.",
            bus.remote_queries_partial.get(),
        ),
    ];
    write_each(text, "counter", &counters);
    let name = "switchyard_bus_messages_dropped_total";
    let _ = writeln!(
        text,
        "# HELP {name} Messages from RabbitMQ dropped, by reason.\n# TYPE {name} counter"
    );
    for (reason, value) in [
        ("not_json", bus.dropped_not_json.get()),
        ("unroutable", bus.dropped_unroutable.get()),
        ("unknown", bus.dropped_unknown.get()),
    ] {
        let _ = writeln!(text, "{name}{{reason=\"{reason}\"}} {value}");
    }
    let name = "switchyard_bus_remote_query_seconds";
    let seconds = bus.remote_query_micros.get() as f64 / 1e6;
    let _ = writeln!(
        text,
        "# HELP {name} Time spent asking the other nodes.\n# TYPE {name} summary\n\
         {name}_sum {seconds}\n{name}_count {}",
        bus.remote_queries.get()
    );
}

/// This process's resident memory in bytes and its user plus system CPU time in seconds, from one
/// read of `/proc/self/stat`.
fn own_usage() -> Option<(u64, f64)> {
    let stat = procfs::process::Process::myself().ok()?.stat().ok()?;
    let resident = stat.rss * procfs::page_size();
    let cpu = (stat.utime + stat.stime) as f64 / procfs::ticks_per_second() as f64;
    Some((resident, cpu))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let (resident, cpu) = own_usage().expect("/proc/self/stat");
        assert!(resident > 0);
        assert!(cpu >= 0.0);
        let text = render(&Metrics::default(), &Backlog::default(), None);
        assert!(text.contains("\nprocess_resident_memory_bytes "), "{text}");
        assert!(text.contains("\nprocess_cpu_seconds_total "), "{text}");
    }
}
