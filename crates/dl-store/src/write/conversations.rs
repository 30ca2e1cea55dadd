//! The agent's `conversations` and `conversation_messages` (only redacted text: docs/agent.md).

use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use crate::read::conversations::Owner;
use crate::StoreError;

/// Creates a conversation about a decision for an audience, owned by the caller (its tenant,
/// and the issuer and subject of the verified token).
pub async fn create_conversation(
    pool: &PgPool,
    conversation_id: Uuid,
    decision_id: &str,
    audience: &str,
    owner: Owner<'_>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO conversations (conversation_id, decision_id, audience, owner_issuer, owner_subject, tenant)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(conversation_id)
    .bind(decision_id)
    .bind(audience)
    .bind(owner.issuer)
    .bind(owner.subject)
    .bind(owner.tenant)
    .execute(pool)
    .await?;
    Ok(())
}

/// A message to append: role (`user`, `assistant`, `tool`), redacted text, tool call.
pub type NewMessage<'a> = (&'a str, &'a str, Option<&'a Value>);

/// Appends the messages of one turn after the conversation's last one, in one transaction.
pub async fn append_messages(
    pool: &PgPool,
    conversation_id: Uuid,
    messages: &[NewMessage<'_>],
) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    let next: i32 = sqlx::query_scalar(
        "SELECT COALESCE(max(seq) + 1, 0) FROM conversation_messages WHERE conversation_id = $1",
    )
    .bind(conversation_id)
    .fetch_one(&mut *tx)
    .await?;
    for (i, (role, content, call)) in (0i32..).zip(messages) {
        sqlx::query(
            "INSERT INTO conversation_messages (conversation_id, seq, role, content, tool_call) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(conversation_id)
        .bind(next + i)
        .bind(*role)
        .bind(*content)
        .bind(*call)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
