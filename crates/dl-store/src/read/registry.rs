//! Reads of the registry projection (`function_versions`).

use chrono::NaiveDate;
use sqlx::PgPool;

use crate::StoreError;

/// A published function version: its lifecycle state and effective dates.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct FunctionVersion {
    /// `function_id`.
    pub function_id: String,
    /// Version (semver text).
    pub version: String,
    /// `DRAFT`, `APPROVED`, `ACTIVE` or `RETIRED`.
    pub state: String,
    /// Package digest.
    pub digest: String,
    /// Title.
    pub title: String,
    /// First day it may decide.
    pub effective_from: NaiveDate,
    /// Last day it may decide (`None`: open-ended).
    pub effective_to: Option<NaiveDate>,
}

/// Every version, by function id and semantic version order.
pub async fn function_versions(pool: &PgPool) -> Result<Vec<FunctionVersion>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT function_id, version, state, digest, title, effective_from, effective_to
         FROM function_versions
         ORDER BY function_id, version_major, version_minor, version_patch, version_pre",
    )
    .fetch_all(pool)
    .await?)
}
