//! Who may use the server: the `Host` check (DNS rebinding), the `Origin` / `Sec-Fetch-Site` check
//! (requests sent by other sites' pages) and the token (required beyond loopback, or with `--token`),
//! as one axum middleware in front of every route; and what `start` prints about it.
//!
//! Why each rule:
//! - A page on `evil.example` can make its own name resolve to 127.0.0.1 (DNS rebinding) and then read
//!   our answers as same-origin: its requests still carry `Host: evil.example:PORT`, so a loopback
//!   server answers only to loopback names. The port is not compared: an SSH tunnel
//!   (`ssh -L 9000:localhost:8765`) legitimately presents `Host: localhost:9000`, and rebinding is
//!   stopped by the name alone.
//! - Any page can *send* (not read) a request to 127.0.0.1, e.g. a form POST that queues computations:
//!   browsers mark such requests with `Origin` and `Sec-Fetch-Site`, so the API and every non-GET
//!   request must be same-origin (the viewer's own `fetch` and `EventSource` are). Plain GETs of the
//!   viewer's static files are left alone (they are public code).
//! - Beyond loopback every machine that can reach the address can connect, whatever Host it sends, so
//!   the Host check is off there and a random token is the protection: given once as `?token=` (the
//!   printed URL, as Jupyter does), then kept in an HttpOnly SameSite=Strict cookie so the viewer's own
//!   requests carry it; or sent as `Authorization: Bearer TOKEN`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// Random bytes in a generated token (hex-encoded: twice as many characters).
const TOKEN_BYTES: usize = 32;
/// Longest piece of a client's header echoed in an error message.
const ECHO_MAX: usize = 80;

/// The access rules of one server (see the module comment).
#[derive(Debug)]
pub struct Access {
    /// Host names accepted in `Host` (lowercase, no port, IPv6 in brackets); None: any (bound beyond
    /// loopback, where the token is required).
    hosts: Option<Vec<String>>,
    token: Option<String>,
    /// The cookie that keeps the token. Cookies are shared by every port of a host, so the name
    /// carries the port: two servers on one machine do not overwrite each other's.
    cookie: String,
}

/// Decides the access rules for a server bound to `addr` (`token`: the user's `--token`), prints the
/// warning when it is reachable beyond loopback, and returns the rules and the URL to open (with
/// `?token=` when a token is required).
pub fn setup(addr: SocketAddr, token: Option<String>) -> anyhow::Result<(Arc<Access>, String)> {
    let ip = addr.ip();
    let loopback = ip.is_loopback();
    if let Some(t) = &token {
        // Characters that need no escaping in a URL or a cookie.
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b)) {
            anyhow::bail!("--token must be letters, digits, '-', '.', '_' or '~' (at least one)");
        }
    }
    let token = match token {
        Some(t) => Some(t),
        None if loopback => None,
        None => Some(random_token()?),
    };
    let hosts = loopback.then(|| {
        let mut h: Vec<String> = ["localhost", "127.0.0.1", "[::1]"].map(String::from).to_vec();
        h.push(host_literal(ip));
        h
    });
    let shown = match ip {
        // Bound to every interface: show an address other machines can use, when one is known.
        ip if ip.is_unspecified() => outbound_ip().map_or_else(|| "127.0.0.1".into(), host_literal),
        ip => host_literal(ip),
    };
    let base = format!("http://{shown}:{}/", addr.port());
    let url = match &token {
        Some(t) => format!("{base}?token={t}"),
        None => base,
    };
    if !loopback {
        let reach = if ip.is_unspecified() {
            format!("every network interface of this machine ({ip} port {})", addr.port())
        } else {
            format!("{ip} port {}", addr.port())
        };
        eprintln!(
            "neuromapper: WARNING: listening on {reach}, beyond this machine: every machine that can reach this \
             address and port (your network, or the internet if it is exposed) can connect. The token in the URL \
             is the only protection of the run's data (views, labels, thumbnails) and of its compute queue, and \
             the connection is not encrypted; to share on an untrusted network, keep the default 127.0.0.1 and \
             use an SSH tunnel (ssh -L {port}:localhost:{port} THIS_MACHINE).",
            port = addr.port()
        );
        if ip.is_unspecified() {
            if let Some(t) = &token {
                eprintln!("neuromapper: on this machine: http://127.0.0.1:{}/?token={t}", addr.port());
            }
        }
    }
    let access = Access { hosts, token, cookie: format!("neuromapper-token-{}", addr.port()) };
    Ok((Arc::new(access), url))
}

/// `ip` as written in a URL's host (IPv6 in brackets).
fn host_literal(ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(v6) => format!("[{v6}]"),
        IpAddr::V4(v4) => v4.to_string(),
    }
}

/// The address this machine uses to reach other machines: connecting a UDP socket sends no packet,
/// it only asks the OS which source address it would route from. None when there is no route.
/// (Hand-written: listing interfaces portably needs a crate, and this address is only printed.)
fn outbound_ip() -> Option<IpAddr> {
    let sock = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    sock.connect("192.0.2.1:9").ok()?; // TEST-NET-1: never used on a real network
    let ip = sock.local_addr().ok()?.ip();
    (!ip.is_unspecified() && !ip.is_loopback()).then_some(ip)
}

