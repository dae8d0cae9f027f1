//! PKCE on the email flows: the request fields that start it. `POST /token?grant_type=pkce`,
//! which ends it, is in `token.rs`.

use auth_core::AuthError;
use auth_core::service::LinkOptions;
use serde::Deserialize;

use crate::AppState;

/// `code_challenge` and `code_challenge_method`, as auth-js sends them with every email flow
/// (two nulls in the implicit flow).
#[derive(Deserialize, Default)]
pub(crate) struct ChallengeFields {
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
}

impl ChallengeFields {
    /// How the emailed link is to be used: landing at `redirect_to`, with this challenge.
    pub(crate) fn link_options(&self, state: &AppState, redirect_to: Option<String>) -> Result<LinkOptions, AuthError> {
        let pkce =
            state.service.code_challenge(self.code_challenge.as_deref(), self.code_challenge_method.as_deref())?;
        Ok(LinkOptions { redirect_to, pkce })
    }
}
