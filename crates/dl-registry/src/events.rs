//! Builders of registry events.

use dl_function::FunctionPackage;
use dl_schema::{
    ApproverRole, LegalReferenceStatusChanged, RegistryEvent, RegistryEventKind, ShadowCleared,
    ShadowSet, VersionActivated, VersionApproved, VersionPublished, VersionRetired,
};
use ed25519_dalek::SigningKey;

use crate::approvers::sign_approval;

fn envelope(kind: RegistryEventKind, id: Option<&str>, version: Option<&str>) -> RegistryEvent {
    RegistryEvent {
        event_id: uuid::Uuid::new_v4().to_string(),
        kind,
        function_id: id.map(str::to_string),
        version: version.map(str::to_string),
        published: None,
        approved: None,
        activated: None,
        retired: None,
        legal_status: None,
        shadow_set: None,
        shadow_cleared: None,
    }
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// `VERSION_PUBLISHED` carrying every file of `package`.
pub fn published(package: &FunctionPackage, author: &str, at: i64) -> RegistryEvent {
    let m = package.manifest();
    let mut e = envelope(
        RegistryEventKind::VersionPublished,
        Some(&m.id),
        Some(&m.version.to_string()),
    );
    e.published = Some(VersionPublished {
        digest: package.digest().to_string(),
        files: package
            .files()
            .iter()
            .map(|(k, v)| (k.clone(), serde_bytes::ByteBuf::from(v.clone())))
            .collect(),
        author: author.to_string(),
        published_at: at,
    });
    e
}

/// Parameters of an approval.
#[derive(Debug, Clone, Copy)]
pub struct ApprovalRequest<'a> {
    /// Function id.
    pub function_id: &'a str,
    /// Version.
    pub version: &'a str,
    /// Digest being approved.
    pub digest: &'a str,
    /// Role.
    pub role: ApproverRole,
    /// Approver id.
    pub approver_id: &'a str,
    /// Key id of `key` in the approver set.
    pub key_id: &'a str,
}

/// `VERSION_APPROVED`, signed with `key`.
pub fn approved(req: ApprovalRequest<'_>, key: &SigningKey, at: i64) -> RegistryEvent {
    let mut e = envelope(
        RegistryEventKind::VersionApproved,
        Some(req.function_id),
        Some(req.version),
    );
    e.approved = Some(VersionApproved {
        digest: req.digest.to_string(),
        role: req.role,
        approver_id: req.approver_id.to_string(),
        key_id: req.key_id.to_string(),
        signature: sign_approval(
            key,
            req.function_id,
            req.version,
            req.digest,
            req.role,
            req.approver_id,
        ),
        approved_at: at,
    });
    e
}

/// `VERSION_ACTIVATED`.
pub fn activated(
    function_id: &str,
    version: &str,
    digest: &str,
    by: &str,
    at: i64,
) -> RegistryEvent {
    let mut e = envelope(
        RegistryEventKind::VersionActivated,
        Some(function_id),
        Some(version),
    );
    e.activated = Some(VersionActivated {
        digest: digest.to_string(),
        by: by.to_string(),
        at,
    });
    e
}

/// `VERSION_RETIRED`.
pub fn retired(
    function_id: &str,
    version: &str,
    digest: &str,
    by: &str,
    at: i64,
    reason: Option<String>,
) -> RegistryEvent {
    let mut e = envelope(
        RegistryEventKind::VersionRetired,
        Some(function_id),
        Some(version),
    );
    e.retired = Some(VersionRetired {
        digest: digest.to_string(),
        by: by.to_string(),
        at,
        reason,
    });
    e
}

/// `SHADOW_SET`: `version` (with `digest`) evaluated in shadow for `sample_per_mille` of the
/// function's decisions.
pub fn shadow_set(
    function_id: &str,
    version: &str,
    digest: &str,
    sample_per_mille: i32,
    by: &str,
    at: i64,
) -> RegistryEvent {
    let mut e = envelope(
        RegistryEventKind::ShadowSet,
        Some(function_id),
        Some(version),
    );
    e.shadow_set = Some(ShadowSet {
        digest: digest.to_string(),
        sample_per_mille,
        by: by.to_string(),
        at,
    });
    e
}

/// `SHADOW_CLEARED`: the function has no shadow version any more.
pub fn shadow_cleared(function_id: &str, by: &str, at: i64) -> RegistryEvent {
    let mut e = envelope(RegistryEventKind::ShadowCleared, Some(function_id), None);
    e.shadow_cleared = Some(ShadowCleared {
        by: by.to_string(),
        at,
    });
    e
}

/// `LEGAL_REFERENCE_STATUS_CHANGED`.
pub fn legal_status_changed(body: LegalReferenceStatusChanged) -> RegistryEvent {
    let mut e = envelope(RegistryEventKind::LegalReferenceStatusChanged, None, None);
    e.legal_status = Some(body);
    e
}

/// The Kafka key of an event: the function id, or the IRI for legal status events.
pub fn event_key(event: &RegistryEvent) -> String {
    match (&event.function_id, &event.legal_status) {
        (Some(id), _) => id.clone(),
        (None, Some(l)) => l.iri.clone(),
        (None, None) => event.event_id.clone(),
    }
}
