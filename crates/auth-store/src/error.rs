use auth_core::ports::{StoreError, UniqueField};
use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// Maps a diesel error to the port's error. `NotFound` stays `NotFound`; unique violations name
/// the field by the index that refused the write.
pub fn store_error(error: DieselError) -> StoreError {
    match error {
        DieselError::NotFound => StoreError::NotFound,
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
            let source = info.constraint_name().unwrap_or_else(|| info.message());
            match unique_field(source) {
                Some(field) => StoreError::Conflict(field),
                None => StoreError::Internal(format!("unexpected unique violation: {source}")),
            }
        }
        DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => StoreError::NotFound,
        DieselError::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            info,
        ) => StoreError::Unavailable(info.message().to_owned()),
        DieselError::DatabaseError(_, info)
            if is_busy(info.message()) || is_timeout(info.message()) || is_outage(info.message()) =>
        {
            StoreError::Unavailable(info.message().to_owned())
        }
        DieselError::BrokenTransactionManager => StoreError::Unavailable("connection lost mid-transaction".into()),
        // A commit cut by an outage, whose rollback failed too: the commit's error says why.
        DieselError::RollbackErrorOnCommit { commit_error, .. } => store_error(*commit_error),
        other => StoreError::Internal(other.to_string()),
    }
}

/// Which uniqueness rule a constraint name (PostgreSQL) or message (SQLite) refers to.
fn unique_field(source: &str) -> Option<UniqueField> {
    // Before "email": no identity constraint names it, but identities have an email column.
    if source.contains("identities") {
        Some(UniqueField::Identity)
    } else if source.contains("email") {
        Some(UniqueField::Email)
    } else if source.contains("phone") {
        Some(UniqueField::Phone)
    } else if source.contains("username") {
        Some(UniqueField::Username)
    } else if source.contains("users_pkey")
        || source.contains("users.id")
        || source.contains("signing_keys")
        || source.contains("oauth_flows")
    {
        // A key's only unique column is its kid.
        Some(UniqueField::Id)
    } else {
        None
    }
}

/// PostgreSQL's answer when `lock_timeout`, `statement_timeout` or
/// `idle_in_transaction_session_timeout` ended a statement: the database is busy, not broken, so
/// the caller may retry. diesel does not carry the SQLSTATE (55P03, 57014, 25P03), so the
/// server's English messages are matched; under another `lc_messages` these stay internal errors.
fn is_timeout(message: &str) -> bool {
    message.contains("due to lock timeout")
        || message.contains("due to statement timeout")
        || message.contains("idle-in-transaction timeout")
}

/// PostgreSQL's answers while it shuts down, restarts or recovers (SQLSTATE 57P01, 57P02,
/// 57P03, and a connection the server closed): the request meets an outage, not a fault of its
/// own, and answers like the rest of the outage.
fn is_outage(message: &str) -> bool {
    message.contains("terminating connection due to administrator command")
        || message.contains("terminating connection due to crash of another server process")
        || message.contains("the database system is shutting down")
        || message.contains("the database system is starting up")
        || message.contains("the database system is in recovery mode")
        || message.contains("server closed the connection unexpectedly")
        || message.contains("connection closed")
}

/// SQLite's answer when the write lock stayed busy past the busy timeout.
fn is_busy(message: &str) -> bool {
    message.contains("database is locked") || message.contains("database is busy")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraint_names_and_messages_name_the_field() {
        assert_eq!(unique_field("users_email_key"), Some(UniqueField::Email));
        assert_eq!(unique_field("UNIQUE constraint failed: users.email"), Some(UniqueField::Email));
        assert_eq!(unique_field("UNIQUE constraint failed: index 'users_username_key'"), Some(UniqueField::Username));
        assert_eq!(unique_field("users_pkey"), Some(UniqueField::Id));
        assert_eq!(unique_field("UNIQUE constraint failed: users.id"), Some(UniqueField::Id));
        assert_eq!(unique_field("signing_keys_pkey"), Some(UniqueField::Id));
        assert_eq!(unique_field("UNIQUE constraint failed: signing_keys.kid"), Some(UniqueField::Id));
        assert_eq!(unique_field("refresh_tokens_digest_key"), None);
    }

    #[test]
    fn postgres_timeouts_are_unavailability() {
        assert!(is_timeout("canceling statement due to lock timeout"));
        assert!(is_timeout("canceling statement due to statement timeout"));
        assert!(is_timeout("terminating connection due to idle-in-transaction timeout"));
        assert!(!is_timeout("relation \"users\" does not exist"));
    }

    #[test]
    fn postgres_shutdowns_are_unavailability() {
        assert!(is_outage("terminating connection due to administrator command"));
        assert!(is_outage("the database system is shutting down"));
        assert!(is_outage("the database system is starting up"));
        assert!(!is_outage("duplicate key value violates unique constraint"));
    }
}
