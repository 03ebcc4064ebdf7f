//! The cluster tests' harness itself (tests/common/broker.rs), against the real RabbitMQ on
//! 127.0.0.1:5672: vhosts come and go, bindings are read back, a KAZOO-like publish arrives,
//! and the TCP proxy forwards, cuts both sides and lets connections through again.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::broker::{self, TcpProxy, TestVhost};
use lapin::options::{BasicGetOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties, ExchangeKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(15);

#[test]
fn bindings_output_is_parsed_without_the_default_exchange() {
    let out = "\tq1\tq1\ncallevt\tq1\tcall.*.CHANNEL_CREATE.*\nsysconf\tq2\t\n";
    assert_eq!(
        broker::parse_bindings(out),
        vec![
            (
                "callevt".to_string(),
                "q1".to_string(),
                "call.*.CHANNEL_CREATE.*".to_string()
            ),
            ("sysconf".to_string(), "q2".to_string(), String::new()),
        ]
    );
}

#[test]
fn vhost_names_are_percent_encoded_as_one_segment() {
    assert_eq!(broker::percent_encode("a/b c%"), "a%2Fb%20c%25");
    assert_eq!(
        broker::percent_encode("switchyard-test-1-2-0a0b"),
        "switchyard-test-1-2-0a0b"
    );
}

#[test]
fn a_test_vhost_exists_until_dropped() {
    let vhost = TestVhost::create();
    let name = vhost.name().to_string();
    assert!(name.starts_with("switchyard-test-"), "{name}");
    assert_eq!(
        vhost.amqp_url().as_str(),
        format!("amqp://guest:guest@127.0.0.1:5672/{name}")
    );
    let proxy: SocketAddr = "127.0.0.1:4000".parse().unwrap();
    assert_eq!(
        vhost.amqp_url_via(proxy).as_str(),
        format!("amqp://guest:guest@127.0.0.1:4000/{name}")
    );
    assert!(broker::list_vhosts().contains(&name), "{name} not created");
    assert!(vhost.bindings().is_empty(), "a fresh vhost has no bindings");
    drop(vhost);
    assert!(!broker::list_vhosts().contains(&name), "{name} not deleted");
}

/// `publish_raw` into a fresh vhost creates the (missing) topic exchange, and the message
/// arrives with its body and content type; `bindings` shows the queue's binding and not the
/// default exchange's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_raw_creates_the_exchange_and_the_message_arrives() {
    let vhost = tokio::task::block_in_place(TestVhost::create);
    let url = vhost.amqp_url();
    let connection = Connection::connect(url.as_str(), ConnectionProperties::default())
        .await
        .unwrap();
    let channel = broker::channel_with_exchange(&connection, "callevt", ExchangeKind::Topic)
        .await
        .unwrap();
    let queue = channel
        .queue_declare(
            "harness-q".into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    channel
        .queue_bind(
            queue.name().clone(),
            "callevt".into(),
            "call.*.CHANNEL_CREATE.*".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let bindings = tokio::task::block_in_place(|| vhost.bindings());
    assert_eq!(
        bindings,
        vec![(
            "callevt".to_string(),
            "harness-q".to_string(),
            "call.*.CHANNEL_CREATE.*".to_string()
        )]
    );

    // The exchange exists now: the passive declare takes it as it is.
    broker::publish_raw(
        &url,
        "callevt",
        "call.acct.CHANNEL_CREATE.abc",
        br#"{"Event-Name":"CHANNEL_CREATE"}"#,
        Some("application/json"),
    )
    .await;
    let message = channel
        .basic_get("harness-q".into(), BasicGetOptions { no_ack: true })
        .await
        .unwrap()
        .expect("the published message is in the queue");
    assert_eq!(message.delivery.data, br#"{"Event-Name":"CHANNEL_CREATE"}"#);
    assert_eq!(
        message
            .delivery
            .properties
            .content_type()
            .as_ref()
            .map(|ct| ct.as_str()),
        Some("application/json")
    );

    // An exchange nobody declared yet is created by the publish itself.
    broker::publish_raw(&url, "sysconf", "websockets.get", b"{}", None).await;
    let bound = channel
        .queue_bind(
            queue.name().clone(),
            "sysconf".into(),
            "#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await;
    assert!(bound.is_ok(), "sysconf was not created: {bound:?}");
    connection.close(200, "done".into()).await.unwrap();
    tokio::task::block_in_place(move || drop(vhost));
}

/// AMQP goes through the proxy as through the broker itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_goes_through_the_proxy() {
    let vhost = tokio::task::block_in_place(TestVhost::create);
    let proxy = TcpProxy::start(broker::BROKER.parse().unwrap()).await;
    broker::publish_raw(
        &vhost.amqp_url_via(proxy.addr()),
        "callevt",
        "call.a.CHANNEL_CREATE.b",
        b"{}",
        None,
    )
    .await;
    tokio::task::block_in_place(move || drop(vhost));
}

/// A loopback echo server that counts the connections it accepted and reports each one's end.
struct Echo {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    closed: mpsc::UnboundedReceiver<()>,
}

async fn echo_server() -> Echo {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let (closed_tx, closed) = mpsc::unbounded_channel();
    let counter = Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let closed_tx = closed_tx.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                loop {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if socket.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    }
                }
                let _ = closed_tx.send(());
            });
        }
    });
    Echo {
        addr,
        accepted,
        closed,
    }
}

