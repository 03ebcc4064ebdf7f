//! The node's own figures: its `/metrics`, and its memory and CPU time from `/proc/{pid}` when
//! the run knows its pid (else the `process_*` samples of its `/metrics`). With several nodes
//! (--http-url repeated), every figure is the sum over the nodes, and each node's own figures
//! are kept alongside.

use std::collections::BTreeMap;

use bytes::Bytes;
use hyper::Method;
use serde::Serialize;

use super::rest_client::{RestClient, RestError, RestTarget};

#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum ProbeError {
    #[error(transparent)]
    Rest(#[from] RestError),
    #[error("--node-pid {pid}: cannot read /proc/{pid}/stat: {reason}")]
    Pid { pid: u32, reason: String },
}

/// The node (or the sum of the nodes) at one moment.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct NodeFigures {
    pub(crate) rss_bytes: Option<u64>,
    pub(crate) cpu_seconds: Option<f64>,
    /// Every sample of `/metrics`, by name.
    pub(crate) metrics: BTreeMap<String, f64>,
    /// With several nodes: each one's figures, in --http-url order (the above are their sums).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) nodes: Vec<NodeFigures>,
}

impl NodeFigures {
    pub(crate) fn metric(&self, name: &str) -> Option<u64> {
        self.metrics.get(name).map(|v| *v as u64)
    }

    /// Open websocket sessions, as the node counts them.
    pub(crate) fn connections(&self) -> Option<u64> {
        self.metric("switchyard_connections")
    }

    /// Each node's open websocket sessions (one entry for a single node).
    pub(crate) fn connections_per_node(&self) -> Vec<Option<u64>> {
        if self.nodes.is_empty() {
            vec![self.connections()]
        } else {
            self.nodes.iter().map(NodeFigures::connections).collect()
        }
    }

    /// The sum of `nodes`' figures, keeping each. A figure missing on one node is missing.
    fn sum(nodes: Vec<NodeFigures>) -> NodeFigures {
        let mut metrics = BTreeMap::new();
        for node in &nodes {
            for (name, value) in &node.metrics {
                *metrics.entry(name.clone()).or_insert(0.0) += value;
            }
        }
        NodeFigures {
            rss_bytes: nodes.iter().map(|n| n.rss_bytes).sum(),
            cpu_seconds: nodes.iter().map(|n| n.cpu_seconds).sum(),
            metrics,
            nodes,
        }
    }
}

/// Reads every probed node's figures (summed when there are several).
pub(crate) struct NodeProbe {
    nodes: Vec<RestClient>,
    pid: Option<u32>,
}

impl NodeProbe {
    /// `pid` is for a single node.
    pub(crate) fn new(targets: Vec<RestTarget>, pid: Option<u32>) -> NodeProbe {
        NodeProbe {
            nodes: targets.into_iter().map(RestClient::new).collect(),
            pid,
        }
    }

    pub(crate) async fn read(&mut self) -> Result<NodeFigures, ProbeError> {
        if let [rest] = self.nodes.as_mut_slice() {
            return read_one(rest, self.pid).await;
        }
        let mut nodes = Vec::with_capacity(self.nodes.len());
        for rest in &mut self.nodes {
            nodes.push(read_one(rest, None).await?);
        }
        Ok(NodeFigures::sum(nodes))
    }
}

async fn read_one(rest: &mut RestClient, pid: Option<u32>) -> Result<NodeFigures, ProbeError> {
    let text = rest
        .expect_success(Method::GET, "/metrics", None, Bytes::new())
        .await?;
    let metrics = parse_prometheus(&String::from_utf8_lossy(&text));
    let (rss_bytes, cpu_seconds) = match pid {
        Some(pid) => {
            let (rss, cpu) = proc_usage(pid).map_err(|reason| ProbeError::Pid { pid, reason })?;
            (Some(rss), Some(cpu))
        }
        None => (
            metrics
                .get("process_resident_memory_bytes")
                .map(|v| *v as u64),
            metrics.get("process_cpu_seconds_total").copied(),
        ),
    };
    Ok(NodeFigures {
        rss_bytes,
        cpu_seconds,
        metrics,
        nodes: Vec::new(),
    })
}

/// Resident bytes and user plus system CPU seconds of process `pid`, from one read of
/// `/proc/{pid}/stat`.
fn proc_usage(pid: u32) -> Result<(u64, f64), String> {
    let pid = i32::try_from(pid).map_err(|_| "not a process id".to_string())?;
    let stat = procfs::process::Process::new(pid)
        .and_then(|process| process.stat())
        .map_err(|e| e.to_string())?;
    let resident = stat.rss * procfs::page_size();
    let cpu = (stat.utime + stat.stime) as f64 / procfs::ticks_per_second() as f64;
    Ok((resident, cpu))
}

/// `name value` samples of the Prometheus text format; labelled samples keep their labels in
/// the name.
fn parse_prometheus(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            Some((name.trim().to_string(), value.trim().parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_process_by_pid_and_names_a_missing_one() {
        let (resident, cpu) = proc_usage(std::process::id()).unwrap();
        assert!(resident > 0 && cpu >= 0.0);
        assert!(proc_usage(u32::MAX).is_err());
        assert!(proc_usage(i32::MAX as u32).is_err());
    }

    #[test]
    fn several_nodes_add_up_and_each_is_kept() {
        let node = |rss, connections| NodeFigures {
            rss_bytes: rss,
            cpu_seconds: Some(1.5),
            metrics: [("switchyard_connections".to_string(), connections)].into(),
            nodes: Vec::new(),
        };
        let both = NodeFigures::sum(vec![node(Some(100), 3.0), node(Some(50), 4.0)]);
        assert_eq!(both.rss_bytes, Some(150));
        assert_eq!(both.cpu_seconds, Some(3.0));
        assert_eq!(both.connections(), Some(7));
        assert_eq!(both.connections_per_node(), [Some(3), Some(4)]);
        let unknown = NodeFigures::sum(vec![node(Some(100), 3.0), node(None, 4.0)]);
        assert_eq!(unknown.rss_bytes, None);
        assert_eq!(node(None, 2.0).connections_per_node(), [Some(2)]);
    }

    #[test]
    fn parses_samples_and_skips_comments() {
        let metrics = parse_prometheus(
            "# HELP a A.\n# TYPE a gauge\na 3\nb{x=\"1 2\"} 4.5\nbroken\nc notanumber\n",
        );
        assert_eq!(metrics.len(), 2);
        assert_eq!(metrics["a"], 3.0);
        assert_eq!(metrics["b{x=\"1 2\"}"], 4.5);
    }
}
