use auth_core::ports::{Claim, TokenError};

/// Clock disagreement tolerated between the signer and the verifier, in seconds.
pub const CLOCK_SKEW_SECS: i64 = 60;
/// Longest access-token lifetime the configuration allows (one week), the bound until a
/// caller gives the configured one.
const LONGEST_ACCESS_SECS: i64 = 7 * 24 * 3600;
/// Longest API-key lifetime (ten years and a few days), the bound until a caller gives its own.
const LONGEST_API_KEY_SECS: i64 = 3660 * 24 * 3600;

/// How long the tokens a verifier accepts may have been issued for. A signed token whose
/// `exp - iat` exceeds its kind's lifetime (plus the skew) was not made by this server's
/// issuing code, whatever key signed it: a leaked key then cannot mint tokens that outlive
/// the key's retirement by more than one lifetime. `iat` and `nbf` must not lie in the future
/// (beyond the skew) either.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenLifetimes {
    /// Longest lifetime of a user's access token (one with a subject or a session), seconds.
    pub access_secs: i64,
    /// Longest lifetime of an API key (a token with neither subject nor session), seconds.
    pub api_key_secs: i64,
    /// Clock disagreement tolerated on every time claim, seconds.
    pub skew_secs: i64,
}

impl Default for TokenLifetimes {
    /// The longest lifetimes authd ever issues, with [`CLOCK_SKEW_SECS`].
    fn default() -> Self {
        Self { access_secs: LONGEST_ACCESS_SECS, api_key_secs: LONGEST_API_KEY_SECS, skew_secs: CLOCK_SKEW_SECS }
    }
}

/// Which bound a token's lifetime is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenKind {
    /// A user's access token (one with a subject or a session).
    Access,
    /// An API key (no subject, no session).
    ApiKey,
    /// An API key signed by a configured HS256 secret, as Supabase's tooling makes them: `exp`
    /// and `iat` are optional and the lifetime is not bounded, as Supabase Auth accepts them.
    /// Bounding it would protect nothing: such a secret cannot be retired without ending every
    /// token it signed, and its holder could leave `exp` out.
    StockApiKey,
}

/// The time claims of a token whose signature verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeClaims {
    /// `iat`, unix seconds, when the token has one.
    pub issued_at: Option<i64>,
    /// `exp`, unix seconds, when the token has one.
    pub expires_at: Option<i64>,
    /// `nbf`, unix seconds, when the token has one.
    pub not_before: Option<i64>,
    /// The bound the token is held to.
    pub kind: TokenKind,
}