async fn round_trip(client: &mut TcpStream, text: &[u8]) {
    client.write_all(text).await.unwrap();
    let mut back = vec![0u8; text.len()];
    tokio::time::timeout(WAIT, client.read_exact(&mut back))
        .await
        .expect("the echo came back in time")
        .expect("the echo came back");
    assert_eq!(back, text);
}

/// The connection is closed: a read ends (EOF or reset) instead of waiting.
async fn assert_closed(client: &mut TcpStream, what: &str) {
    let mut buf = [0u8; 16];
    match tokio::time::timeout(WAIT, client.read(&mut buf)).await {
        Ok(Ok(0)) | Ok(Err(_)) => {}
        Ok(Ok(n)) => panic!("{what}: read {n} bytes from a connection that should be closed"),
        Err(_) => panic!("{what}: still open after {WAIT:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_forwards_cuts_both_sides_and_restores() {
    let mut echo = echo_server().await;
    let proxy = TcpProxy::start(echo.addr).await;

    let mut first = TcpStream::connect(proxy.addr()).await.unwrap();
    round_trip(&mut first, b"hello").await;
    let mut second = TcpStream::connect(proxy.addr()).await.unwrap();
    round_trip(&mut second, b"again").await;
    assert_eq!(echo.accepted.load(Ordering::SeqCst), 2);
    assert_eq!(proxy.live_connections(), 2);

    proxy.cut();
    assert_closed(&mut first, "the client side of the first connection").await;
    assert_closed(&mut second, "the client side of the second connection").await;
    for _ in 0..2 {
        tokio::time::timeout(WAIT, echo.closed.recv())
            .await
            .expect("the server side saw the connection close")
            .unwrap();
    }
    // Each connection's task counts itself out just after closing its sockets.
    let deadline = tokio::time::Instant::now() + WAIT;
    while proxy.live_connections() != 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "cut connections still counted"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // Cut: a new connection is accepted and closed at once, and never reaches the target.
    let mut refused = TcpStream::connect(proxy.addr()).await.unwrap();
    let _ = refused.write_all(b"anyone?").await;
    assert_closed(&mut refused, "a connection made while cut").await;
    assert_eq!(echo.accepted.load(Ordering::SeqCst), 2);

    proxy.restore();
    let mut third = TcpStream::connect(proxy.addr()).await.unwrap();
    round_trip(&mut third, b"back").await;
    assert_eq!(echo.accepted.load(Ordering::SeqCst), 3);
    assert_eq!(proxy.live_connections(), 1);

    // Dropping the proxy closes what it forwards.
    drop(proxy);
    assert_closed(&mut third, "a connection of a dropped proxy").await;
}
