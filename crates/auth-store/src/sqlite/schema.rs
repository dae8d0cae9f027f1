//! The tables on SQLite, as migrations/sqlite creates them.

diesel::table! {
    users (id) {
        id -> Binary,
        aud -> Text,
        role -> Text,
        email -> Nullable<Text>,
        phone -> Nullable<Text>,
        username -> Nullable<Text>,
        encrypted_password -> Nullable<Text>,
        email_confirmed_at -> Nullable<TimestamptzSqlite>,
        phone_confirmed_at -> Nullable<TimestamptzSqlite>,
        confirmation_sent_at -> Nullable<TimestamptzSqlite>,
        raw_app_meta_data -> Text,
        raw_user_meta_data -> Text,
        banned_until -> Nullable<TimestamptzSqlite>,
        is_anonymous -> Bool,
        last_sign_in_at -> Nullable<TimestamptzSqlite>,
        created_at -> TimestamptzSqlite,
        updated_at -> TimestamptzSqlite,
    }
}

diesel::table! {
    sessions (id) {
        id -> Binary,
        user_id -> Binary,
        created_at -> TimestamptzSqlite,
        refreshed_at -> Nullable<TimestamptzSqlite>,
        not_after -> Nullable<TimestamptzSqlite>,
        aal -> Text,
        auth_method -> Text,
        user_agent -> Nullable<Text>,
        ip -> Nullable<Text>,
        revoked_at -> Nullable<TimestamptzSqlite>,
    }
}

diesel::table! {
    refresh_tokens (id) {
        id -> BigInt,
        session_id -> Binary,
        token_digest -> Binary,
        parent -> Nullable<BigInt>,
        created_at -> TimestamptzSqlite,
        used_at -> Nullable<TimestamptzSqlite>,
        revoked_at -> Nullable<TimestamptzSqlite>,
    }
}

diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(refresh_tokens -> sessions (session_id));
diesel::allow_tables_to_appear_in_same_query!(users, sessions, refresh_tokens);

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        purpose -> Text,
        algorithm -> Text,
        material -> Text,
        created_at -> TimestamptzSqlite,
        activates_at -> TimestamptzSqlite,
    }
}

diesel::table! {
    audit_log (id) {
        id -> BigInt,
        created_at -> TimestamptzSqlite,
        action -> Text,
        actor -> Text,
        target_id -> Nullable<Text>,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        details -> Text,
    }
}

diesel::table! {
    one_time_tokens (user_id, kind) {
        user_id -> Binary,
        kind -> Text,
        link_digest -> Binary,
        code_digest -> Binary,
        sent_to -> Text,
        relates_to -> Nullable<Text>,
        created_at -> TimestamptzSqlite,
        link_expires_at -> TimestamptzSqlite,
        code_expires_at -> TimestamptzSqlite,
        failed_attempts -> Integer,
        code_challenge -> Nullable<Text>,
        code_challenge_method -> Nullable<Text>,
    }
}

diesel::table! {
    auth_codes (code_digest) {
        code_digest -> Binary,
        user_id -> Binary,
        code_challenge -> Text,
        code_challenge_method -> Text,
        auth_method -> Text,
        created_at -> TimestamptzSqlite,
        expires_at -> TimestamptzSqlite,
    }
}

diesel::table! {
    mail_outbox (id) {
        id -> BigInt,
        kind -> Text,
        recipient -> Text,
        subject -> Text,
        text_body -> Text,
        html_body -> Text,
        queued_at -> TimestamptzSqlite,
        next_attempt_at -> TimestamptzSqlite,
        attempts -> Integer,
        sent_at -> Nullable<TimestamptzSqlite>,
        failed_at -> Nullable<TimestamptzSqlite>,
        last_error -> Nullable<Text>,
    }
}
