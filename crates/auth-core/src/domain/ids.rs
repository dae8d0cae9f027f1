use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ports::{Random, RandomError};

/// A string was not a valid UUID where an id was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid id: expected a UUID")]
pub struct InvalidId;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// Draws a new random (version 4) id from the randomness port.
            pub fn generate(random: &dyn Random) -> Result<Self, RandomError> {
                let mut bytes = [0u8; 16];
                random.fill(&mut bytes)?;
                Ok(Self(uuid::Builder::from_random_bytes(bytes).into_uuid()))
            }

            /// Wraps a UUID read back from storage.
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            /// The UUID inside.
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s.trim()).map(Self).map_err(|_| InvalidId)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }
    };
}

uuid_id!(
    /// The stable identifier of a user; the `sub` claim of its access tokens.
    UserId
);
uuid_id!(
    /// The identifier of a session (one refresh-token family); the `session_id` claim.
    SessionId
);
uuid_id!(
    /// The identifier of a user's second factor.
    FactorId
);
uuid_id!(
    /// The identifier of a challenge issued against a factor.
    ChallengeId
);
uuid_id!(
    /// The identifier of a stored external identity (`identity_id` on the wire).
    IdentityId
);
uuid_id!(
    /// The identifier of an external sign-in's flow state: the OAuth `state` parameter.
    FlowId
);
