//! Facts about the client that security decisions and the audit trail use:
//! the real IP (from a trusted proxy header only), its keyed hash (raw IPs
//! are never stored or logged), and a coarse user-agent class.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::Config;
use crate::http::AppState;

/// The client of the current request.
#[derive(Debug, Clone)]
pub struct Client {
    /// Real client IP (see [`client_ip`]).
    pub ip: IpAddr,
    /// Keyed hash of the IP (what audit rows and logs carry).
    pub ip_hash: String,
    /// `ios`, `android` or `other` plus the agent kind, e.g. `other/human`.
    pub user_agent: String,
}

/// The client IP: the socket peer, or — when the peer is a trusted proxy —
/// taken from `CLIENT_IP_HEADER`. A forwarding chain (`X-Forwarded-For: a, b, c`)
/// is read from the right: each proxy appends the address it saw, so the
/// right-most entry that is not itself a trusted proxy is the first address
/// no client could choose. Entries to its left are client-supplied and ignored.
pub fn client_ip(config: &Config, peer: IpAddr, headers: &axum::http::HeaderMap) -> IpAddr {
    let trusted = |ip: &IpAddr| config.trusted_proxies.iter().any(|net| net.contains(ip));
    if !trusted(&peer) {
        return peer;
    }
    let Some(value) =
        config.client_ip_header.as_deref().and_then(|name| headers.get(name)).and_then(|v| v.to_str().ok())
    else {
        return peer;
    };
    for entry in value.rsplit(',') {
        match parse_entry(entry) {
            Some(ip) if trusted(&ip) => continue,
            Some(ip) => return ip,
            None => return peer,
        }
    }
    peer
}

/// An address as proxies write it: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` or `[2001:db8::1]:443`.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry.parse::<IpAddr>().ok().or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

/// A keyed, truncated hash of an IP: links events from one address without storing it.
pub fn hash_ip(config: &Config, ip: IpAddr) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(config.audit_keys.signing_key().secret()) else {
        return String::new();
    };
    mac.update(b"client-ip:");
    mac.update(ip.to_string().as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..8])
}

impl FromRequestParts<AppState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::from([127, 0, 0, 1]), |ConnectInfo(addr)| addr.ip());
        let ip = client_ip(&state.config, peer, &parts.headers);
        let ua = parts.headers.get(axum::http::header::USER_AGENT).and_then(|v| v.to_str().ok());
        let (agent, device) = shared::user_agent::classify(ua);
        Ok(Client {
            ip,
            ip_hash: hash_ip(&state.config, ip),
            user_agent: format!("{}/{}", device.as_str(), agent.as_str()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, HeaderValue};

    fn config(proxies: &str) -> Config {
        let vars = [("TRUSTED_PROXIES", proxies), ("CLIENT_IP_HEADER", "x-forwarded-for")];
        Config::from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn xff(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn the_right_most_untrusted_entry_wins() {
        let c = config("10.0.0.0/8");
        let proxy = ip("10.0.0.5");
        assert_eq!(client_ip(&c, proxy, &xff("198.51.100.7")), ip("198.51.100.7"));
        // A client-supplied entry on the left is ignored.
        assert_eq!(client_ip(&c, proxy, &xff("203.0.113.9, 198.51.100.7")), ip("198.51.100.7"));
        // Inner trusted proxies are skipped.
        assert_eq!(client_ip(&c, proxy, &xff("203.0.113.9, 198.51.100.7, 10.1.2.3")), ip("198.51.100.7"));
        assert_eq!(client_ip(&c, proxy, &xff("198.51.100.7:5678")), ip("198.51.100.7"));
        assert_eq!(client_ip(&c, proxy, &xff("[2001:db8::1]:443")), ip("2001:db8::1"));
        // Garbage or nothing but proxies: the peer itself.
        assert_eq!(client_ip(&c, proxy, &xff("not-an-ip")), proxy);
        assert_eq!(client_ip(&c, proxy, &xff("10.9.9.9")), proxy);
        // An untrusted peer's header is never believed.
        assert_eq!(client_ip(&c, ip("192.0.2.1"), &xff("198.51.100.7")), ip("192.0.2.1"));
    }
}
