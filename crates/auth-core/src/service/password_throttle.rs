//! The per-account throttle of password checks: every place that checks a password the user
//! types (sign-in, `PUT /user` with `current_password`, `DELETE /user`) reserves the check
//! here first, so guesses against one account are bounded whatever IP they come from and
//! whichever endpoint they use.
//!
//! Two counters per account, both on the [`RateLimiter`](crate::ports::RateLimiter) port:
//! one per (account, client network), small, and one for the whole account, larger, which
//! clients the account already knows skip. A client becomes known by proving the password
//! from its network. So a flood of guesses from many networks throttles only networks that
//! never signed in to the account: its owner, signing in from where they did before, keeps
//! working (limited only by their own network's counter), and a new device still has email
//! sign-in and recovery, which no password throttle gates.

use std::net::IpAddr;
use std::time::Duration;

use super::{AuthService, ClientInfo};
use crate::domain::{LimitKey, Quota, client_network};
use crate::error::AuthError;
use crate::ports::{Admission, LimiterError};

/// How failed password checks are throttled per account; a count of 0 turns that counter off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordThrottle {
    /// Checks of one account from one client network per window (a burst, then refilled).
    pub per_client: u32,
    /// Checks of one account from networks it does not know, per window.
    pub per_account: u32,
    /// The span over which the counts refill.
    pub window: Duration,
    /// How long a network that proved the password stays known to the account.
    pub known_client_ttl: Duration,
}

impl Default for PasswordThrottle {
    fn default() -> Self {
        Self {
            per_client: 10,
            per_account: 50,
            window: Duration::from_secs(15 * 60),
            known_client_ttl: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

/// A reserved password check, to report as passed when the password was right.
pub(super) struct CheckReservation {
    pair: LimitKey,
    known: LimitKey,
}

/// What a throttled account is called: a user's id, or the name tried when no account has it
/// (counted alike, so a refusal never tells whether the account exists).
pub(super) fn account_key(id: Option<crate::domain::UserId>, name: &str) -> String {
    match id {
        Some(id) => id.to_string(),
        None => format!("name:{}", name.trim().to_lowercase()),
    }
}

impl AuthService {
    /// Reserves one password check of `account` from `client`, or refuses it with
    /// `TooManyAttempts`. The reservation counts as a failure until
    /// [`AuthService::password_check_passed`] says otherwise, so concurrent guesses never
    /// exceed the counts.
    pub(super) async fn reserve_password_check(
        &self,
        account: &str,
        client: &ClientInfo,
    ) -> Result<CheckReservation, AuthError> {
        let throttle = self.settings.password_throttle;
        let network = client
            .ip
            .as_deref()
            .and_then(|ip| ip.parse::<IpAddr>().ok())
            .map_or_else(|| "unknown".to_owned(), |ip| client_network(ip).to_string());
        let pair_subject = format!("{account}/{network}");
        let reservation = CheckReservation {
            pair: LimitKey::new("password_client", &pair_subject),
            known: LimitKey::new("password_known", &pair_subject),
        };
        let window = throttle.window;
        refuse_when_over(self.limiter.hit(&reservation.pair, Quota { limit: throttle.per_client, window }).await)?;
        let known_quota = Quota { limit: 1, window: throttle.known_client_ttl };
        let known = matches!(self.limiter.peek(&reservation.known, known_quota).await, Ok(Admission::Refused { .. }));
        if !known {
            let whole = LimitKey::new("password_account", account);
            refuse_when_over(self.limiter.hit(&whole, Quota { limit: throttle.per_account, window }).await)?;
        }
        Ok(reservation)
    }

    /// The reserved check found the right password: its client's failures are forgotten and
    /// its network becomes known to the account. Best effort: a limiter failure only leaves
    /// the counts as they were.
    pub(super) async fn password_check_passed(&self, reservation: CheckReservation) {
        let _ = self.limiter.forget(&reservation.pair).await;
        let known_quota = Quota { limit: 1, window: self.settings.password_throttle.known_client_ttl };
        // Forgotten first, so the mark lasts from this success.
        let _ = self.limiter.forget(&reservation.known).await;
        let _ = self.limiter.hit(&reservation.known, known_quota).await;
    }
}

fn refuse_when_over(answer: Result<Admission, LimiterError>) -> Result<(), AuthError> {
    match answer {
        Ok(Admission::Admitted) => Ok(()),
        Ok(Admission::Refused { retry_after }) => Err(AuthError::TooManyAttempts { retry_after }),
        // Closed, not open: without its counters the throttle cannot tell a flood from a user.
        Err(LimiterError(detail)) => Err(AuthError::Unavailable(detail)),
    }
}
