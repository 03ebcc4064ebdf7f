//! The node's two URLs (`ws://…`, `http://…`): split and resolved once, at start.

use std::net::{SocketAddr, ToSocketAddrs};

/// A URL of `scheme` split into its authority (`host[:port]`), resolved, and the rest (the path,
/// possibly empty).
pub struct Parsed<'a> {
    pub authority: &'a str,
    pub addr: SocketAddr,
    pub path: &'a str,
}

/// `scheme` is the prefix, e.g. `"ws://"`; `what` names it in the error, e.g. `"a ws:// URL"`.
pub fn parse<'a>(url: &'a str, scheme: &str, what: &str) -> Result<Parsed<'a>, String> {
    let rest = url
        .strip_prefix(scheme)
        .ok_or_else(|| format!("{url:?} is not {what}"))?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if authority.is_empty() {
        return Err(format!("{url:?} has no host"));
    }
    // A port is what follows the last colon, unless that colon is inside an IPv6 literal.
    let has_port = authority
        .rsplit_once(':')
        .is_some_and(|(_, port)| !port.contains(']'));
    let with_port = if has_port {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let addr = with_port
        .to_socket_addrs()
        .map_err(|e| format!("{url:?}: cannot resolve {authority}: {e}"))?
        .next()
        .ok_or_else(|| format!("{url:?}: {authority} resolves to no address"))?;
    Ok(Parsed {
        authority,
        addr,
        path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_resolves() {
        let parsed = parse("ws://127.0.0.1:5555/a/b", "ws://", "a ws:// URL").unwrap();
        assert_eq!(parsed.authority, "127.0.0.1:5555");
        assert_eq!(parsed.addr, "127.0.0.1:5555".parse().unwrap());
        assert_eq!(parsed.path, "/a/b");
        let parsed = parse("http://[::1]", "http://", "an http:// URL").unwrap();
        assert_eq!(parsed.addr, "[::1]:80".parse().unwrap());
        assert_eq!(parsed.path, "");
    }

    #[test]
    fn names_what_is_wrong() {
        let error = |url| parse(url, "ws://", "a ws:// URL").err().unwrap();
        assert_eq!(error("http://x:1"), "\"http://x:1\" is not a ws:// URL");
        assert_eq!(error("ws:///x"), "\"ws:///x\" has no host");
        assert!(error("ws://[zz]:1").contains("cannot resolve [zz]:1"));
    }
}
