//! Serves the example: `EMBED_DATABASE_URL` (default `sqlite://embed.db`) on `EMBED_LISTEN`
//! (default `127.0.0.1:3000`).

use auth_store::{Database, PoolOptions};
use embed_example::{router, service, settings};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let url = std::env::var("EMBED_DATABASE_URL").unwrap_or_else(|_| "sqlite://embed.db".into());
    let listen = std::env::var("EMBED_LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".into());

    let database = Database::connect(&url, &PoolOptions::default()).await?;
    database.migrate().await?;
    let app = router(service(database.ports(), settings()).await?);

    let listener = tokio::net::TcpListener::bind(&listen).await?;
    tracing::info!("listening on http://{listen}");
    // Ctrl-C stops taking connections and lets requests in flight finish.
    let stopped = async { tokio::signal::ctrl_c().await.unwrap_or_default() };
    axum::serve(listener, app).with_graceful_shutdown(stopped).await?;
    Ok(())
}
