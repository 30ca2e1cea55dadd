//! Reads of the agent's `conversations` and `conversation_messages`.

use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use crate::StoreError;

/// What a conversation is about.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Conversation {
    /// The decision explained.
    pub decision_id: String,
    /// `subject`, `case_worker` or `auditor`.
    pub audience: String,
}

/// The conversation, when it belongs to this owner (issuer and subject of the verified token;
/// `None`/`None` is the anonymous caller). Another owner's conversation is `None`, like one that
/// does not exist.
pub async fn owned_conversation(
    pool: &PgPool,
    conversation_id: Uuid,
    owner_issuer: Option<&str>,
    owner_subject: Option<&str>,
) -> Result<Option<Conversation>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT decision_id, audience FROM conversations WHERE conversation_id = $1
           AND owner_issuer IS NOT DISTINCT FROM $2 AND owner_subject IS NOT DISTINCT FROM $3",
    )
    .bind(conversation_id)
    .bind(owner_issuer)
    .bind(owner_subject)
    .fetch_optional(pool)
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
