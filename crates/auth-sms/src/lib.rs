//! The `SmsSender` port over the HTTP APIs of the SMS providers Supabase Auth supports. Each
//! provider sends the request Supabase Auth sends and reads success and failure as it does;
//! every base URL is configurable, so tests and regional endpoints work.

mod messagebird;
mod provider;
mod textlocal;
mod twilio;
mod vonage;

pub use provider::{HttpSms, SmsProvider, SmsProviderError};
