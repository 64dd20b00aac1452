//! The HTTP side of the dashboard login: which routes need a session ([`gate`]), the login
//! form page, and the form's `POST /login` / `POST /logout` ([`post`]).
//!
//! `/healthz` and `/favicon.ico` stay open; `/metrics` needs a session unless
//! `--metrics-public`; the page is the login form until a session exists; `/api/*` answers
//! `401` without a session and `403` naming the permission when the answer holds values the
//! user may not read (Store keys by pattern, retained Pub/Sub payloads, queue and stream
//! messages).

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{COOKIE, HeaderValue, LOCATION, SET_COOKIE};
use hyper::{Request, Response, StatusCode};
use nexo_session::auth::{Broker, Name, Need, Op};
use serde_json::json;

use crate::api::Params;
use crate::login::{Access, LoginError, MAX_FORM_BYTES, Security, clear_cookie, set_cookie};
use crate::server::{State, json_response, text, with_type};

/// The answer that refuses this request, or `None` when it may go on.
pub fn gate(state: &State, path: &str, query: &str, cookie: Option<&str>) -> Option<Response<Full<Bytes>>> {
    let security = state.security.as_deref().filter(|s| s.required())?;
    // The server's monotonic clock, as every dashboard answer reads it.
    let now = || state.overview().uptime_ms;
    match path {
        "/healthz" | "/favicon.ico" => None,
        "/metrics" if security.metrics_public() => None,
        "/metrics" => (security.access(cookie, None, now()) != Access::Allowed).then(|| {
            text(
                StatusCode::UNAUTHORIZED,
                "log in on the dashboard page first, or start with --metrics-public\n",
            )
        }),
        "/" | "/index.html" => {
            (security.access(cookie, None, now()) != Access::Allowed).then(|| login_page(StatusCode::OK, ""))
        }
        _ => {
            let endpoint = path.strip_prefix("/api/")?;
            let params = Params::parse(query);
            let need = value_need(endpoint, &params);
            match security.access(cookie, need.as_ref(), now()) {
                Access::Allowed => None,
                Access::NoSession => {
                    Some(json_response(StatusCode::UNAUTHORIZED, &json!({ "error": "login required" })))
                }
                Access::Denied(why) => Some(json_response(StatusCode::FORBIDDEN, &json!({ "error": why }))),
            }
        }
    }
}

/// The read permission an API answer with stored values needs.
fn value_need<'p>(endpoint: &str, params: &'p Params) -> Option<Need<'p>> {
    let read = |broker| Need::new(broker, &[Op::Read]);
    let exact = |name: &str| params.text(name).unwrap_or("").as_bytes();
    Some(match endpoint {
        "store/keys" => read(Broker::Store).on([Name::Glob(params.text("pattern").unwrap_or("*"))]),
        "pubsub/retained" => read(Broker::PubSub).on([Name::All]),
        "queue/messages" => read(Broker::Queue).on([Name::Exact(exact("queue"))]),
        "stream/messages" => read(Broker::Stream).on([Name::Exact(exact("topic"))]),
        _ => return None,
    })
}

/// `POST /login` (form fields `user`, `password`) and `POST /logout`, at `now_ms`.
pub async fn post(security: &Security, request: Request<Incoming>, now_ms: u64) -> Response<Full<Bytes>> {
    let cookie = request.headers().get(COOKIE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    if request.uri().path() == "/logout" {
        security.log_out(cookie.as_deref());
        return redirect(&clear_cookie());
    }
    let Ok(body) = Limited::new(request.into_body(), MAX_FORM_BYTES).collect().await else {
        return text(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("a login form is at most {MAX_FORM_BYTES} bytes\n"),
        );
    };
    let form = Params::parse(&String::from_utf8_lossy(&body.to_bytes()));
    let user = form.text("user").filter(|u| !u.is_empty()).unwrap_or("default");
    let password = form.text("password").unwrap_or("");
    match security.log_in(user, password, now_ms).await {
        Ok(token) => redirect(&set_cookie(&token)),
        Err(LoginError::Wrong) => login_page(
            StatusCode::UNAUTHORIZED,
            "WRONGPASS invalid username-password pair or user is disabled.",
        ),
        Err(LoginError::Busy) => {
            login_page(StatusCode::SERVICE_UNAVAILABLE, "Too many logins in progress; try again.")
        }
    }
}

/// `303 See Other` to the page, setting `cookie`.
fn redirect(cookie: &str) -> Response<Full<Bytes>> {
    let mut response = text(StatusCode::SEE_OTHER, "");
    response.headers_mut().insert(LOCATION, HeaderValue::from_static("/"));
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().insert(SET_COOKIE, value);
    }
    response
}

/// The login form; `message` (plain text, escaped here) above it.
fn login_page(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    let message = message.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Nexo: log in</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:22rem;margin:4rem auto}}\
         label,input,button{{display:block;width:100%;margin:.4rem 0}}p{{color:#b00}}</style></head><body>\
         <h1>Nexo</h1><p id=\"message\">{message}</p>\
         <form id=\"login\" method=\"post\" action=\"/login\">\
         <label>User <input name=\"user\" autocomplete=\"username\" value=\"default\"></label>\
         <label>Password <input name=\"password\" type=\"password\" autocomplete=\"current-password\" autofocus></label>\
         <button type=\"submit\">Log in</button></form></body></html>"
    );
    with_type(status, html, "text/html; charset=utf-8")
}
