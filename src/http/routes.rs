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
    /// The OpenAPI document of all of these (`docs/openapi.json`).
    OpenApi,
}

impl Route {
    /// The route's name in metrics: a fixed set, never a path's account or socket id.
    pub(super) fn label(&self) -> &'static str {
        match self {
            Route::Catalogue => "catalogue",
            Route::AccountSockets { .. } => "account_sockets",
            Route::AccountSocket { .. } => "account_socket",
            Route::KickSocket { .. } => "kick_socket",
            Route::PublishEvents => "publish_events",
            Route::Drain => "drain",
            Route::Metrics => "metrics",
            Route::Healthz => "healthz",
            Route::Readyz => "readyz",
            Route::OpenApi => "openapi",
        }
    }

    /// Looks at the node without asking it for work: still answered while it stops.
    pub(super) fn observes(&self) -> bool {
        matches!(
            self,
            Route::Metrics | Route::Healthz | Route::Readyz | Route::OpenApi
        )
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
        ["openapi.json"] => only("GET", Route::OpenApi),
        _ => Err(RouteError::NotFound),
    }
}

/// The document `GET /openapi.json` serves.
pub(super) const OPENAPI: &str = include_str!("../../docs/openapi.json");

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

    /// Every operation of docs/openapi.json is a route, and every route is in the document: a
    /// route added or changed without its documentation fails here.
    #[test]
    fn the_openapi_document_and_the_routes_are_the_same() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
        let mut documented = std::collections::BTreeSet::new();
        for (path, operations) in doc["paths"].as_object().unwrap() {
            let concrete = path
                .replace("{account_id}", "a")
                .replace("{socket_id}", "s");
            for method in operations.as_object().unwrap().keys() {
                if method == "parameters" {
                    continue;
                }
                let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                let route = resolve(&method, &concrete);
                assert!(
                    route.is_ok(),
                    "{method} {path} is documented but not routed"
                );
                documented.insert(format!("{method} {concrete}"));
            }
        }
        let every_route = [
            Route::Catalogue,
            Route::AccountSockets {
                account: "a".into(),
            },
            Route::AccountSocket {
                account: "a".into(),
                socket_id: "s".into(),
            },
            Route::KickSocket {
                account: "a".into(),
                socket_id: "s".into(),
            },
            Route::PublishEvents,
            Route::Drain,
            Route::Metrics,
            Route::Healthz,
            Route::Readyz,
            Route::OpenApi,
        ];
        for route in every_route {
            // Exhaustive: a new route must be named here, and so in the document.
            let request = match route {
                Route::Catalogue => "GET /v2/websockets",
                Route::AccountSockets { .. } => "GET /v2/accounts/a/websockets",
                Route::AccountSocket { .. } => "GET /v2/accounts/a/websockets/s",
                Route::KickSocket { .. } => "DELETE /v2/accounts/a/websockets/s",
                Route::PublishEvents => "POST /v2/events",
                Route::Drain => "POST /v2/drain",
                Route::Metrics => "GET /metrics",
                Route::Healthz => "GET /healthz",
                Route::Readyz => "GET /readyz",
                Route::OpenApi => "GET /openapi.json",
            };
            assert!(
                documented.contains(request),
                "{request} is routed but not documented"
            );
        }
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
