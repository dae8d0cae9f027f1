//! The tables, written once for both backends, in the backend's `sql` types: diesel's, but for
//! the three whose SQL differs (`Id`, `Instant`, `Json`). PostgreSQL finds the tables in the `auth`
//! schema through the connection's `search_path` (set when a connection opens).

use super::super::sql;

diesel::table! {
    use super::sql::*;

    users (id) {
        id -> Id,
        aud -> Text,
        role -> Text,
        email -> Nullable<Text>,
        phone -> Nullable<Text>,
        username -> Nullable<Text>,
        encrypted_password -> Nullable<Text>,
        email_confirmed_at -> Nullable<Instant>,
        phone_confirmed_at -> Nullable<Instant>,
        confirmation_sent_at -> Nullable<Instant>,
        raw_app_meta_data -> Json,
        raw_user_meta_data -> Json,
        banned_until -> Nullable<Instant>,
        is_anonymous -> Bool,
        last_sign_in_at -> Nullable<Instant>,
        created_at -> Instant,
        updated_at -> Instant,
        invited_at -> Nullable<Instant>,
        recovery_sent_at -> Nullable<Instant>,
        email_change -> Nullable<Text>,
        email_change_sent_at -> Nullable<Instant>,
        reauthentication_sent_at -> Nullable<Instant>,
        deleted_at -> Nullable<Instant>,
        phone_change -> Nullable<Text>,
        phone_change_sent_at -> Nullable<Instant>,
    }
}

diesel::table! {
    use super::sql::*;

    sessions (id) {
        id -> Id,
        user_id -> Id,
        created_at -> Instant,
        refreshed_at -> Nullable<Instant>,
        not_after -> Nullable<Instant>,
        aal -> Text,
        auth_method -> Text,
        user_agent -> Nullable<Text>,
        ip -> Nullable<Text>,
        revoked_at -> Nullable<Instant>,
        mfa_factor_id -> Nullable<Id>,
        mfa_factor_type -> Nullable<Text>,
        mfa_verified_at -> Nullable<Instant>,
    }
}

diesel::table! {
    use super::sql::*;

    refresh_tokens (id) {
        id -> BigInt,
        session_id -> Id,
        token_digest -> Binary,
        parent -> Nullable<BigInt>,
        created_at -> Instant,
        used_at -> Nullable<Instant>,
        revoked_at -> Nullable<Instant>,
    }
}

diesel::table! {
    use super::sql::*;

    signing_keys (kid) {
        kid -> Text,
        purpose -> Text,
        algorithm -> Text,
        material -> Text,
        created_at -> Instant,
        activates_at -> Instant,
        retired_at -> Nullable<Instant>,
    }
}

diesel::table! {
    use super::sql::*;

    audit_log (id) {
        id -> BigInt,
        created_at -> Instant,
        action -> Text,
        actor -> Text,
        target_id -> Nullable<Text>,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        details -> Json,
    }
}

diesel::table! {
    use super::sql::*;

    one_time_tokens (user_id, kind) {
        user_id -> Id,
        kind -> Text,
        link_digest -> Binary,
        code_digest -> Binary,
        sent_to -> Text,
        relates_to -> Nullable<Text>,
        created_at -> Instant,
        link_expires_at -> Instant,
        code_expires_at -> Instant,
        failed_attempts -> Integer,
        code_challenge -> Nullable<Text>,
        code_challenge_method -> Nullable<Text>,
    }
}

diesel::table! {
    use super::sql::*;

    auth_codes (code_digest) {
        code_digest -> Binary,
        user_id -> Id,
        code_challenge -> Text,
        code_challenge_method -> Text,
        auth_method -> Text,
        created_at -> Instant,
        expires_at -> Instant,
    }
}

diesel::table! {
    use super::sql::*;

    mail_outbox (id) {
        id -> BigInt,
        kind -> Text,
        recipient -> Text,
        subject -> Text,
        text_body -> Text,
        html_body -> Text,
        queued_at -> Instant,
        next_attempt_at -> Instant,
        attempts -> Integer,
        sent_at -> Nullable<Instant>,
        failed_at -> Nullable<Instant>,
        last_error -> Nullable<Text>,
        channel -> Text,
    }
}

diesel::table! {
    use super::sql::*;

    code_quota (user_id) {
        user_id -> Id,
        window_started_at -> Instant,
        issued -> Integer,
    }
}

diesel::table! {
    use super::sql::*;

    mfa_factors (id) {
        id -> Id,
        user_id -> Id,
        friendly_name -> Text,
        factor_type -> Text,
        status -> Text,
        secret -> Text,
        created_at -> Instant,
        updated_at -> Instant,
        last_challenged_at -> Nullable<Instant>,
        last_used_step -> Nullable<BigInt>,
    }
}

diesel::table! {
    use super::sql::*;

    mfa_challenges (id) {
        id -> Id,
        factor_id -> Id,
        created_at -> Instant,
        expires_at -> Instant,
        ip -> Nullable<Text>,
        verified_at -> Nullable<Instant>,
    }
}

diesel::table! {
    use super::sql::*;

    mfa_recovery_codes (factor_id, digest) {
        factor_id -> Id,
        digest -> Binary,
        used_at -> Nullable<Instant>,
    }
}

diesel::joinable!(mfa_challenges -> mfa_factors (factor_id));
diesel::joinable!(mfa_recovery_codes -> mfa_factors (factor_id));
diesel::allow_tables_to_appear_in_same_query!(mfa_challenges, mfa_factors, mfa_recovery_codes);

diesel::table! {
    use super::sql::*;

    identities (id) {
        id -> Id,
        user_id -> Id,
        provider -> Text,
        provider_id -> Text,
        identity_data -> Json,
        email -> Nullable<Text>,
        last_sign_in_at -> Nullable<Instant>,
        created_at -> Instant,
        updated_at -> Instant,
    }
}

diesel::table! {
    use super::sql::*;

    oauth_flows (id) {
        id -> Id,
        browser_digest -> Binary,
        provider -> Text,
        redirect_to -> Text,
        code_challenge -> Nullable<Text>,
        code_challenge_method -> Nullable<Text>,
        linking_target_id -> Nullable<Id>,
        created_at -> Instant,
        expires_at -> Instant,
    }
}

diesel::define_sql_function! {
    /// SQL's `lower()`, for case-insensitive username lookups.
    fn lower(x: diesel::sql_types::Nullable<diesel::sql_types::Text>) -> diesel::sql_types::Nullable<diesel::sql_types::Text>;
}
