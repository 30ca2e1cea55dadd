//! PostgreSQL side of Decision Layer.
//!
//! * [`MIGRATOR`]: the sqlx migrations of `migrations/` (projections and auditor views).
//! * [`Projection`]: writes batches of ledger records, idempotently and exactly once: the consumed
//!   offsets are stored in the same database transaction as the rows, and every record is checked
//!   against the chain head before it is written.
//! * [`explain_views`]: the projection of `explain.views` (redacted explanation views) into the
//!   `explain_views` table, exactly once in the same way.
//! * [`registry`]: the projection of `registry.events` into the registry tables (the
//!   `registry_versions` view), folding every event through `dl_registry::Registry`.
//! * [`read`]: the read model: every query the gateway, dlctl, the agent and dl-audit run
//!   against the projection, typed and checked against the migrations (`tests/read_model.rs`).
//! * [`write`]: writes that belong to one service (the audit's replay runs, the agent's
//!   conversations).

#[cfg(feature = "stream")]
pub mod explain_views;
mod projection;
pub mod read;
#[cfg(feature = "stream")]
pub mod registry;
#[cfg(feature = "stream")]
pub mod shadow;
pub mod write;

pub use dl_verify::{TrustAnchors, VerifyOptions};
#[cfg(feature = "stream")]
pub use projection::LedgerStage;
pub use projection::{BatchOutcome, Projection, SourcedRecord, StoreError, VerifierCache};

/// The migrations of the repository's `migrations/` folder, embedded at build time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// Connects a pool and runs pending migrations.
pub async fn connect_and_migrate(
    url: &str,
    max_connections: u32,
) -> Result<sqlx::PgPool, StoreError> {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(std::time::Duration::from_secs(10))
        .connect(url)
        .await?;
    MIGRATOR.run(&pool).await?;
    Ok(pool)
}
