use crate::domain::{ChallengeError, ChallengeId, EmailError, MetadataError, PhoneError, UsernameError, WeakPassword};
use crate::ports::{HashError, RandomError, StoreError, TokenError, UniqueField};

/// Everything a use case can refuse or fail with. Each variant has a stable snake_case
/// [`code`](AuthError::code) (Supabase Auth's `error_code` vocabulary); only the HTTP adapter
/// decides status codes.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AuthError {
    /// Input failed validation; `field` names it.
    #[error("{field}: {message}")]
    Validation {
        /// The offending field, as named on the wire.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// A new password failed the policy.
    #[error("{0}")]
    WeakPassword(WeakPassword),
    /// Wrong identifier or password (never says which).
    #[error("Invalid login credentials")]
    InvalidCredentials,
    /// The password was right but the email address is not confirmed yet.
    #[error("Email not confirmed")]
    EmailNotConfirmed,
    /// The user is banned.
    #[error("User is banned")]
    UserBanned,
    /// Sign-ups are turned off.
    #[error("Signups not allowed for this instance")]
    SignupDisabled,
    /// Phone sign-up and sign-in need an SMS provider, which this server does not have.
    #[error("Phone signups are disabled")]
    PhoneProviderDisabled,
    /// Anonymous sign-ins are turned off.
    #[error("Anonymous sign-ins are disabled")]
    AnonymousProviderDisabled,
    /// Sign-up of an address that already has an account (only revealed when confirmation is off).
    #[error("User already registered")]
    UserAlreadyExists,
    /// Another account has this email address.
    #[error("A user with this email address has already been registered")]
    EmailExists,
    /// Another account has this phone number.
    #[error("A user with this phone number has already been registered")]
    PhoneExists,
    /// Another account has this username.
    #[error("A user with this username has already been registered")]
    UsernameExists,
    /// The new password equals the current one.
    #[error("New password should be different from the old password.")]
    SamePassword,
    /// A password change needs the current password (or a reauthentication nonce).
    #[error("Current password required when setting new password.")]
    CurrentPasswordRequired,
    /// The current password given is wrong.
    #[error("Current password is incorrect.")]
    CurrentPasswordInvalid,
    /// The refresh token is unknown or its session is gone.
    #[error("Invalid Refresh Token: Refresh Token Not Found")]
    RefreshTokenNotFound,
    /// A used refresh token was presented again; its session has been revoked.
    #[error("Invalid Refresh Token: Already Used")]
    RefreshTokenAlreadyUsed,
    /// The access token's session was revoked, or its user deleted or banned.
    #[error("Session from session_id claim in JWT does not exist")]
    SessionNotFound,
    /// The session is past its lifetime limits.
    #[error("Session expired")]
    SessionExpired,
    /// The access token is invalid or expired.
    #[error("invalid JWT: {0}")]
    BadJwt(TokenError),
    /// The request needs an access token and carried none.
    #[error("This endpoint requires a valid Bearer token")]
    NoAuthorization,
    /// An emailed link or code is wrong, used, replaced or expired (never says which).
    #[error("Token has expired or is invalid")]
    OtpExpired,
    /// No unexpired, unused auth code matches (PKCE exchange).
    #[error("invalid flow state, no valid flow state found")]
    FlowStateNotFound,
    /// The auth code was found but has expired (PKCE exchange).
    #[error("auth code has expired")]
    FlowStateExpired,
    /// The code verifier does not match the challenge the flow started with.
    #[error("code challenge does not match previously saved code verifier")]
    BadCodeVerifier,
    /// The same address asked for the same mail again too soon (or one client asked for too
    /// many mails).
    #[error("For security purposes, you can only request this after a while")]
    EmailRateLimited {
        /// How long until the request would be let through.
        retry_after: std::time::Duration,
    },
    /// Too many password checks of this account (from this client, or from clients the
    /// account does not know); the check was not made.
    #[error("Request rate limit reached")]
    TooManyAttempts {
        /// How long until a check would be let through.
        retry_after: std::time::Duration,
    },
    /// A reauthentication code (`nonce`) given is wrong, used or expired.
    #[error("Nonce has expired or is invalid")]
    ReauthenticationNotValid,
    /// The same number asked for the same code again too soon, or the server's SMS allowance
    /// is spent.
    #[error("For security purposes, you can only request this after a while")]
    SmsRateLimited {
        /// How long until the request would be let through.
        retry_after: std::time::Duration,
    },
    /// The phone number is not confirmed yet.
    #[error("Phone not confirmed")]
    PhoneNotConfirmed,
    /// Phone sign-in is on but no SMS provider is configured for this number.
    #[error("Unable to get SMS provider")]
    SmsProviderMissing,
    /// `POST /otp` with `create_user: false` for an address without an account, with
    /// `EmailSettings::otp_reveals_unknown_addresses` on (as Supabase Auth answers).
    #[error("Signups not allowed for otp")]
    OtpDisabled,
    /// Setting a first password or deleting an account without one needs a reauthentication
    /// code (`GET /reauthenticate`) or a recent sign-in by email.
    #[error("Password update requires reauthentication")]
    ReauthenticationNeeded,
    /// Password hashing is saturated (its queue is full); retry after the given time.
    #[error("Server busy, please retry")]
    Overloaded {
        /// A hint of how long to wait.
        retry_after: std::time::Duration,
    },
    /// The caller is not an administrator (the service role).
    #[error("User not allowed")]
    NotAdmin,
    /// A user tried to set fields of their own account that only an administrator may set.
    #[error("Updating app_metadata, role or aud requires admin privileges")]
    AdminOnlyFields,
    /// `api.require_key` is on and the request carries no API key.
    #[error("No API key found in request")]
    NoApiKey,
    /// The API key given is not one of this server's anon or service-role keys.
    #[error("Invalid API key")]
    InvalidApiKey,
    /// The API key given is not a token this server accepts; the [`TokenError`] says why.
    #[error("Invalid API key: {0}")]
    BadApiKey(TokenError),
    /// The user does not exist.
    #[error("User not found")]
    UserNotFound,
    /// The operation would send mail, and this service was built without mail templates.
    #[error("Sending email is not configured on this server")]
    MailDisabled,
    /// The operation is turned off by configuration.
    #[error("{0} is disabled")]
    FeatureDisabled(&'static str),
    /// A refusal of the multi-factor use cases.
    #[error("{0}")]
    Mfa(MfaError),
    /// A refusal of external sign-in (identity providers, identities).
    #[error("{0}")]
    External(ExternalError),
    /// A dependency (database, hashing pool) is unavailable; retrying later may work.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// A bug or corrupt data; details go to the log, never to the client.
    #[error("internal error: {0}")]
    Internal(String),
}

impl AuthError {
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Validation { .. } => "validation_failed",
            Self::WeakPassword(_) => "weak_password",
            Self::InvalidCredentials => "invalid_credentials",
            Self::EmailNotConfirmed => "email_not_confirmed",
            Self::UserBanned => "user_banned",
            Self::SignupDisabled => "signup_disabled",
            Self::AnonymousProviderDisabled => "anonymous_provider_disabled",
            Self::PhoneProviderDisabled => "phone_provider_disabled",
            Self::UserAlreadyExists => "user_already_exists",
            Self::EmailExists => "email_exists",
            Self::PhoneExists => "phone_exists",
            Self::UsernameExists => "username_exists",
            Self::SamePassword => "same_password",
            Self::CurrentPasswordRequired => "current_password_required",
            Self::CurrentPasswordInvalid => "current_password_invalid",
            Self::RefreshTokenNotFound => "refresh_token_not_found",
            Self::RefreshTokenAlreadyUsed => "refresh_token_already_used",
            Self::SessionNotFound => "session_not_found",
            Self::SessionExpired => "session_expired",
            Self::BadJwt(_) => "bad_jwt",
            Self::NoAuthorization => "no_authorization",
            Self::NotAdmin | Self::AdminOnlyFields => "not_admin",
            Self::OtpExpired => "otp_expired",
            Self::FlowStateNotFound => "flow_state_not_found",
            Self::FlowStateExpired => "flow_state_expired",
            Self::BadCodeVerifier => "bad_code_verifier",
            Self::EmailRateLimited { .. } => "over_email_send_rate_limit",
            Self::TooManyAttempts { .. } => "over_request_rate_limit",
            Self::ReauthenticationNeeded => "reauthentication_needed",
            Self::ReauthenticationNotValid => "reauthentication_not_valid",
            Self::OtpDisabled => "otp_disabled",
            Self::SmsRateLimited { .. } => "over_sms_send_rate_limit",
            Self::PhoneNotConfirmed => "phone_not_confirmed",
            Self::SmsProviderMissing => "unexpected_failure",
            Self::Overloaded { .. } => "server_busy",
            Self::NoApiKey => "no_api_key",
            Self::InvalidApiKey | Self::BadApiKey(_) => "invalid_api_key",
            Self::UserNotFound => "user_not_found",
            Self::MailDisabled => "email_provider_disabled",
            Self::FeatureDisabled(_) => "feature_disabled",
            Self::Mfa(mfa) => mfa.code(),
            Self::External(external) => external.code(),
            Self::Unavailable(_) => "service_unavailable",
            Self::Internal(_) => "unexpected_failure",
        }
    }

    pub(crate) fn invalid(field: &'static str, error: impl std::fmt::Display) -> Self {
        Self::Validation { field, message: error.to_string() }
    }
}

