//! One mail of a kind to one address per interval (`email.send_interval`), held in process
//! memory: a rule of the use cases that mail on request, so every adapter gets it.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

use crate::domain::MailKind;
use crate::error::AuthError;

/// Entries beyond which expired ones are swept, so memory stays bounded.
const SWEEP_THRESHOLD: usize = 10_000;

/// When each address last asked for each kind of mail. Counted for every address asked about,
/// known or not and even malformed (compared trimmed and in lower case, as `Email` normalises),
/// so a refusal never tells which addresses have accounts; for the same reason
/// the kind is the one the request asks for, never the one its outcome sends (a magic-link
/// request for an unknown address mails a confirmation).
#[derive(Debug)]
pub(super) struct MailThrottle {
    interval: Duration,
    last: Mutex<HashMap<(String, MailKind), DateTime<Utc>>>,
}

impl MailThrottle {
    /// A throttle letting one request per address and kind through every `interval`; zero
    /// or less turns it off.
    pub(super) fn new(interval: Duration) -> Self {
        Self { interval, last: Mutex::new(HashMap::new()) }
    }

    /// Counts a request at `now` for a mail of `kind` to the address `to`, or refuses it with
    /// how long to wait.
    pub(super) fn admit(&self, kind: MailKind, to: &str, now: DateTime<Utc>) -> Result<(), AuthError> {
        if self.interval <= Duration::zero() {
            return Ok(());
        }
        // A poisoned lock only means another request panicked mid-update; the map is still usable.
        let mut last = self.last.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if last.len() > SWEEP_THRESHOLD {
            let interval = self.interval;
            last.retain(|_, at| now - *at < interval);
        }
        let key = (to.trim().to_lowercase(), kind);
        if let Some(at) = last.get(&key) {
            let since = now - *at;
            if since < self.interval {
                let retry_after = (self.interval - since).to_std().unwrap_or_default();
                return Err(AuthError::EmailRateLimited { retry_after });
            }
        }
        last.insert(key, now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_mail_per_address_and_kind_per_interval() {
        let throttle = MailThrottle::new(Duration::seconds(60));
        let t0 = DateTime::<Utc>::default();
        assert!(throttle.admit(MailKind::Recovery, "Ada@example.com", t0).is_ok());
        let again = throttle.admit(MailKind::Recovery, " ada@example.com", t0 + Duration::seconds(10));
        assert_eq!(again.unwrap_err(), AuthError::EmailRateLimited { retry_after: std::time::Duration::from_secs(50) });
        assert!(throttle.admit(MailKind::MagicLink, "ada@example.com", t0).is_ok(), "kinds are separate");
        assert!(throttle.admit(MailKind::Recovery, "ada@example.com", t0 + Duration::seconds(60)).is_ok());
        assert!(throttle.admit(MailKind::Recovery, "not an address", t0).is_ok());
        assert!(throttle.admit(MailKind::Recovery, "NOT an address", t0).is_err(), "malformed ones count too");
    }

    #[test]
    fn zero_turns_it_off() {
        let throttle = MailThrottle::new(Duration::zero());
        let t0 = DateTime::<Utc>::default();
        assert!((0..100).all(|_| throttle.admit(MailKind::Recovery, "ada@example.com", t0).is_ok()));
    }
}
