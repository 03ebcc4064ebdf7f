//! The node's two URLs (`ws://…`, `http://…`): parsed with the url crate and resolved once, at
//! start, so that a typo is a bad flag rather than a thousand failed connections.

use std::net::SocketAddr;

use url::Url;

/// `raw` parsed, checked to be of one of `schemes` (e.g. `["ws", "wss"]`), and its host resolved
/// (the scheme's default port when it names none). `what` names the expected kind in errors,
/// e.g. `"a ws:// URL"`.
pub(crate) fn parse(raw: &str, schemes: &[&str], what: &str) -> Result<(Url, SocketAddr), String> {
    let url = Url::parse(raw).map_err(|e| format!("{raw:?} is not {what}: {e}"))?;
    if !schemes.contains(&url.scheme()) {
        return Err(format!("{raw:?} is not {what}"));
    }
    let host = url.host_str().unwrap_or_default();
    let addr = url
        .socket_addrs(|| None)
        .map_err(|e| format!("{raw:?}: cannot resolve {host}: {e}"))?
        .into_iter()
        .next()
        .ok_or_else(|| format!("{raw:?}: {host} resolves to no address"))?;
    Ok((url, addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_resolves() {
        let (url, addr) = parse("ws://127.0.0.1:5555/a/b", &["ws"], "a ws:// URL").unwrap();
        assert_eq!(addr, "127.0.0.1:5555".parse().unwrap());
        assert_eq!(url.path(), "/a/b");
        let (url, addr) = parse("http://[::1]", &["http"], "an http:// URL").unwrap();
        assert_eq!(addr, "[::1]:80".parse().unwrap());
        assert_eq!(url.path(), "/");
        let (_, addr) = parse("wss://127.0.0.1", &["ws", "wss"], "a ws:// URL").unwrap();
        assert_eq!(addr.port(), 443);
    }

    #[test]
    fn names_what_is_wrong() {
        let error = |raw| parse(raw, &["ws"], "a ws:// URL").unwrap_err();
        assert_eq!(error("http://x:1"), "\"http://x:1\" is not a ws:// URL");
        assert!(error("ws://").starts_with("\"ws://\" is not a ws:// URL: "));
        assert!(error("ws://[zz]:1").starts_with("\"ws://[zz]:1\" is not a ws:// URL: "));
        assert!(error("127.0.0.1:5555").contains("is not a ws:// URL"));
    }
}
