//! The REST envelope (SPEC 6): every answer, success or error, carries `node`, `request_id`,
//! `timestamp` and `version`; a token is never sent back. Serialised straight from borrowed
//! parts, so a list of thousands of pre-rendered socket descriptions is copied, not rebuilt.

use std::time::SystemTime;

use serde::Serialize;
use warp::http::StatusCode;
use warp::http::header::{CONTENT_TYPE, HeaderValue};
use warp::reply::Response;

/// What every answer to one request shares.
pub(super) struct Envelope<'a> {
    pub node: &'a str,
    pub request_id: &'a str,
}

/// Pagination of a list (SPEC 6), shown only when the request paged.
#[derive(Default)]
pub(super) struct Paging<'a> {
    pub page_size: Option<usize>,
    pub next_start_key: Option<&'a str>,
    /// Cluster mode: some node did not answer, so the list may lack its sockets.
    pub partial: bool,
}

/// The body in the seed's key order: `data`, what the answer adds, then the common fields.
#[derive(Serialize)]
struct Body<'a, T> {
    data: T,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    page_size: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_start_key: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    partial: bool,
    node: &'a str,
    request_id: &'a str,
    status: &'static str,
    timestamp: String,
    version: &'static str,
}

#[derive(Serialize)]
struct ErrorData<'a> {
    message: &'a str,
}

impl<'a> Envelope<'a> {
    fn body<T: Serialize>(&self, data: T, status: &'static str) -> Body<'a, T> {
        Body {
            data,
            error: None,
            message: None,
            page_size: None,
            next_start_key: None,
            partial: false,
            node: self.node,
            request_id: self.request_id,
            status,
            timestamp: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            version: env!("CARGO_PKG_VERSION"),
        }
    }

    pub(super) fn success(&self, data: impl Serialize) -> Response {
        self.success_paged(data, Paging::default())
    }

    /// Success with pagination fields.
    pub(super) fn success_paged(&self, data: impl Serialize, paging: Paging<'_>) -> Response {
        let body = Body {
            page_size: paging.page_size,
            next_start_key: paging.next_start_key,
            partial: paging.partial,
            ..self.body(data, "success")
        };
        json_response(StatusCode::OK, &body, self.request_id)
    }

    pub(super) fn error(&self, status: StatusCode, message: &str) -> Response {
        let body = Body {
            error: Some(status.as_u16().to_string()),
            message: Some(message),
            ..self.body(ErrorData { message }, "error")
        };
        json_response(status, &body, self.request_id)
    }
}

fn json_response<T: Serialize>(status: StatusCode, body: &T, request_id: &str) -> Response {
    // Borrowed strings, numbers and pre-rendered JSON: serialising cannot fail.
    let json = serde_json::to_vec(body).unwrap_or_default();
    let mut response = Response::new(json.into());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-request-id", id);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Map, Value, json};

    fn rendered<T: Serialize>(body: &Body<'_, T>) -> Map<String, Value> {
        serde_json::from_str(&serde_json::to_string(body).unwrap()).unwrap()
    }

    #[test]
    fn keys_in_the_seeds_order_and_a_utc_timestamp() {
        let envelope = Envelope {
            node: "n",
            request_id: "r",
        };
        let paged = rendered(&Body {
            page_size: Some(1),
            next_start_key: Some("k"),
            ..envelope.body(json!([1]), "success")
        });
        let keys: Vec<&str> = paged.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "data",
                "page_size",
                "next_start_key",
                "node",
                "request_id",
                "status",
                "timestamp",
                "version"
            ]
        );
        // 2026-11-23T22:18:04Z
        let timestamp = paged["timestamp"].as_str().unwrap();
        assert_eq!(timestamp.len(), 20, "{timestamp}");
        assert!(timestamp.ends_with('Z') && timestamp.as_bytes()[10] == b'T');
        let plain = rendered(&envelope.body(json!({}), "success"));
        assert!(!plain.contains_key("page_size") && !plain.contains_key("error"));
    }
}