/// A fresh token: [`TOKEN_BYTES`] bytes from the OS's random source, in hex.
fn random_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("cannot read random bytes for the token: {e}"))?;
    Ok(bytes.iter().fold(String::with_capacity(2 * TOKEN_BYTES), |mut hex, b| {
        use std::fmt::Write as _;
        let _ = write!(hex, "{b:02x}"); // writing to a String cannot fail
        hex
    }))
}

fn refuse(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// At most [`ECHO_MAX`] characters of a client's header, for an error message.
fn echo(s: &str) -> String {
    if s.chars().count() <= ECHO_MAX {
        s.to_string()
    } else {
        s.chars().take(ECHO_MAX).chain("…".chars()).collect()
    }
}

/// The host name of a `Host` value without its port, lowercase (`[::1]` keeps its brackets).
fn host_name(host: &str) -> String {
    let host = host.trim().to_ascii_lowercase();
    if host.starts_with('[') {
        return match host.find(']') {
            Some(end) => host[..=end].to_string(),
            None => host,
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name.to_string(),
        _ => host,
    }
}

/// Compares without stopping at the first difference, so the time taken says nothing about how much
/// of a guessed token was right. (Hand-written: four lines do not need the `subtle` crate.)
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// How the request proved it knows the token, if it did.
#[derive(PartialEq)]
enum Proof {
    None,
    /// `?token=`: the answer also sets the cookie.
    Query,
    Other,
}

fn token_proof(token: &str, cookie: &str, req: &Request) -> Proof {
    let query = req.uri().query().unwrap_or("");
    if query.split('&').filter_map(|kv| kv.strip_prefix("token=")).any(|t| same_secret(t, token)) {
        return Proof::Query;
    }
    let headers = req.headers();
    let bearer = headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .any(|t| same_secret(t.trim(), token));
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .any(|(k, v)| k == cookie && same_secret(v, token));
    if bearer || cookie {
        Proof::Other
    } else {
        Proof::None
    }
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    // A header that is not visible ASCII reads as "" (refused wherever it is compared).
    headers.get(name).map(|v| v.to_str().unwrap_or(""))
}

/// The middleware: Host, then Origin / Sec-Fetch-Site, then the token.
pub async fn check(State(access): State<Arc<Access>>, req: Request, next: Next) -> Response {
    // An absolute-form target (`GET http://host/ HTTP/1.1`) names the host the client meant.
    let host = match req.uri().authority() {
        Some(a) => a.as_str().to_string(),
        None => header_str(req.headers(), header::HOST).unwrap_or("").to_string(),
    };
    if let Some(hosts) = &access.hosts {
        if !hosts.contains(&host_name(&host)) {
            let got = if host.is_empty() { "no Host header".to_string() } else { format!("Host: {}", echo(&host)) };
            return refuse(
                StatusCode::FORBIDDEN,
                format!(
                    "this server answers only to localhost, 127.0.0.1 or [::1] (got {got}); open the URL neuromapper printed"
                ),
            );
        }
    }

    let path = req.uri().path();
    let api = path == "/api" || path.starts_with("/api/");
    let plain_get = (req.method() == Method::GET || req.method() == Method::HEAD) && !api;
    if !plain_get {
        if let Some(origin) = header_str(req.headers(), header::ORIGIN) {
            if !origin.eq_ignore_ascii_case(&format!("http://{host}")) {
                return refuse(
                    StatusCode::FORBIDDEN,
                    format!("cross-origin request refused: Origin {} is not this server", echo(origin)),
                );
            }
        }
        // `same-site` is refused too: other ports of this host are the same site.
        if let Some(site) = header_str(req.headers(), header::HeaderName::from_static("sec-fetch-site")) {
            if site != "same-origin" && site != "none" {
                return refuse(
                    StatusCode::FORBIDDEN,
                    format!("cross-site request refused (Sec-Fetch-Site: {})", echo(site)),
                );
            }
        }
    }

    let mut set_cookie = None;
    if let Some(token) = &access.token {
        match token_proof(token, &access.cookie, &req) {
            Proof::None => {
                let mut r = refuse(
                    StatusCode::UNAUTHORIZED,
                    "this server needs its token: open the URL neuromapper printed (…/?token=…), or send \
                     `Authorization: Bearer TOKEN`"
                        .to_string(),
                );
                r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                return r;
            }
            Proof::Query => {
                set_cookie =
                    HeaderValue::from_str(&format!("{}={token}; Path=/; HttpOnly; SameSite=Strict", access.cookie))
                        .ok();
            }
            Proof::Other => {}
        }
    }

    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    if let Some(c) = set_cookie {
        headers.append(header::SET_COOKIE, c);
    }
    // The token may be in the page's URL: never send it on as a Referer.
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_drop_the_port_and_keep_ipv6_brackets() {
        assert_eq!(host_name("LocalHost:8765"), "localhost");
        assert_eq!(host_name("127.0.0.1"), "127.0.0.1");
        assert_eq!(host_name("[::1]:80"), "[::1]");
        assert_eq!(host_name("evil.example:1"), "evil.example");
        assert_eq!(host_name("localhost:80x"), "localhost:80x");
    }

    #[test]
    fn tokens_are_64_hex_digits_and_differ() {
        let (a, b) = (random_token().unwrap(), random_token().unwrap());
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert!(same_secret(&a, &a.clone()) && !same_secret(&a, &b) && !same_secret(&a, &a[1..]));
    }
}
