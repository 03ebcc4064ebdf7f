//! Real RabbitMQ for the cluster tests (SPEC 8). Nothing is mocked: a test gets a vhost of its
//! own on the broker at 127.0.0.1:5672 ([`TestVhost`]), may put a [`TcpProxy`] between a node
//! and the broker to take the broker away and give it back, and may publish like KAZOO does
//! ([`publish_raw`]).
//!
//! [`ensure_running`] starts the broker the way `.ci/run` does (`.ci/ensure-rabbitmq`), so a
//! plain `cargo test` on a fresh machine installs and starts it (that needs root or
//! password-less sudo); where a broker already answers it is used as it is, never restarted.
//!
//! Vhosts are made and dropped with `rabbitmqctl`, which starts an Erlang VM per call: about
//! 0.6 to 1 s a call on a quiet 2-core machine (`add_vhost` 0.65 s, `set_permissions` 0.95 s,
//! `list_bindings` 0.75 s, `delete_vhost` 0.65 s, measured), more under load. So
//! [`TestVhost::create`] costs about 1.6 s, its drop about 0.7 s, and a binding check about
//! 0.75 s: poll [`TestVhost::bindings`] with a deadline, not in a tight loop. These calls block
//! the calling thread (std::process::Command, no async variants): from a
//! `#[tokio::test(flavor = "multi_thread")]` either accept that (it stalls one worker) or wrap
//! them in `tokio::task::block_in_place` / `spawn_blocking`, dropping the vhost there too. Never
//! call them from a current-thread runtime while it must serve a node. A test that is killed
//! leaves its vhost behind; remove strays with
//! `rabbitmqctl list_vhosts --quiet --no-table-headers | grep '^switchyard-test-' | xargs -rn1 rabbitmqctl delete_vhost`.

use std::net::{SocketAddr, TcpStream as StdTcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions,
    QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use url::Url;

/// Where the tests expect RabbitMQ (guest/guest is allowed from loopback only).
pub const BROKER: &str = "127.0.0.1:5672";

fn broker_addr() -> SocketAddr {
    BROKER.parse().expect("BROKER is a socket address")
}

fn broker_answers() -> bool {
    StdTcpStream::connect_timeout(&broker_addr(), Duration::from_secs(2)).is_ok()
}

/// Makes sure RabbitMQ answers on [`BROKER`], once per test process: if nothing answers, runs
/// `.ci/ensure-rabbitmq` (which installs and starts it) and panics, saying why, if that fails.
/// Later calls repeat the first verdict without looking again.
pub fn ensure_running() {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    let verdict = READY.get_or_init(|| {
        if broker_answers() {
            return Ok(());
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/ensure-rabbitmq");
        let output = Command::new(&script)
            .output()
            .map_err(|e| format!("could not run {}: {e}", script.display()))?;
        if !output.status.success() {
            return Err(format!(
                "{} failed ({}): {}{}",
                script.display(),
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr),
            ));
        }
        if broker_answers() {
            Ok(())
        } else {
            Err(format!(
                "{} succeeded but nothing answers on {BROKER}",
                script.display()
            ))
        }
    });
    if let Err(why) = verdict {
        panic!("RabbitMQ is needed on {BROKER} for this test and is not there: {why}");
    }
}

/// `rabbitmqctl`, from the PATH or where Debian puts it (a non-root PATH may lack /usr/sbin).
fn rabbitmqctl_path() -> &'static str {
    static PATH: OnceLock<String> = OnceLock::new();
    PATH.get_or_init(|| {
        let on_path = std::env::var_os("PATH").is_some_and(|paths| {
            std::env::split_paths(&paths).any(|dir| dir.join("rabbitmqctl").is_file())
        });
        if on_path {
            return "rabbitmqctl".to_string();
        }
        ["/usr/sbin/rabbitmqctl", "/usr/local/sbin/rabbitmqctl"]
            .into_iter()
            .find(|path| Path::new(path).exists())
            .unwrap_or("rabbitmqctl")
            .to_string()
    })
}

/// Runs `rabbitmqctl ARGS`: its stdout, or its failure in words.
fn rabbitmqctl(args: &[&str]) -> Result<String, String> {
    let output = Command::new(rabbitmqctl_path())
        .args(args)
        .output()
        .map_err(|e| format!("could not run rabbitmqctl: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "rabbitmqctl {} failed ({}): {}{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stdout).trim(),
            String::from_utf8_lossy(&output.stderr).trim(),
        ))
    }
}

/// The vhost names on the broker (`rabbitmqctl list_vhosts`).
pub fn list_vhosts() -> Vec<String> {
    rabbitmqctl(&["list_vhosts", "--quiet", "--no-table-headers"])
        .unwrap_or_else(|e| panic!("{e}"))
        .lines()
        .map(str::to_string)
        .collect()
}

/// A vhost of one test's own, `guest` allowed everything in it, deleted on drop: tests share
/// one broker without seeing each other's exchanges, queues or bindings.
pub struct TestVhost {
    name: String,
}

