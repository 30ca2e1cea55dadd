//! Reads of the agent's `conversations` and `conversation_messages`.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use crate::StoreError;

/// Who owns a conversation: the caller's tenant (`default` for the default tenant,
/// docs/tenancy.md) and the verified token's issuer and subject (`None`/`None`: the anonymous
/// caller of an agent without authentication). The same issuer and subject in two tenants are
/// two owners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner<'a> {
    /// The caller's tenant.
    pub tenant: &'a str,
    /// The token's issuer.
    pub issuer: Option<&'a str>,
    /// The token's subject.
    pub subject: Option<&'a str>,
}

/// What a conversation is about.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Conversation {
    /// The decision explained.
    pub decision_id: String,
    /// `subject`, `case_worker` or `auditor`.
    pub audience: String,
}

/// The conversation, when it belongs to this owner (same tenant, issuer and subject).
/// Another owner's conversation, in this tenant or another, is `None`, like one that does not
/// exist.
pub async fn owned_conversation(
    pool: &PgPool,
    conversation_id: Uuid,
    owner: Owner<'_>,
) -> Result<Option<Conversation>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT decision_id, audience FROM conversations WHERE conversation_id = $1
           AND tenant = $2
           AND owner_issuer IS NOT DISTINCT FROM $3 AND owner_subject IS NOT DISTINCT FROM $4",
    )
    .bind(conversation_id)
    .bind(owner.tenant)
    .bind(owner.issuer)
    .bind(owner.subject)
    .fetch_optional(pool)
    .await?)
}

/// One of an owner's conversations, as listed.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ConversationSummary {
    /// The conversation's id.
    pub conversation_id: Uuid,
    /// The decision explained.
    pub decision_id: String,
    /// `subject`, `case_worker` or `auditor`.
    pub audience: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// The owner's conversations (same tenant, issuer and subject), newest first, at most `limit`.
pub async fn owned_conversations(
    pool: &PgPool,
    owner: Owner<'_>,
    limit: i64,
) -> Result<Vec<ConversationSummary>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT conversation_id, decision_id, audience, created_at FROM conversations
         WHERE tenant = $1
           AND owner_issuer IS NOT DISTINCT FROM $2 AND owner_subject IS NOT DISTINCT FROM $3
         ORDER BY created_at DESC, conversation_id LIMIT $4",
    )
    .bind(owner.tenant)
    .bind(owner.issuer)
    .bind(owner.subject)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// One stored (redacted) message of a conversation.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ConversationMessage {
    /// `user`, `assistant` or `tool`.
    pub role: String,
    /// The redacted text.
    pub content: String,
    /// The tool call and its redacted result (`tool` messages).
    pub tool_call: Option<Value>,
}

/// The messages of a conversation, in order.
pub async fn conversation_messages(
    pool: &PgPool,
    conversation_id: Uuid,
) -> Result<Vec<ConversationMessage>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT role, content, tool_call FROM conversation_messages WHERE conversation_id = $1 ORDER BY seq",
    )
    .bind(conversation_id)
    .fetch_all(pool)
    .await?)
}