/// Why a multi-factor use case refused; each has Supabase Auth's code and sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MfaError {
    /// The caller has no factor with this id.
    #[error("Factor not found")]
    FactorNotFound,
    /// The factor has no challenge with this id.
    #[error("MFA factor with the provided challenge ID not found")]
    ChallengeNotFound,
    /// Another factor of the user has this friendly name.
    #[error("A factor with the friendly name \"{0}\" for this user already exists")]
    NameConflict(String),
    /// The user has as many factors as allowed.
    #[error("Maximum number of verified factors reached, unenroll to continue")]
    TooManyFactors,
    /// Enrolling another factor once one is verified needs an aal2 session.
    #[error("AAL2 required to enroll a new factor")]
    EnrollNeedsAal2,
    /// Unenrolling a verified factor needs an aal2 session.
    #[error("AAL2 required to unenroll verified factor")]
    UnenrollNeedsAal2,
    /// Changing the email address or password of a user with a verified factor needs an aal2
    /// session.
    #[error("AAL2 session is required to update email or password when MFA is enabled.")]
    UpdateNeedsAal2,
    /// The challenge was used already, or is answered from another address than it was issued to.
    #[error("Challenge and verify IP addresses mismatch.")]
    ChallengeMismatch,
    /// The challenge expired.
    #[error("MFA challenge {0} has expired, verify against another challenge or create a new challenge.")]
    ChallengeExpired(ChallengeId),
    /// The code is wrong, or was accepted before.
    #[error("Invalid TOTP code entered")]
    VerificationFailed,
    /// TOTP enrollment is turned off.
    #[error("MFA enroll is disabled for TOTP")]
    TotpEnrollDisabled,
    /// TOTP verification is turned off.
    #[error("MFA verification is disabled for TOTP")]
    TotpVerifyDisabled,
    /// Anonymous users have no factors.
    #[error("Anonymous user not allowed to perform these actions")]
    AnonymousUser,
    /// The factor is of a kind this route does not serve (recovery codes are never challenged).
    #[error("Factor of type {0} cannot be challenged or verified here")]
    WrongFactorType(&'static str),
    /// Recovery codes cannot be generated (turned off).
    #[error("MFA enroll is disabled for recovery codes")]
    RecoveryCodesEnrollDisabled,
    /// Recovery codes cannot be used (turned off).
    #[error("MFA verification is disabled for recovery codes")]
    RecoveryCodesVerifyDisabled,
    /// Recovery codes need another verified factor: they are never a user's only factor.
    #[error("Recovery codes require another verified factor")]
    RecoveryCodesSoleFactor,
    /// The user has recovery codes already (regenerate replaces them).
    #[error("Recovery codes already exist for this user, regenerate them instead")]
    RecoveryCodesExist,
    /// The code is not one of the user's unused recovery codes.
    #[error("Invalid recovery code entered")]
    RecoveryCodeRejected,
    /// Too many wrong recovery codes: the set takes none for a while.
    #[error("Too many failed recovery code attempts, try again later")]
    RecoveryCodesLocked {
        /// How long until a code would be compared again.
        retry_after: std::time::Duration,
    },
}

