use crate::domain::{AuditEvent, MailKind};

/// Hears what the use cases did, for counting (metrics) or watching; it changes nothing. The use
/// cases report each event at the one place they make it happen, so a decorator of the storage
/// ports is never needed to see it.
///
/// Every method has a default that does nothing: an observer implements what it watches.
///
/// - MUST NOT block (no I/O, no waiting) and cannot fail: the use case calls it inline and goes
///   on whatever it does.
/// - `recorded` is called once per audit event, as it is handed to [`AuditLog::record`]: it
///   counts even when the log cannot keep it, since what it records has happened.
/// - `mail_queued` is called once per mail, only after the write that queued it succeeded.
///
/// [`AuditLog::record`]: super::AuditLog::record
pub trait Observer: Send + Sync {
    /// An audit event was recorded.
    fn recorded(&self, _event: &AuditEvent) {}

    /// A mail of `kind` was queued for delivery.
    fn mail_queued(&self, _kind: MailKind) {}
}

/// Observes nothing: the observer of a service until it is given one.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoObserver;

impl Observer for NoObserver {}