impl TokenLifetimes {
    /// Checks a token's time claims at `now` (unix seconds): `exp` and `iat` present (except on
    /// a stock API key), not expired, not issued or valid only in the future, and not issued for
    /// longer than its kind's lifetime.
    pub(crate) fn check(&self, times: TimeClaims, now: i64) -> Result<(), TokenError> {
        let longest = match times.kind {
            TokenKind::Access => Some(self.access_secs),
            TokenKind::ApiKey => Some(self.api_key_secs),
            TokenKind::StockApiKey => None,
        };
        if longest.is_some() {
            times.expires_at.ok_or(TokenError::MissingClaim(Claim::Exp))?;
            times.issued_at.ok_or(TokenError::MissingClaim(Claim::Iat))?;
        }
        if times.expires_at.is_some_and(|exp| exp <= now) {
            return Err(TokenError::Expired);
        }
        let latest_start = now.saturating_add(self.skew_secs);
        if times.issued_at.is_some_and(|iat| iat > latest_start)
            || times.not_before.is_some_and(|nbf| nbf > latest_start)
        {
            return Err(TokenError::NotYetValid);
        }
        if let (Some(longest), Some(exp), Some(iat)) = (longest, times.expires_at, times.issued_at) {
            // Saturating: an `iat` of i64::MIN must not wrap into a short lifetime.
            if exp.saturating_sub(iat) > longest.saturating_add(self.skew_secs) {
                return Err(TokenError::LifetimeTooLong);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_900_000_000;

    fn lifetimes() -> TokenLifetimes {
        TokenLifetimes { access_secs: 3600, api_key_secs: 86_400, skew_secs: 60 }
    }

    fn user(issued_at: i64, expires_at: i64) -> TimeClaims {
        TimeClaims {
            issued_at: Some(issued_at),
            expires_at: Some(expires_at),
            not_before: None,
            kind: TokenKind::Access,
        }
    }

    #[test]
    fn a_token_as_issued_passes_up_to_its_expiry() {
        assert_eq!(lifetimes().check(user(NOW, NOW + 3600), NOW), Ok(()));
        assert_eq!(lifetimes().check(user(NOW, NOW + 3600), NOW + 3599), Ok(()));
        assert_eq!(lifetimes().check(user(NOW, NOW + 3600), NOW + 3600), Err(TokenError::Expired));
    }

    #[test]
    fn lifetimes_beyond_the_configured_one_and_the_skew_are_refused() {
        assert_eq!(lifetimes().check(user(NOW, NOW + 3660), NOW), Ok(()), "within the skew");
        assert_eq!(lifetimes().check(user(NOW, NOW + 3661), NOW), Err(TokenError::LifetimeTooLong));
        assert_eq!(lifetimes().check(user(NOW, 4_102_444_800), NOW), Err(TokenError::LifetimeTooLong));
        assert_eq!(lifetimes().check(user(i64::MIN, NOW + 10), NOW), Err(TokenError::LifetimeTooLong));
        let api_key = TimeClaims { kind: TokenKind::ApiKey, ..user(NOW, NOW + 86_400) };
        assert_eq!(lifetimes().check(api_key, NOW), Ok(()), "API keys have their own bound");
        let api_key = TimeClaims { kind: TokenKind::ApiKey, ..user(NOW, NOW + 86_461) };
        assert_eq!(lifetimes().check(api_key, NOW), Err(TokenError::LifetimeTooLong));
    }

    #[test]
    fn only_stock_api_keys_may_lack_exp_and_iat_or_live_long() {
        let no_exp = TimeClaims { expires_at: None, ..user(NOW, 0) };
        let no_iat = TimeClaims { issued_at: None, ..user(0, NOW + 60) };
        for kind in [TokenKind::Access, TokenKind::ApiKey] {
            let check = |times: TimeClaims| lifetimes().check(TimeClaims { kind, ..times }, NOW);
            assert_eq!(check(no_exp), Err(TokenError::MissingClaim(Claim::Exp)), "{kind:?}");
            assert_eq!(check(no_iat), Err(TokenError::MissingClaim(Claim::Iat)), "{kind:?}");
        }
        let stock = |times: TimeClaims| lifetimes().check(TimeClaims { kind: TokenKind::StockApiKey, ..times }, NOW);
        assert_eq!(stock(no_exp), Ok(()), "Supabase's stock keys may have no exp");
        assert_eq!(stock(TimeClaims { issued_at: None, expires_at: None, ..user(0, 0) }), Ok(()));
        assert_eq!(stock(user(NOW - 86_400, NOW + 100 * 365 * 86_400)), Ok(()), "nor a bounded lifetime");
        // What they carry is still held to: expiry, and no start in the future.
        assert_eq!(stock(user(NOW - 86_400, NOW)), Err(TokenError::Expired));
        assert_eq!(stock(TimeClaims { expires_at: None, ..user(NOW + 61, 0) }), Err(TokenError::NotYetValid));
        let nbf = TimeClaims { not_before: Some(NOW + 61), expires_at: None, issued_at: None, ..user(0, 0) };
        assert_eq!(stock(nbf), Err(TokenError::NotYetValid));
    }

    #[test]
    fn tokens_from_the_future_are_refused() {
        assert_eq!(lifetimes().check(user(NOW + 60, NOW + 3600), NOW), Ok(()), "within the skew");
        assert_eq!(lifetimes().check(user(NOW + 61, NOW + 3600), NOW), Err(TokenError::NotYetValid));
        let nbf = |not_before| TimeClaims { not_before: Some(not_before), ..user(NOW, NOW + 3600) };
        assert_eq!(lifetimes().check(nbf(NOW + 60), NOW), Ok(()));
        assert_eq!(lifetimes().check(nbf(NOW + 61), NOW), Err(TokenError::NotYetValid));
        assert_eq!(lifetimes().check(nbf(i64::MAX), NOW), Err(TokenError::NotYetValid));
    }
}
