//! Who is calling: the client IP (through trusted proxies only) and the user agent.

use std::net::{IpAddr, SocketAddr};

use actix_web::HttpRequest;
use actix_web::http::header::USER_AGENT;
use auth_core::service::ClientInfo;
use ipnet::IpNet;

/// Longest user agent kept; the header is client-controlled.
const USER_AGENT_MAX_LEN: usize = 512;

/// The client's IP: the socket peer, unless the peer is a trusted proxy, in which case the
/// right-most `X-Forwarded-For` entry that is not itself a trusted proxy. `X-Forwarded-For` from
/// anyone else is ignored, so clients cannot choose their own rate-limit key. Entries may carry a
/// port (`ip:port`, `[v6]:port`, as some proxies append them); an entry that is no address at all
/// ends the walk, because what lies left of it was written by someone the proxies did not vouch
/// for: the last trusted hop then stands for the client.
pub fn client_ip(request: &HttpRequest, trusted_proxies: &[IpNet]) -> Option<IpAddr> {
    let peer = request.peer_addr()?.ip();
    let trusted = |ip: &IpAddr| trusted_proxies.iter().any(|net| net.contains(ip));
    if !trusted(&peer) {
        return Some(peer);
    }
    let entries: Vec<&str> = request
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .collect();
    let mut last_trusted = peer;
    for entry in entries.into_iter().rev() {
        match forwarded_address(entry) {
            Some(ip) if trusted(&ip) => last_trusted = ip,
            Some(ip) => return Some(ip),
            None => return Some(last_trusted),
        }
    }
    Some(peer)
}

/// One `X-Forwarded-For` entry's address, with or without a port.
fn forwarded_address(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry.parse().ok().or_else(|| entry.parse::<SocketAddr>().ok().map(|address| address.ip()))
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
    fn forwarded_entries_with_ports_count_and_garbage_ends_the_walk() {
        let request = |header: &str| {
            TestRequest::default()
                .peer_addr("10.0.0.1:5000".parse().unwrap())
                .insert_header(("x-forwarded-for", header.to_owned()))
                .to_http_request()
        };
        let ip = |text: &str| Some(text.parse::<IpAddr>().unwrap());
        assert_eq!(client_ip(&request("198.51.100.7, 203.0.113.9:4711"), &proxies()), ip("203.0.113.9"));
        assert_eq!(client_ip(&request("[2001:db8::1]:443"), &proxies()), ip("2001:db8::1"));
        // A spoofed left-hand entry cannot be reached past an entry the proxy wrote as it saw it.
        assert_eq!(client_ip(&request("198.51.100.7, unknown"), &proxies()), ip("10.0.0.1"));
        assert_eq!(client_ip(&request("198.51.100.7, unknown, 10.0.0.2"), &proxies()), ip("10.0.0.2"));
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
