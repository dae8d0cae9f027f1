//! The `auth` schema on PostgreSQL, as migrations/postgres creates it.

diesel::table! {
    auth.users (id) {
        id -> Uuid,
        aud -> Text,
        role -> Text,
        email -> Nullable<Text>,
        phone -> Nullable<Text>,
        username -> Nullable<Text>,
        encrypted_password -> Nullable<Text>,
        email_confirmed_at -> Nullable<Timestamptz>,
        phone_confirmed_at -> Nullable<Timestamptz>,
        confirmation_sent_at -> Nullable<Timestamptz>,
        raw_app_meta_data -> Jsonb,
        raw_user_meta_data -> Jsonb,
        banned_until -> Nullable<Timestamptz>,
        is_anonymous -> Bool,
        last_sign_in_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    auth.sessions (id) {
        id -> Uuid,
        user_id -> Uuid,
        created_at -> Timestamptz,
        refreshed_at -> Nullable<Timestamptz>,
        not_after -> Nullable<Timestamptz>,
        aal -> Text,
        auth_method -> Text,
        user_agent -> Nullable<Text>,
        ip -> Nullable<Text>,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    auth.refresh_tokens (id) {
        id -> Int8,
        session_id -> Uuid,
        token_digest -> Bytea,
        parent -> Nullable<Int8>,
        created_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(refresh_tokens -> sessions (session_id));
diesel::allow_tables_to_appear_in_same_query!(users, sessions, refresh_tokens);

diesel::table! {
    auth.signing_keys (kid) {
        kid -> Text,
        purpose -> Text,
        algorithm -> Text,
        material -> Text,
        created_at -> Timestamptz,
        activates_at -> Timestamptz,
    }
}

diesel::table! {
    auth.audit_log (id) {
        id -> BigInt,
        created_at -> Timestamptz,
        action -> Text,
        actor -> Text,
        target_id -> Nullable<Text>,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        details -> Jsonb,
    }
}

diesel::table! {
    auth.one_time_tokens (user_id, kind) {
        user_id -> Uuid,
        kind -> Text,
        link_digest -> Bytea,
        code_digest -> Bytea,
        sent_to -> Text,
        relates_to -> Nullable<Text>,
        created_at -> Timestamptz,
        link_expires_at -> Timestamptz,
        code_expires_at -> Timestamptz,
        failed_attempts -> Integer,
        code_challenge -> Nullable<Text>,
        code_challenge_method -> Nullable<Text>,
    }
}

diesel::table! {
    auth.auth_codes (code_digest) {
        code_digest -> Bytea,
        user_id -> Uuid,
        code_challenge -> Text,
        code_challenge_method -> Text,
        auth_method -> Text,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
    }
}

diesel::table! {
    auth.mail_outbox (id) {
        id -> BigInt,
        kind -> Text,
        recipient -> Text,
        subject -> Text,
        text_body -> Text,
        html_body -> Text,
        queued_at -> Timestamptz,
        next_attempt_at -> Timestamptz,
        attempts -> Integer,
        sent_at -> Nullable<Timestamptz>,
        failed_at -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
    }
}
