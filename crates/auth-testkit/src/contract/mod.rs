//! The storage contract suite: the cases every implementation of auth-core's storage ports must
//! pass, whatever its backend, in one file per port.
//!
//! A store joins the suite by implementing [`StoreHarness`] and invoking
//! [`store_contract_tests!`](crate::store_contract_tests) once in its integration tests; each case
//! becomes its own `#[tokio::test]`, run against a fresh, empty store.
//!
//! A port's file writes its cases inside `contract_cases!`, which defines each case and the
//! port's list (the macro `store_contract_tests!` expands) from the same text, so a case cannot be
//! written without being run.

use std::future::Future;
use std::sync::Arc;

use auth_core::ports::{
    AuditLog, EmailFlowStore, FactorStore, IdentityStore, KeyStore, MailOutbox, SessionStore, UserStore,
};

/// Builds a fresh, empty store for one test case.
pub trait StoreHarness: Sized + Send + Sync + 'static {
    /// The store under test.
    type Store: Store;

    /// A new, empty store named after the test case, or `None` when the backend is not available
    /// here (the harness has said so loudly and the case is skipped). Resources it creates are
    /// released when the harness is dropped.
    fn create(test_name: &'static str) -> impl Future<Output = Option<Self>> + Send;

    /// The store.
    fn store(&self) -> Arc<Self::Store>;
}

/// Every store under test implements all the storage ports.
pub trait Store:
    UserStore + SessionStore + KeyStore + AuditLog + EmailFlowStore + FactorStore + IdentityStore + MailOutbox + 'static
{
}

impl<T> Store for T where
    T: UserStore
        + SessionStore
        + KeyStore
        + AuditLog
        + EmailFlowStore
        + FactorStore
        + IdentityStore
        + MailOutbox
        + 'static
{
}

/// Defines a port's cases (public async functions taking a fresh store) and the exported macro
/// `$list!(Harness)` that makes each of them a test. Invoked as
/// `contract_cases! { $ list_name, module; /* cases */ }`: the lone `$` lets this macro write the
/// metavariables of the macro it defines.
macro_rules! contract_cases {
    ($d:tt $list:ident, $module:ident;
     $($(#[$meta:meta])* pub async fn $case:ident($store:ident: Arc<impl Store>) $body:block)*) => {
        $($(#[$meta])* pub async fn $case($store: Arc<impl Store>) $body)*

        /// Makes every case of this port a test for a [`StoreHarness`](crate::contract::StoreHarness).
        #[doc(hidden)]
        #[macro_export]
        macro_rules! $list {
            ($d harness:ty) => {
                $($crate::contract_case!($d harness, $module, $case);)*
            };
        }
    };
}

mod fixtures;

pub mod audit;
pub mod factors;
pub mod flows;
pub mod identities;
pub mod keys;
pub mod outbox;
pub mod sessions;
pub mod users;

/// Instantiates every contract case as a `#[tokio::test]` for a [`StoreHarness`].
///
/// ```ignore
/// auth_testkit::store_contract_tests!(SqliteHarness);
/// ```
#[macro_export]
macro_rules! store_contract_tests {
    ($harness:ty) => {
        $crate::user_contract_cases!($harness);
        $crate::session_contract_cases!($harness);
        $crate::flow_contract_cases!($harness);
        $crate::outbox_contract_cases!($harness);
        $crate::key_contract_cases!($harness);
        $crate::audit_contract_cases!($harness);
        $crate::factor_contract_cases!($harness);
        $crate::identity_contract_cases!($harness);
    };
}

/// One case as a test: a fresh store from the harness (or a skip), then the case.
#[doc(hidden)]
#[macro_export]
macro_rules! contract_case {
    ($harness:ty, $module:ident, $case:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $case() {
            let harness = <$harness as $crate::contract::StoreHarness>::create(stringify!($case)).await;
            if let Some(harness) = harness {
                $crate::contract::$module::$case($crate::contract::StoreHarness::store(&harness)).await;
            }
        }
    };
}
