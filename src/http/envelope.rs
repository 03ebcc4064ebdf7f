//! The REST envelope (SPEC 6): every answer, success or error, carries `node`, `request_id`,
//! `timestamp` and `version`; a token is never sent back.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};
use warp::http::StatusCode;
use warp::http::header::{CONTENT_TYPE, HeaderValue};
use warp::reply::Response;

use switchyard_actors::month::civil_from_days;

/// What every answer to one request shares.
pub struct Envelope<'a> {
    pub node: &'a str,
    pub request_id: &'a str,
}

impl Envelope<'_> {
    /// The body in the seed's order: `data` first, then what the answer adds, then the common
    /// fields.
    fn body(&self, data: Value, extra: Map<String, Value>, status: &str) -> Value {
        let mut body = Map::new();
        body.insert("data".into(), data);
        body.extend(extra);
        body.insert("node".into(), json!(self.node));
        body.insert("request_id".into(), json!(self.request_id));
        body.insert("status".into(), json!(status));
        body.insert("timestamp".into(), json!(iso8601_now()));
        body.insert("version".into(), json!(env!("CARGO_PKG_VERSION")));
        Value::Object(body)
    }

    pub fn success(&self, data: Value) -> Response {
        self.success_with(data, Map::new())
    }

    /// Success with extra top-level fields (pagination).
    pub fn success_with(&self, data: Value, extra: Map<String, Value>) -> Response {
        let body = self.body(data, extra, "success");
        json_response(StatusCode::OK, &body, self.request_id)
    }

    pub fn error(&self, status: StatusCode, message: &str) -> Response {
        let mut extra = Map::new();
        extra.insert("error".into(), json!(status.as_u16().to_string()));
        extra.insert("message".into(), json!(message));
        let body = self.body(json!({"message": message}), extra, "error");
        json_response(status, &body, self.request_id)
    }
}

fn json_response(status: StatusCode, body: &Value, request_id: &str) -> Response {
    let mut response = Response::new(body.to_string().into());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-request-id", id);
    }
    response
}

/// `2026-11-23T22:18:04Z`
pub fn iso8601_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    iso8601(secs)
}

fn iso8601(unix_secs: u64) -> String {
    let (year, month, day) = civil_from_days((unix_secs / 86_400) as i64);
    let secs_of_day = unix_secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs_of_day / 3600,
        secs_of_day / 60 % 60,
        secs_of_day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_formats_utc() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(1_795_472_284), "2026-11-23T22:18:04Z");
    }
}