impl MfaError {
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::FactorNotFound | Self::ChallengeNotFound => "mfa_factor_not_found",
            Self::NameConflict(_) => "mfa_factor_name_conflict",
            Self::TooManyFactors => "too_many_enrolled_mfa_factors",
            Self::EnrollNeedsAal2 | Self::UnenrollNeedsAal2 | Self::UpdateNeedsAal2 => "insufficient_aal",
            Self::ChallengeMismatch => "mfa_ip_address_mismatch",
            Self::ChallengeExpired(_) => "mfa_challenge_expired",
            Self::VerificationFailed => "mfa_verification_failed",
            Self::TotpEnrollDisabled => "mfa_totp_enroll_not_enabled",
            Self::TotpVerifyDisabled => "mfa_totp_verify_not_enabled",
            Self::AnonymousUser => "no_authorization",
            Self::WrongFactorType(_) => "validation_failed",
            Self::RecoveryCodesEnrollDisabled => "mfa_recovery_codes_enroll_not_enabled",
            Self::RecoveryCodesVerifyDisabled => "mfa_recovery_codes_verify_not_enabled",
            Self::RecoveryCodesSoleFactor => "mfa_recovery_codes_sole_factor",
            Self::RecoveryCodesExist => "mfa_verified_factor_exists",
            Self::RecoveryCodeRejected => "mfa_verification_failed",
            Self::RecoveryCodesLocked { .. } => "mfa_recovery_codes_locked",
        }
    }
}

