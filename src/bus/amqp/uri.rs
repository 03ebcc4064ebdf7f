//! The `--bus` URL as lapin takes it. lapin's own parser reads the host with `Url::domain`, which
//! is empty for an IP address, and then silently connects to `localhost`: the host is taken
//! from the URL here instead.

use std::str::FromStr;

use lapin::uri::{AMQPScheme, AMQPUri};
use url::{Host, Url};

pub(crate) fn broker_uri(url: &Url) -> Result<AMQPUri, String> {
    let mut uri = AMQPUri::from_str(url.as_str())?;
    if uri.scheme == AMQPScheme::AMQPS {
        return Err("amqps:// (TLS to the broker) is not built in yet; use amqp://".to_string());
    }
    uri.authority.host = match url.host() {
        Some(Host::Domain(domain)) => domain.to_string(),
        Some(Host::Ipv4(ip)) => ip.to_string(),
        Some(Host::Ipv6(ip)) => ip.to_string(),
        None => return Err("names no host".to_string()),
    };
    Ok(uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(text: &str) -> Result<AMQPUri, String> {
        broker_uri(&Url::parse(text).unwrap())
    }

    #[test]
    fn ip_hosts_are_kept() {
        let parsed = uri("amqp://guest:pw@10.1.2.3:5673/vh?heartbeat=10").unwrap();
        assert_eq!(parsed.authority.host, "10.1.2.3");
        assert_eq!(parsed.authority.port, 5673);
        assert_eq!(parsed.authority.userinfo.password, "pw");
        assert_eq!(parsed.vhost, "vh");
        assert_eq!(parsed.query.heartbeat, Some(10));
        assert_eq!(uri("amqp://[::1]/%2f").unwrap().authority.host, "::1");
        assert_eq!(
            uri("amqp://rabbit.local").unwrap().authority.host,
            "rabbit.local"
        );
    }

    #[test]
    fn refused_with_a_reason() {
        assert!(uri("amqps://h/").unwrap_err().contains("amqps"));
        assert!(uri("amqp://h/?heartbeat=often").is_err());
    }
}
