//! The ports: what the domain needs from the outside world, as small traits whose docs state
//! the contract every adapter must keep.

mod audit_log;
mod clock;
mod email_flows;
mod factors;
mod identities;
mod identity_provider;
mod mailer;
mod observer;
mod password_hasher;
mod random;
mod rate_limiter;
mod readiness;
mod sms;
mod store;
mod store_ports;
mod token_chain;
mod token_signer;
mod totp;

pub use audit_log::AuditLog;
pub use clock::Clock;
pub use email_flows::{CodeQuota, EmailFlowStore, MailOutbox, Redemption};
pub use factors::FactorStore;
pub use identities::{IdentitySignIn, IdentityStore, Landing};
pub use identity_provider::{
    AuthorizationRequest, IdentityProviders, IdpError, NoProviders, ProviderSignIn, ProviderTokens, ProviderUser,
    VerifiedIdToken,
};
pub use mailer::{Mail, MailError, MailTemplates, Mailer};
pub use observer::{NoObserver, Observer};
pub use password_hasher::{HashError, PasswordCheck, PasswordHasher};
pub use random::{Random, RandomError};
pub use rate_limiter::{Admission, LimiterError, NoLimits, RateLimiter};
pub use readiness::{NotReady, Readiness};
pub use sms::{SmsError, SmsReceipt, SmsSender};
pub use store::{KeyStore, SessionPrune, SessionStore, StoreError, UniqueField, UserStore};
pub use store_ports::StorePorts;
pub use token_chain::TokenChain;
pub use token_signer::{Claim, TokenError, TokenSigner};
pub use totp::{Totp, TotpError, TotpProvisioning, TotpSecret};

#[cfg(any(test, feature = "mock"))]
pub use audit_log::MockAuditLog;
#[cfg(any(test, feature = "mock"))]
pub use clock::MockClock;
#[cfg(any(test, feature = "mock"))]
pub use email_flows::{MockEmailFlowStore, MockMailOutbox};
#[cfg(any(test, feature = "mock"))]
pub use factors::MockFactorStore;
#[cfg(any(test, feature = "mock"))]
pub use identities::MockIdentityStore;
#[cfg(any(test, feature = "mock"))]
pub use mailer::{MockMailTemplates, MockMailer};
#[cfg(any(test, feature = "mock"))]
pub use password_hasher::MockPasswordHasher;
#[cfg(any(test, feature = "mock"))]
pub use random::MockRandom;
#[cfg(any(test, feature = "mock"))]
pub use rate_limiter::MockRateLimiter;
#[cfg(any(test, feature = "mock"))]
pub use readiness::MockReadiness;
#[cfg(any(test, feature = "mock"))]
pub use sms::MockSmsSender;
#[cfg(any(test, feature = "mock"))]
pub use store::{MockKeyStore, MockSessionStore, MockUserStore};
#[cfg(any(test, feature = "mock"))]
pub use token_chain::MockTokenChain;
#[cfg(any(test, feature = "mock"))]
pub use token_signer::MockTokenSigner;
#[cfg(any(test, feature = "mock"))]
pub use totp::MockTotp;
