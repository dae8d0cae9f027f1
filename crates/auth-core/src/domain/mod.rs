//! Domain values and entities. Values validate on construction; entities are plain data.

mod audit;
mod ban;
mod claims;
mod contact;
mod email;
mod factor;
mod identity;
mod ids;
mod mail_kind;
mod metadata;
mod one_time;
mod outbox;
mod password;
mod phone;
mod pkce;
mod rate_limit;
mod recovery_code;
mod redirect;
mod refresh_token;
mod session;
mod signing_key;
mod user;
mod user_change;
mod user_query;
mod username;

pub use audit::{Actor, AuditAction, AuditEvent};
pub use ban::{BanDuration, BanDurationError};
pub use claims::{AccessClaims, AmrEntry, ApiKeyRole};
pub use contact::Contact;
pub use email::{EMAIL_MAX_LEN, Email, EmailError};
pub use factor::{
    EnrollRules, Enrollment, FRIENDLY_NAME_MAX_LEN, Factor, FactorChallenge, FactorRename, FactorStatus, FactorType,
    FactorVerification, MfaProof, SealedSecret, VerificationOutcome,
};
pub use identity::{BrowserBinding, Identity, OAuthFlow, ProviderName, ProviderNameError, hashed_nonce};
pub use ids::{ChallengeId, FactorId, FlowId, IdentityId, InvalidId, SessionId, UserId};
pub use mail_kind::{MailContext, MailKind};
pub use metadata::{METADATA_DEFAULT_MAX_BYTES, Metadata, MetadataError};
pub use one_time::{
    CODE_DIGITS, MAX_CODE_ATTEMPTS, OneTimeKind, OneTimeSecret, OneTimeToken, code_digest, link_digest,
};
pub use outbox::{
    MAX_DELIVERY_ATTEMPTS, Outgoing, OutgoingMail, OutgoingSms, QueuedMail, QueuedSms, SmsChannel, retry_delay,
};
pub use password::{CharacterClass, Password, PasswordPolicy, WeakPassword, WeakPasswordReason};
pub use phone::{Phone, PhoneError};
pub use pkce::{
    AuthCode, AuthCodeSecret, ChallengeError, ChallengeMethod, CodeChallenge, PKCE_LINK_PREFIX, auth_code_digest,
};
pub use rate_limit::{LimitKey, Quota, client_network, gcra};
pub use recovery_code::{RECOVERY_CODE_LEN, RecoveryCode, RecoveryCodeCount, RecoveryCodeUse};
pub use redirect::{RedirectPolicy, RedirectPolicyError, encode_query_value};
pub use refresh_token::{
    RefreshToken, RefreshTokenRecord, Renewal, Rotation, RotationOutcome, RotationPlan, TokenDigest, plan_rotation,
};
pub use session::{Aal, AuthMethod, ExpiryReason, Session, SessionLimits};
pub use signing_key::{KeyMaterial, KeyPurpose, KeyStatus, StoredKey, key_statuses};
pub use user::{MailState, PasswordHash, User};
pub use user_change::UserChange;
pub use user_query::UserQuery;
pub use username::{USERNAME_MAX_LEN, USERNAME_MIN_LEN, Username, UsernameError};
