//! The REST paths (SPEC 6) and which methods each takes. Resolving a path first and its method
//! second gives the order the spec asks: unknown path 404, then wrong method 405.

use warp::http::Method;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Route {
    Catalogue,
    AccountSockets {
        account: String,
    },
    AccountSocket {
        account: String,
        socket_id: String,
    },
    KickSocket {
        account: String,
        socket_id: String,
    },
    PublishEvents,
    /// This node stops taking sockets and closes its own gradually.
    Drain,
    Metrics,
    Healthz,
    Readyz,
}

impl Route {
    /// Looks at the node without asking it for work: still answered while it stops.
    pub(super) fn observes(&self) -> bool {
        matches!(self, Route::Metrics | Route::Healthz | Route::Readyz)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RouteError {
    NotFound,
    /// The path exists; these are the methods it takes.
    MethodNotAllowed {
        allowed: &'static str,
    },
}

pub(super) fn resolve(method: &Method, path: &str) -> Result<Route, RouteError> {
    let path = path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path);
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let only = |allowed: &'static str, route: Route| {
        if method.as_str() == allowed {
            Ok(route)
        } else {
            Err(RouteError::MethodNotAllowed { allowed })
        }
    };
    match segments.as_slice() {
        ["v2", "websockets"] => only("GET", Route::Catalogue),
        ["v2", "accounts", account, "websockets"] => only(
            "GET",
            Route::AccountSockets {
                account: account.to_string(),
            },
        ),
        ["v2", "accounts", account, "websockets", socket_id] => {
            let (account, socket_id) = (account.to_string(), socket_id.to_string());
            match *method {
                Method::GET => Ok(Route::AccountSocket { account, socket_id }),
                Method::DELETE => Ok(Route::KickSocket { account, socket_id }),
                _ => Err(RouteError::MethodNotAllowed {
                    allowed: "GET, DELETE",
                }),
            }
        }
        ["v2", "events"] => only("POST", Route::PublishEvents),
        ["v2", "drain"] => only("POST", Route::Drain),
        ["metrics"] => only("GET", Route::Metrics),
        ["healthz"] => only("GET", Route::Healthz),
        ["readyz"] => only("GET", Route::Readyz),
        _ => Err(RouteError::NotFound),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve() {
        assert_eq!(
            resolve(&Method::GET, "/v2/websockets"),
            Ok(Route::Catalogue)
        );
        assert_eq!(
            resolve(&Method::GET, "/v2/websockets/"),
            Ok(Route::Catalogue)
        );
        assert_eq!(
            resolve(&Method::DELETE, "/v2/accounts/a/websockets/s"),
            Ok(Route::KickSocket {
                account: "a".into(),
                socket_id: "s".into()
            })
        );
        assert_eq!(
            resolve(&Method::POST, "/v2/events"),
            Ok(Route::PublishEvents)
        );
    }

    #[test]
    fn unknown_paths_are_404_before_methods_are_405() {
        assert_eq!(resolve(&Method::POST, "/nope"), Err(RouteError::NotFound));
        assert_eq!(resolve(&Method::GET, "/"), Err(RouteError::NotFound));
        assert_eq!(
            resolve(&Method::GET, "/v2/accounts/a/websockets/s/x"),
            Err(RouteError::NotFound)
        );
        assert_eq!(
            resolve(&Method::POST, "/v2/websockets"),
            Err(RouteError::MethodNotAllowed { allowed: "GET" })
        );
        assert_eq!(
            resolve(&Method::GET, "/v2/events"),
            Err(RouteError::MethodNotAllowed { allowed: "POST" })
        );
        assert_eq!(
            resolve(&Method::PUT, "/v2/accounts/a/websockets/s"),
            Err(RouteError::MethodNotAllowed {
                allowed: "GET, DELETE"
            })
        );
    }
}
