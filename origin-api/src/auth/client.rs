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
    /// Real client IP.
    pub ip: IpAddr,
    /// Keyed hash of the IP (what audit rows and logs carry).
    pub ip_hash: String,
    /// `ios`, `android` or `other` plus the agent kind, e.g. `other/human`.
    pub user_agent: String,
}

/// The client IP: the socket peer, or `CLIENT_IP_HEADER` when the peer is a trusted proxy.
pub fn client_ip(config: &Config, peer: IpAddr, headers: &axum::http::HeaderMap) -> IpAddr {
    let trusted = config.trusted_proxies.iter().any(|net| net.contains(&peer));
    if let (true, Some(name)) = (trusted, config.client_ip_header.as_deref())
        && let Some(value) = headers.get(name).and_then(|v| v.to_str().ok())
        // X-Forwarded-For lists client first; take it, tolerating spaces and ports.
        && let Some(first) = value.split(',').next()
        && let Ok(ip) = first.trim().parse::<IpAddr>()
    {
        return ip;
    }
    peer
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
