//! The read model: every query other crates run against the projection, typed.
//!
//! Each function takes a pool, runs one statement whose columns are mapped to a row struct in one
//! place (`#[derive(sqlx::FromRow)]`), and returns [`StoreError`](crate::StoreError) on failure.
//! Access rules (who may read which decision, which audience) stay with the callers: the functions
//! return what the database holds and the caller filters, as the gateway always has. The tenant
//! is the exception: reads of one decision take the caller's tenant and filter on it in SQL, so
//! another tenant's decision is exactly as absent as an unknown one (docs/tenancy.md).
//! `tests/read_model.rs` runs every function against the migrations.
//!
//! | module | reads | used by |
//! |---|---|---|
//! | [`decisions`] | one outcome, the outcomes of a request, an outcome with its input, every outcome row | gateway, dlctl |
//! | [`explanations`] | one audience's redacted view of a decision | gateway |
//! | [`registry`] | the registry's versions | gateway |
//! | [`ledger`] | ledger records in chain order, duplicate outcomes, chain breaks by kind | dlctl, dl-audit |
//! | [`audit`] | per-version metrics, reason and rejection counts, decisions to replay | dl-audit |
//! | [`conversations`] | the agent's conversations and their messages | agent |

pub mod audit;
pub mod conversations;
pub mod decisions;
pub mod explanations;
pub mod ledger;
pub mod registry;