impl From<MfaError> for AuthError {
    fn from(error: MfaError) -> Self {
        Self::Mfa(error)
    }
}

impl From<StoreError> for AuthError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict(UniqueField::Email) => Self::EmailExists,
            StoreError::Conflict(UniqueField::Phone) => Self::PhoneExists,
            StoreError::Conflict(UniqueField::Username) => Self::UsernameExists,
            StoreError::Conflict(UniqueField::Id) => Self::Internal("id collision".into()),
            StoreError::Conflict(UniqueField::Identity) => {
                Self::External(ExternalError::IdentityAlreadyExists { same_user: false })
            }
            // Callers whose store call may miss a row say what that means with
            // [`MissingRow::or_missing`]; reaching this arm means the store broke its contract.
            StoreError::NotFound => Self::Internal("the store found no row where the use case expected one".into()),
            StoreError::Unavailable(detail) => Self::Unavailable(detail),
            StoreError::Internal(detail) => Self::Internal(detail),
        }
    }
}

/// What a missing row means to the use case that needed it: a store call whose contract says
/// it fails with [`StoreError::NotFound`] names the [`AuthError`] that stands for that.
pub(crate) trait MissingRow<T> {
    /// `NotFound` becomes `gone`; every other failure converts as usual.
    fn or_missing(self, gone: AuthError) -> Result<T, AuthError>;
}

impl<T> MissingRow<T> for Result<T, StoreError> {
    fn or_missing(self, gone: AuthError) -> Result<T, AuthError> {
        match self {
            Ok(value) => Ok(value),
            Err(StoreError::NotFound) => Err(gone),
            Err(other) => Err(other.into()),
        }
    }
}

impl From<HashError> for AuthError {
    fn from(error: HashError) -> Self {
        match error {
            HashError::Unavailable(detail) => Self::Unavailable(detail),
            HashError::Overloaded { retry_after } => Self::Overloaded { retry_after },
            HashError::UnreadableHash => Self::Internal(error.to_string()),
        }
    }
}

impl From<RandomError> for AuthError {
    fn from(error: RandomError) -> Self {
        Self::Internal(error.to_string())
    }
}

impl From<ChallengeError> for AuthError {
    fn from(error: ChallengeError) -> Self {
        Self::invalid("code_challenge", error)
    }
}

impl From<EmailError> for AuthError {
    fn from(error: EmailError) -> Self {
        Self::invalid("email", error)
    }
}

impl From<UsernameError> for AuthError {
    fn from(error: UsernameError) -> Self {
        Self::invalid("username", error)
    }
}

impl From<PhoneError> for AuthError {
    fn from(error: PhoneError) -> Self {
        Self::invalid("phone", error)
    }
}

