//! What a rate limit counts and how: keys, quotas, the client network an IP counts against, and
//! the arithmetic every limiter adapter shares (GCRA), as a pure function.

use std::net::{IpAddr, Ipv6Addr};

use chrono::{DateTime, Utc};

/// How many hits a key may take and how fast they come back: a burst of `limit` at once,
/// refilled continuously at `limit` per `window`. A limit of 0 (or an empty window) is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Hits allowed in a burst, and per window once the burst is spent.
    pub limit: u32,
    /// The span over which `limit` hits come back.
    pub window: std::time::Duration,
}

impl Quota {
    /// `limit` hits per minute.
    pub fn per_minute(limit: u32) -> Self {
        Self { limit, window: std::time::Duration::from_secs(60) }
    }

    /// Whether this quota admits everything.
    pub fn is_off(&self) -> bool {
        self.limit == 0 || self.window.is_zero()
    }
}

/// What a limit counts: a scope (which rule) and a subject (whose hits) in one string, the
/// form a shared store such as Redis keys it by.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LimitKey(String);

impl LimitKey {
    /// The key of `subject` under `scope`.
    pub fn new(scope: &str, subject: &str) -> Self {
        Self(format!("{scope}:{subject}"))
    }

    /// The key of a client under `scope`: its network, so an IPv6 host cannot dodge a limit by
    /// moving through the addresses of its /64.
    pub fn client(scope: &str, ip: IpAddr) -> Self {
        Self::new(scope, &client_network(ip).to_string())
    }

    /// The key as one string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The network a client's limits count against: an IPv4 address itself (an IPv4-mapped IPv6
/// address as its IPv4 address), an IPv6 address its /64, the smallest block a site is given
/// and one host usually controls whole.
pub fn client_network(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(v6.to_bits() & !u128::from(u64::MAX))),
        },
    }
}

/// One step of the generic cell rate algorithm. `tat` is the key's stored theoretical arrival
/// time (`None` for a key never hit or forgotten). Answers the time to store when the hit at
/// `now` is admitted, or how long until it would be. An off quota admits without a new time.
pub fn gcra(
    tat: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    quota: Quota,
) -> Result<Option<DateTime<Utc>>, std::time::Duration> {
    if quota.is_off() {
        return Ok(None);
    }
    let Ok(window) = chrono::Duration::from_std(quota.window) else { return Ok(None) };
    let interval = window / i32::try_from(quota.limit).unwrap_or(i32::MAX);
    let tat = tat.map_or(now, |t| t.max(now));
    let new_tat = tat + interval;
    let ahead = new_tat - now;
    if ahead > window {
        return Err((ahead - window).to_std().unwrap_or_default());
    }
    Ok(Some(new_tat))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_counts_by_its_64_and_ipv4_by_itself() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:ffff:ffff:ffff".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(LimitKey::client("x", a), LimitKey::client("x", b));
        assert_ne!(LimitKey::client("x", a), LimitKey::client("x", c));
        assert_eq!(client_network(a), "2001:db8:1:2::".parse::<IpAddr>().unwrap());
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(client_network(mapped), v4);
        assert_ne!(LimitKey::client("x", v4), LimitKey::client("x", "192.0.2.8".parse().unwrap()));
    }

    #[test]
    fn a_burst_then_the_steady_rate() {
        let quota = Quota { limit: 3, window: std::time::Duration::from_secs(30) };
        let t0 = DateTime::<Utc>::default();
        let mut tat = None;
        for _ in 0..3 {
            tat = gcra(tat, t0, quota).unwrap();
        }
        assert_eq!(gcra(tat, t0, quota), Err(std::time::Duration::from_secs(10)));
        assert!(gcra(tat, t0 + chrono::Duration::seconds(10), quota).is_ok());
        assert_eq!(gcra(None, t0, Quota::per_minute(0)), Ok(None));
    }
}