impl TestVhost {
    /// Blocks for about 1.6 s (two `rabbitmqctl` calls); see the module's notes.
    pub fn create() -> TestVhost {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        ensure_running();
        let name = format!(
            "switchyard-test-{}-{}-{:08x}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            rand::random::<u32>()
        );
        rabbitmqctl(&["add_vhost", &name]).unwrap_or_else(|e| panic!("{e}"));
        // Dropped from here on, so a failure below still removes the vhost.
        let vhost = TestVhost { name };
        rabbitmqctl(&[
            "set_permissions",
            "-p",
            &vhost.name,
            "guest",
            ".*",
            ".*",
            ".*",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        vhost
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `amqp://guest:guest@127.0.0.1:5672/{vhost}`, the vhost percent-encoded.
    pub fn amqp_url(&self) -> Url {
        self.amqp_url_via(broker_addr())
    }

    /// The same vhost reached through `addr`, a [`TcpProxy`] in front of the broker.
    pub fn amqp_url_via(&self, addr: SocketAddr) -> Url {
        Url::parse(&format!(
            "amqp://guest:guest@{addr}/{}",
            percent_encode(&self.name)
        ))
        .expect("an amqp URL")
    }

    /// The vhost's bindings as `(source exchange, destination, routing key)`, in
    /// `rabbitmqctl`'s order; the default exchange's implicit bindings (source `""`, one per
    /// queue) are left out. Blocks for about 0.75 s.
    pub fn bindings(&self) -> Vec<(String, String, String)> {
        let out = rabbitmqctl(&[
            "list_bindings",
            "-p",
            &self.name,
            "source_name",
            "destination_name",
            "routing_key",
            "--quiet",
            "--no-table-headers",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        parse_bindings(&out)
    }
}

impl Drop for TestVhost {
    /// Blocks for about 0.7 s. A failure is reported, not raised: a panic here during a
    /// failing test's unwinding would abort the whole test binary.
    fn drop(&mut self) {
        if let Err(e) = rabbitmqctl(&["delete_vhost", &self.name]) {
            eprintln!("test vhost {} left behind: {e}", self.name);
        }
    }
}

/// `rabbitmqctl list_bindings … --quiet --no-table-headers` output: one binding a line,
/// tab-separated; lines whose source is empty (the default exchange) are left out.
pub fn parse_bindings(out: &str) -> Vec<(String, String, String)> {
    out.lines()
        .filter_map(|line| {
            let mut fields = line.splitn(3, '\t');
            let source = fields.next()?;
            let destination = fields.next()?;
            let routing_key = fields.next().unwrap_or("");
            (!source.is_empty()).then(|| {
                (
                    source.to_string(),
                    destination.to_string(),
                    routing_key.to_string(),
                )
            })
        })
        .collect()
}

/// Every byte but `A-Z a-z 0-9 - . _ ~` as `%XX`, so that a vhost is one path segment.
pub fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A channel on which `exchange` exists: declared passively first (it is left as it is when
/// it exists, whatever its kind), else created as `kind`, not durable, not auto-deleted. A
/// failed passive declare closes its channel, so the creating one is a new channel. The
/// default exchange (`""`) always exists and cannot be declared.
pub async fn channel_with_exchange(
    connection: &Connection,
    exchange: &str,
    kind: ExchangeKind,
) -> lapin::Result<Channel> {
    let channel = connection.create_channel().await?;
    if exchange.is_empty() {
        return Ok(channel);
    }
    let passive = ExchangeDeclareOptions {
        passive: true,
        ..ExchangeDeclareOptions::default()
    };
    if channel
        .exchange_declare(
            exchange.into(),
            kind.clone(),
            passive,
            FieldTable::default(),
        )
        .await
        .is_ok()
    {
        return Ok(channel);
    }
    let channel = connection.create_channel().await?;
    let create = ExchangeDeclareOptions {
        durable: false,
        auto_delete: false,
        ..ExchangeDeclareOptions::default()
    };
    channel
        .exchange_declare(exchange.into(), kind, create, FieldTable::default())
        .await?;
    Ok(channel)
}

/// A queue of the test's own (server-named, exclusive) bound on `exchange` under `key`, or
/// under its own name when `key` is `None` (a reply queue on `targeted`, as KAZOO's crossbar
/// has), and a consumer of it without acks. Returns the queue's name and the consumer.
pub async fn bound_consumer(
    channel: &Channel,
    exchange: &str,
    key: Option<&str>,
) -> (String, lapin::Consumer) {
    let queue = channel
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("declare a queue");
    let queue = queue.name().to_string();
    channel
        .queue_bind(
            queue.as_str().into(),
            exchange.into(),
            key.unwrap_or(&queue).into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("bind the queue");
    let consumer = channel
        .basic_consume(
            queue.as_str().into(),
            "".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..BasicConsumeOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("consume the queue");
    (queue, consumer)
}

/// Publishes one message as KAZOO would, on its own connection: the exchange made if missing
/// (a topic exchange: KAZOO's event exchanges are topic ones; `targeted` is direct, so let the
/// node declare that one first), publisher confirms on, and it returns once the broker acked
/// the message and the connection is closed. Panics, saying what failed, otherwise.
pub async fn publish_raw(
    url: &Url,
    exchange: &str,
    routing_key: &str,
    body: &[u8],
    content_type: Option<&str>,
) {
    let what = format!("publishing to {exchange:?} with key {routing_key:?} on {url}");
    let connection = Connection::connect(url.as_str(), ConnectionProperties::default())
        .await
        .unwrap_or_else(|e| panic!("{what}: connect: {e}"));
    let channel = channel_with_exchange(&connection, exchange, ExchangeKind::Topic)
        .await
        .unwrap_or_else(|e| panic!("{what}: declare the exchange: {e}"));
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{what}: confirm.select: {e}"));
    let mut properties = BasicProperties::default();
    if let Some(content_type) = content_type {
        properties = properties.with_content_type(content_type.into());
    }
    let confirm = channel
        .basic_publish(
            exchange.into(),
            routing_key.into(),
            BasicPublishOptions::default(),
            body,
            properties,
        )
        .await
        .unwrap_or_else(|e| panic!("{what}: basic.publish: {e}"))
        .await
        .unwrap_or_else(|e| panic!("{what}: waiting for the confirm: {e}"));
    assert!(confirm.is_ack(), "{what}: the broker nacked it");
    connection
        .close(200, "done".into())
        .await
        .unwrap_or_else(|e| panic!("{what}: close: {e}"));
}

/// The proxy's switch: every connection remembers the generation it was accepted in and is
/// closed when the generation moves on.
#[derive(Clone, Copy)]
struct ProxyState {
    generation: u64,
    cut: bool,
}

/// A TCP proxy on 127.0.0.1 in front of `target` (the broker), to take the broker away from a
/// node and give it back without touching the broker. [`TcpProxy::cut`] closes every
/// forwarded connection, both sides (each sees its peer close), and turns new connections away
/// (accepted, then closed at once) until [`TcpProxy::restore`]. Dropping the proxy closes
/// everything and stops listening.
pub struct TcpProxy {
    addr: SocketAddr,
    state: watch::Sender<ProxyState>,
    live: Arc<AtomicUsize>,
    listener: JoinHandle<()>,
}

impl TcpProxy {
    pub async fn start(target: SocketAddr) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy on loopback");
        let addr = listener.local_addr().expect("the proxy's address");
        let (state, _) = watch::channel(ProxyState {
            generation: 0,
            cut: false,
        });
        let live = Arc::new(AtomicUsize::new(0));
        let listener = tokio::spawn(accept_loop(
            listener,
            target,
            state.subscribe(),
            Arc::clone(&live),
        ));
        TcpProxy {
            addr,
            state,
            live,
            listener,
        }
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes every forwarded connection and refuses new ones until [`TcpProxy::restore`].
    /// Returns at once; the connections' tasks close their sockets right after (see
    /// [`TcpProxy::live_connections`] to wait for it).
    pub fn cut(&self) {
        self.state.send_modify(|state| {
            state.generation += 1;
            state.cut = true;
        });
    }

    /// Lets new connections through again. Connections cut before stay closed.
    pub fn restore(&self) {
        self.state.send_modify(|state| state.cut = false);
    }

    /// Connections being forwarded now (both sockets open).
    pub fn live_connections(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.listener.abort();
        // The connections' tasks see the generation move, and close.
        self.cut();
    }
}

async fn accept_loop(
    listener: TcpListener,
    target: SocketAddr,
    state: watch::Receiver<ProxyState>,
    live: Arc<AtomicUsize>,
) {
    loop {
        let client = match listener.accept().await {
            Ok((client, _)) => client,
            Err(_) => {
                // Out of descriptors or a connection reset before it was accepted: go on.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let now = *state.borrow();
        if now.cut {
            drop(client);
            continue;
        }
        tokio::spawn(forward(
            client,
            target,
            now.generation,
            state.clone(),
            Arc::clone(&live),
        ));
    }
}

/// Copies both ways until either side closes or the proxy is cut; then both sockets are
/// dropped, which closes them.
async fn forward(
    mut client: TcpStream,
    target: SocketAddr,
    generation: u64,
    mut state: watch::Receiver<ProxyState>,
    live: Arc<AtomicUsize>,
) {
    let cut = async move {
        // An error means the proxy is gone: that is a cut too.
        let _ = state.wait_for(|s| s.generation != generation).await;
    };
    tokio::pin!(cut);
    let mut upstream = tokio::select! {
        connected = TcpStream::connect(target) => match connected {
            Ok(upstream) => upstream,
            Err(_) => return,
        },
        _ = &mut cut => return,
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    live.fetch_add(1, Ordering::SeqCst);
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
        _ = &mut cut => {}
    }
    drop(client);
    drop(upstream);
    live.fetch_sub(1, Ordering::SeqCst);
}
