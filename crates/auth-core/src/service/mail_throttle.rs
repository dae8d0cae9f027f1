//! One mail of a kind to one address per interval (`email.send_interval`): a rule of the use
//! cases that mail on request, so every adapter gets it. It counts on the service's
//! [`RateLimiter`](crate::ports::RateLimiter) (a quota of one per interval), so replicas that
//! share their limiter share this throttle too.
//!
//! Counted for every address asked about, known or not and even malformed (compared trimmed and
//! in lower case, as `Email` normalises), so a refusal never tells which addresses have
//! accounts; for the same reason the kind is the one the request asks for, never the one its
//! outcome sends (a magic-link request for an unknown address mails a confirmation).

use super::AuthService;
use crate::domain::{LimitKey, MailKind, Quota};
use crate::error::AuthError;
use crate::ports::{Admission, LimiterError};

/// The limiter key of mails of `kind` to the address `to`.
fn mail_key(kind: MailKind, to: &str) -> LimitKey {
    LimitKey::new(&format!("mail_{}", kind.as_str()), &to.trim().to_lowercase())
}

impl AuthService {
    /// Counts a request for a mail of `kind` to the address `to` (parsed or not); refuses it
    /// when the address asked for this kind within `email.send_interval` (an interval of zero
    /// or less turns the throttle off). Refuses first when this service has no mail templates,
    /// alike for every address.
    pub(super) async fn admit_mail(&self, kind: MailKind, to: &str) -> Result<(), AuthError> {
        self.require_mail()?;
        let Ok(window) = self.settings.email.send_interval.to_std() else { return Ok(()) };
        let quota = Quota { limit: 1, window };
        if quota.is_off() {
            return Ok(());
        }
        match self.limiter.hit(&mail_key(kind, to), quota).await {
            Ok(Admission::Admitted) => Ok(()),
            Ok(Admission::Refused { retry_after }) => Err(AuthError::EmailRateLimited { retry_after }),
            // Closed, not open: a throttle that cannot count would let a flood of mail through.
            Err(LimiterError(detail)) => Err(AuthError::Unavailable(detail)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_count_trimmed_in_lower_case_and_kinds_apart() {
        assert_eq!(mail_key(MailKind::Recovery, " Ada@Example.com"), mail_key(MailKind::Recovery, "ada@example.com"));
        assert_ne!(mail_key(MailKind::Recovery, "ada@example.com"), mail_key(MailKind::MagicLink, "ada@example.com"));
    }
}
