//! Writes that belong to one service (the projections' writes are [`Projection`](crate::Projection)
//! and [`explain_views`](crate::explain_views)).
//!
//! | module | writes | used by |
//! |---|---|---|
//! | [`audit_runs`] | a replay run and its verdicts | dl-audit (dlctl, dl-auditor) |
//! | [`conversations`] | the agent's conversations and their turns | agent |

pub mod audit_runs;
pub mod conversations;
