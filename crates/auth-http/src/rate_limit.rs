//! Per-client-IP request rate limits (GCRA), held in process memory. The one-mail-per-address
//! rule is the use cases' (auth-core's `email.send_interval`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries beyond which expired buckets are swept, so memory stays bounded.
const SWEEP_THRESHOLD: usize = 10_000;

/// What a limit applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bucket {
    /// `POST /signup`.
    Signup,
    /// `POST /token?grant_type=password`.
    PasswordSignIn,
    /// `POST /token?grant_type=refresh_token`.
    Refresh,
    /// Requests that send mail: `/recover`, `/recover/username`, `/resend`, `/magiclink`,
    /// `/otp`, `GET /reauthenticate` and `PUT /user` with a new email address.
    Email,
    /// `/verify` and the PKCE exchange, where emailed codes and auth codes are presented.
    Verify,
}

/// Requests allowed per minute and client IP; 0 turns a limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// Sign-ups.
    pub signup_per_minute: u32,
    /// Password sign-ins.
    pub password_per_minute: u32,
    /// Refresh-token grants; generous, since every open tab refreshes.
    pub refresh_per_minute: u32,
    /// Requests that send mail.
    pub email_per_minute: u32,
    /// Verification attempts.
    pub verify_per_minute: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            signup_per_minute: 30,
            password_per_minute: 30,
            refresh_per_minute: 600,
            email_per_minute: 30,
            verify_per_minute: 30,
        }
    }
}

impl Bucket {
    /// The limit's name in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Signup => "signup",
            Self::PasswordSignIn => "password",
            Self::Refresh => "refresh",
            Self::Email => "email",
            Self::Verify => "verify",
        }
    }
}

impl RateLimits {
    fn per_minute(&self, bucket: Bucket) -> u32 {
        match bucket {
            Bucket::Signup => self.signup_per_minute,
            Bucket::PasswordSignIn => self.password_per_minute,
            Bucket::Refresh => self.refresh_per_minute,
            Bucket::Email => self.email_per_minute,
            Bucket::Verify => self.verify_per_minute,
        }
    }
}

/// Counts requests per bucket and IP. A full minute's allowance may be used at once; after that
/// requests are admitted at the steady rate.
#[derive(Debug)]
pub struct RateLimiter {
    limits: RateLimits,
    // Theoretical arrival time of the next conforming request, per key.
    next: Mutex<HashMap<(Bucket, IpAddr), Instant>>,
}

impl RateLimiter {
    /// A limiter enforcing `limits`.
    pub fn new(limits: RateLimits) -> Self {
        Self { limits, next: Mutex::new(HashMap::new()) }
    }

    /// Admits a request now, or says how long to wait.
    pub fn check(&self, bucket: Bucket, ip: IpAddr) -> Result<(), Duration> {
        self.check_at(bucket, ip, Instant::now())
    }

    /// Admits a request at `now`, or says how long to wait.
    pub fn check_at(&self, bucket: Bucket, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let rate = self.limits.per_minute(bucket);
        if rate == 0 {
            return Ok(());
        }
        let interval = Duration::from_secs(60) / rate;
        let tolerance = interval * rate;
        // A poisoned lock only means another request panicked mid-update; the map is still usable.
        let mut next = self.next.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if next.len() > SWEEP_THRESHOLD {
            next.retain(|_, tat| *tat > now);
        }
        let tat = next.get(&(bucket, ip)).copied().unwrap_or(now).max(now);
        let new_tat = tat + interval;
        let ahead = new_tat - now;
        if ahead > tolerance {
            return Err(ahead - tolerance);
        }
        next.insert((bucket, ip), new_tat);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, last])
    }

    #[test]
    fn a_minutes_allowance_then_the_steady_rate() {
        let limiter = RateLimiter::new(RateLimits { signup_per_minute: 30, ..RateLimits::default() });
        let t0 = Instant::now();
        for _ in 0..30 {
            assert!(limiter.check_at(Bucket::Signup, ip(1), t0).is_ok());
        }
        let wait = limiter.check_at(Bucket::Signup, ip(1), t0).unwrap_err();
        assert!(wait <= Duration::from_secs(2) && wait > Duration::ZERO, "{wait:?}");
        assert!(limiter.check_at(Bucket::Signup, ip(2), t0).is_ok(), "other clients are unaffected");
        assert!(limiter.check_at(Bucket::PasswordSignIn, ip(1), t0).is_ok(), "buckets are separate");
        assert!(limiter.check_at(Bucket::Signup, ip(1), t0 + Duration::from_secs(2)).is_ok());
    }

    #[test]
    fn zero_turns_a_limit_off() {
        let limiter = RateLimiter::new(RateLimits { refresh_per_minute: 0, ..RateLimits::default() });
        let t0 = Instant::now();
        assert!((0..10_000).all(|_| limiter.check_at(Bucket::Refresh, ip(1), t0).is_ok()));
    }
}
