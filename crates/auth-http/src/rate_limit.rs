//! Per-client request rate limits: which requests count against which per-minute limit. The
//! counting is auth-core's `RateLimiter` port (in process, or shared by replicas), keyed by the
//! client's network (an IPv6 client by its /64). The one-mail-per-address rule and the
//! per-account password throttle are the use cases' (auth-core).

use auth_core::domain::Quota;

/// What a limit applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bucket {
    /// `POST /signup`.
    Signup,
    /// `POST /token?grant_type=password`, and the password checks of a signed-in user:
    /// `PUT /user` with `current_password`, `DELETE /user` with `password`.
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

    /// The scope its counters have in the rate limiter.
    pub(crate) fn scope(self) -> &'static str {
        match self {
            Self::Signup => "ip_signup",
            Self::PasswordSignIn => "ip_password",
            Self::Refresh => "ip_refresh",
            Self::Email => "ip_email",
            Self::Verify => "ip_verify",
        }
    }
}

impl RateLimits {
    /// The quota of `bucket`: its per-minute count, a minute's allowance at once, then the
    /// steady rate.
    pub(crate) fn quota(&self, bucket: Bucket) -> Quota {
        Quota::per_minute(match bucket {
            Bucket::Signup => self.signup_per_minute,
            Bucket::PasswordSignIn => self.password_per_minute,
            Bucket::Refresh => self.refresh_per_minute,
            Bucket::Email => self.email_per_minute,
            Bucket::Verify => self.verify_per_minute,
        })
    }
}
