//! Who is calling, as far as the session record is concerned.

use actix_web::HttpRequest;
use actix_web::http::header::USER_AGENT;
use auth_core::service::ClientInfo;

/// Longest user agent kept; the header is client-controlled.
const USER_AGENT_MAX_LEN: usize = 512;

/// The socket peer's IP and the `User-Agent` header, bounded in size.
pub fn client_info(request: &HttpRequest) -> ClientInfo {
    let ip = request.peer_addr().map(|addr| addr.ip().to_string());
    let user_agent = request
        .headers()
        .get(USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .map(|ua| ua.chars().take(USER_AGENT_MAX_LEN).collect());
    ClientInfo { ip, user_agent }
}
