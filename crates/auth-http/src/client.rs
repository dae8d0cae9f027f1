//! Who is calling: the client IP (through trusted proxies only) and the user agent.

use std::net::IpAddr;

use actix_web::HttpRequest;
use actix_web::http::header::USER_AGENT;
use auth_core::service::ClientInfo;
use ipnet::IpNet;

/// Longest user agent kept; the header is client-controlled.
const USER_AGENT_MAX_LEN: usize = 512;

/// The client's IP: the socket peer, unless the peer is a trusted proxy, in which case the
/// right-most `X-Forwarded-For` entry that is not itself a trusted proxy. `X-Forwarded-For` from
/// anyone else is ignored, so clients cannot choose their own rate-limit key.
pub fn client_ip(request: &HttpRequest, trusted_proxies: &[IpNet]) -> Option<IpAddr> {
    let peer = request.peer_addr()?.ip();
    if !trusted_proxies.iter().any(|net| net.contains(&peer)) {
        return Some(peer);
    }
    let forwarded: Vec<IpAddr> = request
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|entry| entry.trim().parse().ok())
        .collect();
    Some(forwarded.into_iter().rev().find(|ip| !trusted_proxies.iter().any(|net| net.contains(ip))).unwrap_or(peer))
}

/// The client IP and the `User-Agent` header, bounded in size.
pub fn client_info(request: &HttpRequest, trusted_proxies: &[IpNet]) -> ClientInfo {
    let ip = client_ip(request, trusted_proxies).map(|ip| ip.to_string());
    let user_agent = request
        .headers()
        .get(USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .map(|ua| ua.chars().take(USER_AGENT_MAX_LEN).collect());
    ClientInfo { ip, user_agent }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn proxies() -> Vec<IpNet> {
        vec!["10.0.0.0/8".parse().unwrap()]
    }

    #[test]
    fn forwarded_for_counts_only_from_trusted_proxies() {
        let direct = TestRequest::default()
            .peer_addr("203.0.113.9:5000".parse().unwrap())
            .insert_header(("x-forwarded-for", "198.51.100.1"))
            .to_http_request();
        assert_eq!(client_ip(&direct, &proxies()), Some("203.0.113.9".parse().unwrap()));

        let proxied = TestRequest::default()
            .peer_addr("10.1.2.3:5000".parse().unwrap())
            .insert_header(("x-forwarded-for", "1.2.3.4, 198.51.100.1, 10.9.9.9"))
            .to_http_request();
        assert_eq!(
            client_ip(&proxied, &proxies()),
            Some("198.51.100.1".parse().unwrap()),
            "spoofed left entries are ignored"
        );

        let bare = TestRequest::default().peer_addr("10.1.2.3:5000".parse().unwrap()).to_http_request();
        assert_eq!(client_ip(&bare, &proxies()), Some("10.1.2.3".parse().unwrap()));
    }
}