impl From<WeakPassword> for AuthError {
    fn from(error: WeakPassword) -> Self {
        Self::WeakPassword(error)
    }
}

impl From<MetadataError> for AuthError {
    fn from(error: MetadataError) -> Self {
        Self::invalid("data", error)
    }
}

/// Why external sign-in refused; each has Supabase Auth's code and, where it has one, its
/// sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExternalError {
    /// The provider is unknown or not enabled.
    #[error("Unsupported provider: {0}")]
    UnsupportedProvider(String),
    /// The provider is known but not enabled (ID-token sign-in).
    #[error("Provider (issuer \"{0}\") is not enabled")]
    ProviderDisabled(String),
    /// The callback carried no `state`.
    #[error("OAuth state parameter missing")]
    StateMissing,
    /// The `state` is not one this server issues.
    #[error("OAuth state parameter is invalid")]
    StateInvalid,
    /// No flow has this `state` (used, pruned, or never issued).
    #[error("OAuth state not found or expired")]
    StateNotFound,
    /// The flow has expired.
    #[error("OAuth state has expired")]
    StateExpired,
    /// The flow was started by another browser (its binding cookie is missing or differs).
    #[error("OAuth state was not started in this browser")]
    OtherBrowser,
    /// The callback carried no authorization code.
    #[error("OAuth callback with missing authorization code missing")]
    CodeMissing,
    /// The provider answered the authorization with an error of its own.
    #[error("{description}")]
    ProviderRefused {
        /// The provider's `error`.
        error: String,
        /// The provider's `error_description`.
        description: String,
    },
    /// The code could not be exchanged at the provider.
    #[error("Unable to exchange external code")]
    ExchangeFailed(String),
    /// The provider's user data could not be read.
    #[error("Error getting user profile from external provider")]
    ProfileFailed(String),
    /// The provider gave no email address.
    #[error("Error getting user email from external provider")]
    NoEmail,
    /// Several accounts could take this identity.
    #[error("Multiple accounts with the same email address in the same linking domain detected: {0}")]
    MultipleAccounts(String),
    /// The provider's address is not verified, so the account cannot be signed in yet.
    #[error("Unverified email with {0}. Verify the email with {0} in order to sign in")]
    EmailNeedsVerification(String),
    /// The identity is linked already.
    #[error("{}", if *same_user { "Identity is already linked" } else { "Identity is already linked to another user" })]
    IdentityAlreadyExists {
        /// To the caller's own account.
        same_user: bool,
    },
    /// The caller has no identity with this id.
    #[error("Identity doesn't exist")]
    IdentityNotFound,
    /// Unlinking would leave the user without an identity.
    #[error("User must have at least 1 identity after unlinking")]
    SingleIdentity,
    /// `/user/identities` while manual linking is off.
    #[error("Manual linking is disabled")]
    ManualLinkingDisabled,
    /// An ID token was refused (`POST /token?grant_type=id_token`); an OAuth-style error.
    #[error("{0}")]
    BadIdToken(String),
    /// The nonce does not match the ID token's.
    #[error("Nonces mismatch")]
    NonceMismatch,
}

impl ExternalError {
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnsupportedProvider(_) => "validation_failed",
            Self::ProviderDisabled(_) => "provider_disabled",
            Self::StateMissing | Self::CodeMissing => "bad_oauth_callback",
            Self::StateInvalid | Self::StateNotFound | Self::StateExpired | Self::OtherBrowser => "bad_oauth_state",
            Self::ProviderRefused { .. } => "oauth_provider_error",
            Self::ExchangeFailed(_) | Self::ProfileFailed(_) | Self::NoEmail | Self::MultipleAccounts(_) => {
                "unexpected_failure"
            }
            Self::EmailNeedsVerification(_) => "provider_email_needs_verification",
            Self::IdentityAlreadyExists { .. } => "identity_already_exists",
            Self::IdentityNotFound => "identity_not_found",
            Self::SingleIdentity => "single_identity_not_deletable",
            Self::ManualLinkingDisabled => "manual_linking_disabled",
            Self::BadIdToken(_) => "invalid_request",
            Self::NonceMismatch => "invalid_nonce",
        }
    }
}

impl From<ExternalError> for AuthError {
    fn from(error: ExternalError) -> Self {
        Self::External(error)
    }
}
