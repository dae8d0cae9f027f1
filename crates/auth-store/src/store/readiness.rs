//! `Readiness`: the database answers and has every migration this build embeds.

use async_trait::async_trait;
use auth_core::ports::{NotReady, Readiness};
use diesel_async::RunQueryDsl;

use super::super::{Db, MIGRATIONS, Store};
use crate::readiness::{AppliedVersion, all, pending};

#[async_trait]
impl Readiness for Store {
    async fn check_ready(&self) -> Result<(), NotReady> {
        let applied = self
            .call("check_ready", async |c| {
                diesel::sql_query("SELECT 1").execute(c).await?;
                // Unqualified: PostgreSQL's search path names `auth`, where the bookkeeping is.
                Ok(diesel::sql_query("SELECT version FROM __diesel_schema_migrations").load::<AppliedVersion>(c).await)
            })
            .await
            .map_err(|e| NotReady::Unreachable(e.to_string()))?;
        let pending = match applied {
            Ok(applied) => pending::<Db>(&MIGRATIONS, &applied),
            Err(_) => all::<Db>(&MIGRATIONS),
        };
        if pending > 0 { Err(NotReady::PendingMigrations(pending)) } else { Ok(()) }
    }
}
