//! The registry state machine: every rule and every refusal.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use chrono::NaiveDate;
use dl_function::FunctionPackage;
use dl_registry::events::{self, ApprovalRequest};
use dl_registry::{Approver, ApproverSet, Registry, RegistryError, SelectError, VersionState};
use dl_schema::{ApproverRole, LegalReferenceStatusChanged, LegalStatus, RegistryEvent};
use ed25519_dalek::SigningKey;

struct World {
    registry: Registry,
    keys: BTreeMap<&'static str, SigningKey>,
}

fn example_files() -> BTreeMap<String, Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/loan_approval");
    FunctionPackage::load(&dir).unwrap().files().clone()
}

/// The loan example re-versioned, with the given effective dates.
fn package(version: &str, from: &str, to: Option<&str>) -> FunctionPackage {
    let mut files = example_files();
    let manifest = String::from_utf8(files["function.yaml"].clone()).unwrap();
    let mut out = String::new();
    for line in manifest.lines() {
        if line.starts_with("version:") {
            out.push_str(&format!("version: {version}\n"));
        } else if line.starts_with("effective_from:") {
            out.push_str(&format!("effective_from: {from}\n"));
            if let Some(to) = to {
                out.push_str(&format!("effective_to: {to}\n"));
            }
        } else if !line.starts_with("effective_to:") {
            out.push_str(line);
            out.push('\n');
        }
    }
    files.insert("function.yaml".into(), out.into_bytes());
    FunctionPackage::from_files(Path::new("test"), files).unwrap()
}

fn world() -> World {
    let mut set = ApproverSet::default();
    let mut keys = BTreeMap::new();
    for (id, roles) in [
        ("alice", vec![ApproverRole::Owner, ApproverRole::Reviewer]),
        ("bob", vec![ApproverRole::Owner, ApproverRole::Reviewer]),
        ("ann", vec![ApproverRole::Owner, ApproverRole::Reviewer]),
        ("rita", vec![ApproverRole::Reviewer]),
    ] {
        let key = dl_registry::generate_key();
        let mut map = BTreeMap::new();
        map.insert(format!("{id}-1"), key.verifying_key());
        set.insert(Approver {
            id: id.into(),
            roles,
            keys: map,
            tenant: None,
        });
        keys.insert(id, key);
    }
    World {
        registry: Registry::new(Arc::new(set)),
        keys,
    }
}

const ID: &str = "loan_approval";

impl World {
    fn publish(&mut self, pkg: &FunctionPackage) -> Result<(), RegistryError> {
        self.registry.apply(&events::published(pkg, "ann", 1))
    }

    fn digest(&self, version: &str) -> String {
        self.registry
            .version(ID, &version.parse().unwrap())
            .unwrap()
            .digest
            .clone()
    }

    fn approval(&self, version: &str, role: ApproverRole, approver: &'static str) -> RegistryEvent {
        let digest = self.digest(version);
        let key_id = format!("{approver}-1");
        let req = ApprovalRequest {
            function_id: ID,
            version,
            digest: &digest,
            role,
            approver_id: approver,
            key_id: &key_id,
        };
        events::approved(req, &self.keys[approver], 2)
    }

    fn approve(
        &mut self,
        version: &str,
        role: ApproverRole,
        approver: &'static str,
    ) -> Result<(), RegistryError> {
        let e = self.approval(version, role, approver);
        self.registry.apply(&e)
    }

    fn activate(&mut self, version: &str) -> Result<(), RegistryError> {
        let e = events::activated(ID, version, &self.digest(version), "ops", 3);
        self.registry.apply(&e)
    }

    fn retire(&mut self, version: &str) -> Result<(), RegistryError> {
        let e = events::retired(
            ID,
            version,
            &self.digest(version),
            "ops",
            4,
            Some("superseded".into()),
        );
        self.registry.apply(&e)
    }

    /// publish → owner (alice) → reviewer (bob) → activate.
    fn release(&mut self, pkg: &FunctionPackage) {
        let v = pkg.manifest().version.to_string();
        self.publish(pkg).unwrap();
        self.approve(&v, ApproverRole::Owner, "alice").unwrap();
        self.approve(&v, ApproverRole::Reviewer, "bob").unwrap();
        self.activate(&v).unwrap();
    }

    fn state(&self, version: &str) -> VersionState {
        self.registry
            .version(ID, &version.parse().unwrap())
            .unwrap()
            .state
    }
}

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

#[test]
fn full_lifecycle_and_selection() {
    let mut w = world();
    let pkg = package("1.0.0", "2024-01-01", None);
    w.publish(&pkg).unwrap();
    assert_eq!(w.state("1.0.0"), VersionState::Draft);
    assert!(matches!(
        w.registry.select(ID, None, d("2025-01-01")),
        Err(SelectError::NotActive(_))
    ));
    w.approve("1.0.0", ApproverRole::Owner, "alice").unwrap();
    assert_eq!(w.state("1.0.0"), VersionState::Draft);
    w.approve("1.0.0", ApproverRole::Reviewer, "bob").unwrap();
    assert_eq!(w.state("1.0.0"), VersionState::Approved);
    let e = w
        .registry
        .select(ID, Some("1.0.0"), d("2025-01-01"))
        .unwrap_err();
    assert_eq!(e.code(), "FUNCTION_NOT_ACTIVE");
    assert!(e.to_string().contains("APPROVED"), "{e}");
    w.activate("1.0.0").unwrap();
    let chosen = w.registry.select(ID, None, d("2025-01-01")).unwrap();
    assert_eq!(chosen.version.to_string(), "1.0.0");
    assert_eq!(chosen.approvals.len(), 2);
    assert_eq!(chosen.activated.as_ref().unwrap().by, "ops");
    w.retire("1.0.0").unwrap();
    assert_eq!(w.state("1.0.0"), VersionState::Retired);
    let e = w
        .registry
        .select(ID, Some("1.0.0"), d("2025-01-01"))
        .unwrap_err();
    assert_eq!(e.code(), "FUNCTION_NOT_ACTIVE");
    assert!(e.to_string().contains("RETIRED"));
    assert_eq!(w.registry.applied(), 5);
    assert_eq!(w.registry.refused(), 0);
}

#[test]
fn select_distinguishes_unknown_from_not_active() {
    let mut w = world();
    assert_eq!(
        w.registry
            .select("nope", None, d("2025-01-01"))
            .unwrap_err()
            .code(),
        "UNKNOWN_FUNCTION"
    );
    w.release(&package("1.0.0", "2024-01-01", None));
    assert_eq!(
        w.registry
            .select(ID, Some("9.9.9"), d("2025-01-01"))
            .unwrap_err()
            .code(),
        "UNKNOWN_FUNCTION"
    );
    assert_eq!(
        w.registry
            .select(ID, Some("x.y"), d("2025-01-01"))
            .unwrap_err()
            .code(),
        "UNKNOWN_FUNCTION"
    );
    // Not yet effective.
    let e = w.registry.select(ID, None, d("2023-12-31")).unwrap_err();
    assert_eq!(e.code(), "FUNCTION_NOT_ACTIVE");
    let e = w
        .registry
        .select(ID, Some("1.0.0"), d("2023-12-31"))
        .unwrap_err();
    assert_eq!(e.code(), "FUNCTION_NOT_ACTIVE");
    assert!(e.to_string().contains("not in force on 2023-12-31"));
}

#[test]
fn as_of_selects_across_an_effective_date_boundary_and_semver_is_not_lexicographic() {
    let mut w = world();
    w.release(&package("1.9.0", "2024-01-01", Some("2024-12-31")));
    w.release(&package("1.10.0", "2025-01-01", None));
    assert_eq!(
        w.registry
            .select(ID, None, d("2024-12-31"))
            .unwrap()
            .version
            .to_string(),
        "1.9.0"
    );
    assert_eq!(
        w.registry
            .select(ID, None, d("2025-01-01"))
            .unwrap()
            .version
            .to_string(),
        "1.10.0"
    );
    // Both in force: the highest semver wins (1.10.0 > 1.9.0).
    w.release(&package("1.2.0", "2020-01-01", None));
    assert_eq!(
        w.registry
            .select(ID, None, d("2026-06-01"))
            .unwrap()
            .version
            .to_string(),
        "1.10.0"
    );
    assert_eq!(
        w.registry
            .select(ID, None, d("2024-06-01"))
            .unwrap()
            .version
            .to_string(),
        "1.9.0"
    );
    // A higher draft is never chosen implicitly.
    w.publish(&package("2.0.0", "2020-01-01", None)).unwrap();
    assert_eq!(
        w.registry
            .select(ID, None, d("2026-06-01"))
            .unwrap()
            .version
            .to_string(),
        "1.10.0"
    );
    let order: Vec<String> = w
        .registry
        .versions(ID)
        .map(|e| e.version.to_string())
        .collect();
    assert_eq!(order, ["1.2.0", "1.9.0", "1.10.0", "2.0.0"]);
}

#[test]
fn versions_are_immutable() {
    let mut w = world();
    let pkg = package("1.0.0", "2024-01-01", None);
    w.publish(&pkg).unwrap();
    let again = w.publish(&pkg).unwrap_err();
    assert_eq!(again.code(), "ALREADY_PUBLISHED");
    let changed = package("1.0.0", "2024-02-01", None);
    let e = w.publish(&changed).unwrap_err();
    assert_eq!(e.code(), "IMMUTABLE_VERSION");
    assert!(e.to_string().contains("versions are immutable"), "{e}");
    assert_eq!(w.registry.len(), 1);
    assert_eq!(w.registry.refused(), 2);
}

#[test]
fn publish_refusals() {
    let mut w = world();
    let pkg = package("1.0.0", "2024-01-01", None);
    // Digest that does not match the files.
    let mut e = events::published(&pkg, "ann", 1);
    e.published.as_mut().unwrap().digest = "sha256:00".into();
    assert_eq!(w.registry.apply(&e).unwrap_err().code(), "DIGEST_MISMATCH");
    // Event version differs from the manifest.
    let mut e = events::published(&pkg, "ann", 1);
    e.version = Some("1.0.1".into());
    assert_eq!(w.registry.apply(&e).unwrap_err().code(), "ID_MISMATCH");
    // Invalid package: a broken legal reference in the manifest.
    let mut e = events::published(&pkg, "ann", 1);
    let body = e.published.as_mut().unwrap();
    let text = String::from_utf8(body.files["function.yaml"].to_vec())
        .unwrap()
        .replace(
            "http://data.finlex.fi/eli/sd/1978/38/luku/7/ajantasa",
            "http://example.com/law",
        );
    body.files.insert(
        "function.yaml".into(),
        serde_bytes::ByteBuf::from(text.into_bytes()),
    );
    let files: BTreeMap<String, Vec<u8>> = body
        .files
        .iter()
        .map(|(k, v)| (k.clone(), v.to_vec()))
        .collect();
    body.digest = dl_function::package_digest(&files);
    let err = w.registry.apply(&e).unwrap_err();
    assert_eq!(err.code(), "INVALID_PACKAGE", "{err}");
    // Bad version string, missing body, two bodies.
    let mut e = events::published(&pkg, "ann", 1);
    e.version = Some("one".into());
    assert_eq!(w.registry.apply(&e).unwrap_err().code(), "BAD_VERSION");
    let mut e = events::published(&pkg, "ann", 1);
    e.activated = Some(dl_schema::VersionActivated {
        digest: "x".into(),
        by: "x".into(),
        at: 0,
    });
    assert_eq!(w.registry.apply(&e).unwrap_err().code(), "MALFORMED_EVENT");
    assert!(w.registry.is_empty());
}

#[test]
fn approval_refusals() {
    let mut w = world();
    w.publish(&package("1.0.0", "2024-01-01", None)).unwrap();
    // Unknown function / version.
    let mut e = w.approval("1.0.0", ApproverRole::Owner, "alice");
    e.function_id = Some("other".into());
    assert_eq!(w.registry.apply(&e).unwrap_err().code(), "UNKNOWN_FUNCTION");
    let mut e = w.approval("1.0.0", ApproverRole::Owner, "alice");
    e.version = Some("1.0.1".into());
    assert_eq!(w.registry.apply(&e).unwrap_err().code(), "UNKNOWN_VERSION");
    // Self-approval: ann published.
    let err = w.approve("1.0.0", ApproverRole::Owner, "ann").unwrap_err();
    assert_eq!(err.code(), "SELF_APPROVAL");
    assert!(err.to_string().contains("self-approval refused"));
    // Unknown approver, unknown key, role not allowed.
    let mut e = w.approval("1.0.0", ApproverRole::Owner, "alice");
    e.approved.as_mut().unwrap().approver_id = "mallory".into();
    assert_eq!(w.registry.apply(&e).unwrap_err().code(), "UNKNOWN_APPROVER");
    let mut e = w.approval("1.0.0", ApproverRole::Owner, "alice");
    e.approved.as_mut().unwrap().key_id = "alice-9".into();
    assert_eq!(w.registry.apply(&e).unwrap_err().code(), "UNKNOWN_KEY");
    assert_eq!(
        w.approve("1.0.0", ApproverRole::Owner, "rita")
            .unwrap_err()
            .code(),
        "ROLE_NOT_ALLOWED"
    );
    // Bad signature: bob's key claimed as alice's; a signature for the other role.
    let digest = w.digest("1.0.0");
    let forged = events::approved(
        ApprovalRequest {
            function_id: ID,
            version: "1.0.0",
            digest: &digest,
            role: ApproverRole::Owner,
            approver_id: "alice",
            key_id: "alice-1",
        },
        &w.keys["bob"],
        2,
    );
    assert_eq!(
        w.registry.apply(&forged).unwrap_err().code(),
        "BAD_SIGNATURE"
    );
    let mut swapped = w.approval("1.0.0", ApproverRole::Owner, "alice");
    swapped.approved.as_mut().unwrap().role = ApproverRole::Reviewer;
    assert_eq!(
        w.registry.apply(&swapped).unwrap_err().code(),
        "BAD_SIGNATURE"
    );
    // Digest of another content.
    let mut e = w.approval("1.0.0", ApproverRole::Owner, "alice");
    e.approved.as_mut().unwrap().digest = "sha256:ff".into();
    assert_eq!(w.registry.apply(&e).unwrap_err().code(), "DIGEST_MISMATCH");
    // Accepted owner, then duplicate role, then same person for the other role.
    w.approve("1.0.0", ApproverRole::Owner, "alice").unwrap();
    let dup = w.approve("1.0.0", ApproverRole::Owner, "bob").unwrap_err();
    assert_eq!(dup.code(), "DUPLICATE_APPROVAL");
    assert!(
        dup.to_string()
            .contains("already has the owner approval (by alice)"),
        "{dup}"
    );
    let same = w
        .approve("1.0.0", ApproverRole::Reviewer, "alice")
        .unwrap_err();
    assert_eq!(same.code(), "SAME_APPROVER");
    assert!(same.to_string().contains("two different people"));
    assert_eq!(w.state("1.0.0"), VersionState::Draft);
    w.approve("1.0.0", ApproverRole::Reviewer, "rita").unwrap();
    assert_eq!(w.state("1.0.0"), VersionState::Approved);
    // No more approvals after APPROVED.
    assert_eq!(
        w.approve("1.0.0", ApproverRole::Reviewer, "bob")
            .unwrap_err()
            .code(),
        "WRONG_STATE"
    );
}

#[test]
fn activation_and_retirement_refusals() {
    let mut w = world();
    w.publish(&package("1.0.0", "2024-01-01", None)).unwrap();
    let err = w.activate("1.0.0").unwrap_err();
    assert_eq!(err.code(), "WRONG_STATE");
    assert!(
        err.to_string()
            .contains("needs the owner and reviewer approval"),
        "{err}"
    );
    w.approve("1.0.0", ApproverRole::Owner, "alice").unwrap();
    let err = w.activate("1.0.0").unwrap_err();
    assert!(
        err.to_string().contains("needs the reviewer approval"),
        "{err}"
    );
    assert_eq!(w.retire("1.0.0").unwrap_err().code(), "WRONG_STATE");
    w.approve("1.0.0", ApproverRole::Reviewer, "bob").unwrap();
    // Activation with the wrong digest.
    let e = events::activated(ID, "1.0.0", "sha256:00", "ops", 3);
    assert_eq!(w.registry.apply(&e).unwrap_err().code(), "DIGEST_MISMATCH");
    w.activate("1.0.0").unwrap();
    assert_eq!(w.activate("1.0.0").unwrap_err().code(), "WRONG_STATE");
    w.retire("1.0.0").unwrap();
    assert_eq!(w.retire("1.0.0").unwrap_err().code(), "WRONG_STATE");
    assert_eq!(w.activate("1.0.0").unwrap_err().code(), "WRONG_STATE");
}

fn legal(iri: &str, status: LegalStatus) -> RegistryEvent {
    events::legal_status_changed(LegalReferenceStatusChanged {
        iri: iri.into(),
        status,
        previous_status: Some(LegalStatus::InForce),
        title: Some("Kuluttajansuojalaki".into()),
        latest_consolidated: None,
        detail: "recorded response changed".into(),
        checked_at: 5,
    })
}

#[test]
fn repealed_reference_blocks_activation_and_flags_for_review() {
    let mut w = world();
    w.release(&package("1.0.0", "2024-01-01", None));
    w.publish(&package("1.1.0", "2024-01-01", None)).unwrap();
    w.approve("1.1.0", ApproverRole::Owner, "alice").unwrap();
    w.approve("1.1.0", ApproverRole::Reviewer, "bob").unwrap();
    // Another act's repeal changes nothing for this function.
    w.registry
        .apply(&legal(
            "http://data.finlex.fi/eli/sd/2002/1412",
            LegalStatus::Repealed,
        ))
        .unwrap();
    assert!(w
        .registry
        .version(ID, &"1.0.0".parse().unwrap())
        .unwrap()
        .review_required
        .is_empty());
    // The Consumer Protection Act reported repealed.
    w.registry
        .apply(&legal(
            "http://data.finlex.fi/eli/sd/1978/38/ajantasa",
            LegalStatus::Repealed,
        ))
        .unwrap();
    let active = w.registry.version(ID, &"1.0.0".parse().unwrap()).unwrap();
    assert_eq!(
        active.state,
        VersionState::Active,
        "a flagged version keeps running until a person acts"
    );
    assert_eq!(active.review_required.len(), 1);
    let err = w.activate("1.1.0").unwrap_err();
    assert_eq!(err.code(), "REPEALED_REFERENCE");
    assert!(err.to_string().contains("repealed"), "{err}");
    // Back in force: activation is possible again.
    w.registry
        .apply(&legal(
            "http://data.finlex.fi/eli/sd/1978/38/ajantasa",
            LegalStatus::InForce,
        ))
        .unwrap();
    w.activate("1.1.0").unwrap();
    // An unparsable IRI in a legal event is refused.
    assert_eq!(
        w.registry
            .apply(&legal("http://example.com/x", LegalStatus::Repealed))
            .unwrap_err()
            .code(),
        "INVALID_LEGAL_REFERENCE"
    );
}

#[test]
fn replaying_the_same_log_gives_the_same_state() {
    let mut w = world();
    let mut log = Vec::new();
    let pkg = package("1.0.0", "2024-01-01", None);
    log.push(events::published(&pkg, "ann", 1));
    w.registry.apply(&log[0]).unwrap();
    log.push(w.approval("1.0.0", ApproverRole::Owner, "ann")); // refused: self-approval
    log.push(w.approval("1.0.0", ApproverRole::Owner, "alice"));
    log.push(w.approval("1.0.0", ApproverRole::Reviewer, "bob"));
    let digest = w.digest("1.0.0");
    log.push(events::activated(ID, "1.0.0", &digest, "ops", 3));
    let mut a = Registry::new(Arc::new(w.registry.approvers().clone()));
    let mut b = a.clone();
    for e in &log {
        let _ = a.apply(e);
    }
    for e in &log {
        let _ = b.apply(e);
    }
    assert_eq!((a.applied(), a.refused()), (4, 1));
    let summary = |r: &Registry| {
        r.all_versions()
            .map(|e| (e.version.to_string(), e.state, e.approvals.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(summary(&a), summary(&b));
    assert_eq!(a.select(ID, None, d("2025-01-01")).unwrap().digest, digest);
}

/// The loan example as tenant `tenant`'s function `tenant/loan_approval`.
fn tenant_package(tenant: &str) -> FunctionPackage {
    let mut files = example_files();
    let manifest = String::from_utf8(files["function.yaml"].clone()).unwrap();
    let renamed = manifest.replacen(
        "id: loan_approval",
        &format!("id: {tenant}/loan_approval"),
        1,
    );
    assert_ne!(renamed, manifest, "the example's manifest names its id");
    files.insert("function.yaml".into(), renamed.into_bytes());
    FunctionPackage::from_files(Path::new("test"), files).unwrap()
}

#[test]
fn a_tenants_functions_are_released_only_by_its_people() {
    let mut keys = BTreeMap::new();
    let mut yaml = String::from("approvers:\n");
    for (id, tenant) in [
        ("kela-olli", "kela"),
        ("kela-saara", "kela"),
        ("bank-bea", "bank"),
    ] {
        let key = dl_registry::generate_key();
        let pem = dl_registry::public_key_pem(&key.verifying_key()).unwrap();
        yaml.push_str(&format!(
            "  - id: {id}\n    tenant: {tenant}\n    keys:\n      - key_id: {id}-1\n        public_key: |\n"
        ));
        for line in pem.lines() {
            yaml.push_str(&format!("          {line}\n"));
        }
        keys.insert(id, key);
    }
    yaml.push_str(
        "authors:\n  - id: kela-aino\n    tenant: kela\n  - id: bank-bo\n    tenant: bank\n",
    );
    let set = ApproverSet::from_yaml(&yaml).unwrap();
    let mut registry = Registry::new(Arc::new(set));
    let pkg = tenant_package("kela");
    let id = "kela/loan_approval";
    let code = |r: Result<(), RegistryError>| r.err().map(|e| e.code());

    // Publish: only kela's people.
    assert_eq!(
        code(registry.apply(&events::published(&pkg, "bank-bo", 1))),
        Some("FOREIGN_TENANT")
    );
    assert_eq!(
        code(registry.apply(&events::published(&pkg, "someone", 1))),
        Some("FOREIGN_TENANT")
    );
    registry
        .apply(&events::published(&pkg, "kela-aino", 1))
        .unwrap();
    let digest = registry
        .version(id, &"1.0.0".parse().unwrap())
        .expect("published under the tenant's id")
        .digest
        .clone();
    assert!(
        registry
            .version("loan_approval", &"1.0.0".parse().unwrap())
            .is_none(),
        "the plain id is another (the default tenant's) function"
    );
    let approval = |approver: &'static str, role| {
        let key_id = format!("{approver}-1");
        events::approved(
            ApprovalRequest {
                function_id: id,
                version: "1.0.0",
                digest: &digest,
                role,
                approver_id: approver,
                key_id: &key_id,
            },
            &keys[approver],
            2,
        )
    };
    // Approve: only kela's approvers, with their own keys.
    assert_eq!(
        code(registry.apply(&approval("bank-bea", ApproverRole::Owner))),
        Some("FOREIGN_TENANT")
    );
    registry
        .apply(&approval("kela-olli", ApproverRole::Owner))
        .unwrap();
    registry
        .apply(&approval("kela-saara", ApproverRole::Reviewer))
        .unwrap();
    // Activate and retire: only kela's people.
    assert_eq!(
        code(registry.apply(&events::activated(id, "1.0.0", &digest, "bank-bo", 3))),
        Some("FOREIGN_TENANT")
    );
    registry
        .apply(&events::activated(id, "1.0.0", &digest, "kela-olli", 3))
        .unwrap();
    let date = NaiveDate::from_ymd_opt(2026, 6, 1).unwrap();
    assert!(registry.select(id, None, date).is_ok());
    // Shadow and unshadow: only kela's people (checked before anything else about the function).
    assert_eq!(
        code(registry.apply(&events::shadow_set(id, "1.0.0", &digest, 10, "bank-bo", 3))),
        Some("FOREIGN_TENANT")
    );
    assert_eq!(
        code(registry.apply(&events::shadow_cleared(id, "bank-bo", 3))),
        Some("FOREIGN_TENANT")
    );
    assert_eq!(
        code(registry.apply(&events::shadow_set(
            id,
            "1.0.0",
            &digest,
            10,
            "kela-olli",
            3
        ))),
        Some("SHADOW_IS_DECIDING")
    );
    assert_eq!(
        code(registry.apply(&events::retired(id, "1.0.0", &digest, "bank-bo", 4, None))),
        Some("FOREIGN_TENANT")
    );
    registry
        .apply(&events::retired(id, "1.0.0", &digest, "kela-aino", 4, None))
        .unwrap();

    // A tenant's approver cannot approve a default tenant's function either.
    let plain = package("1.0.0", "2024-01-01", None);
    registry
        .apply(&events::published(&plain, "ops", 5))
        .unwrap();
    let plain_digest = registry
        .version("loan_approval", &"1.0.0".parse().unwrap())
        .unwrap()
        .digest
        .clone();
    let e = events::approved(
        ApprovalRequest {
            function_id: "loan_approval",
            version: "1.0.0",
            digest: &plain_digest,
            role: ApproverRole::Owner,
            approver_id: "kela-olli",
            key_id: "kela-olli-1",
        },
        &keys["kela-olli"],
        6,
    );
    assert_eq!(code(registry.apply(&e)), Some("FOREIGN_TENANT"));
}

#[test]
fn approver_files_check_tenants_and_people() {
    let bad = "approvers: []\nauthors:\n  - id: x\n    tenant: Not-A-Tenant\n";
    assert!(ApproverSet::from_yaml(bad).is_err());
    let twice =
        "approvers: []\nauthors:\n  - id: x\n    tenant: kela\n  - id: x\n    tenant: bank\n";
    assert!(ApproverSet::from_yaml(twice).is_err());
    let ok = "approvers: []\nauthors:\n  - id: x\n    tenant: kela\n";
    let set = ApproverSet::from_yaml(ok).unwrap();
    assert!(set.is_member("x", "kela"));
    assert!(!set.is_member("x", "bank"));
    assert!(!set.is_member("y", "kela"));
}

#[test]
fn shadow_rules_and_refusals() {
    let mut w = world();
    let shadow = |w: &World, v: &str, per_mille: i32| {
        events::shadow_set(ID, v, &w.digest(v), per_mille, "ops", 5)
    };
    let code = |r: Result<(), RegistryError>| r.err().map(|e| e.code());
    assert_eq!(
        code(w.registry.apply(&events::shadow_cleared(ID, "ops", 5))),
        Some("UNKNOWN_FUNCTION")
    );
    w.release(&package("1.0.0", "2024-01-01", None));
    w.publish(&package("1.1.0", "2024-01-01", None)).unwrap();
    // A draft cannot be shadowed; neither can the deciding version.
    let e = shadow(&w, "1.1.0", 10);
    assert_eq!(code(w.registry.apply(&e)), Some("WRONG_STATE"));
    let e = shadow(&w, "1.0.0", 10);
    assert_eq!(code(w.registry.apply(&e)), Some("SHADOW_IS_DECIDING"));
    w.approve("1.1.0", ApproverRole::Owner, "alice").unwrap();
    w.approve("1.1.0", ApproverRole::Reviewer, "bob").unwrap();
    // Bad sample rates, a wrong digest, an unknown version.
    for bad in [0, -1, 1001, i32::MAX] {
        let e = shadow(&w, "1.1.0", bad);
        assert_eq!(code(w.registry.apply(&e)), Some("BAD_SAMPLE_RATE"), "{bad}");
    }
    let e = events::shadow_set(ID, "1.1.0", "sha256:00", 10, "ops", 5);
    assert_eq!(code(w.registry.apply(&e)), Some("DIGEST_MISMATCH"));
    let e = events::shadow_set(ID, "9.0.0", "sha256:00", 10, "ops", 5);
    assert_eq!(code(w.registry.apply(&e)), Some("UNKNOWN_VERSION"));
    assert_eq!(
        code(w.registry.apply(&events::shadow_cleared(ID, "ops", 5))),
        Some("NO_SHADOW")
    );
    assert!(w.registry.shadow(ID).is_none());
    // The APPROVED candidate goes in shadow; the decision is still 1.0.0's.
    w.registry.apply(&shadow(&w, "1.1.0", 1000)).unwrap();
    let s = w.registry.shadow(ID).unwrap();
    assert_eq!(
        (s.version.to_string().as_str(), s.sample_per_mille),
        ("1.1.0", 1000)
    );
    assert_eq!(s.digest, w.digest("1.1.0"));
    assert_eq!(
        w.registry
            .select(ID, None, d("2025-01-01"))
            .unwrap()
            .version
            .to_string(),
        "1.0.0"
    );
    // Set again: replaces the rate. Cleared: gone.
    w.registry.apply(&shadow(&w, "1.1.0", 5)).unwrap();
    assert_eq!(w.registry.shadow(ID).unwrap().sample_per_mille, 5);
    w.registry
        .apply(&events::shadow_cleared(ID, "ops", 6))
        .unwrap();
    assert!(w.registry.shadow(ID).is_none());
    // An older ACTIVE version may shadow the newer deciding one; retiring it clears the shadow.
    w.activate("1.1.0").unwrap();
    w.registry.apply(&shadow(&w, "1.0.0", 100)).unwrap();
    assert_eq!(w.registry.shadow(ID).unwrap().version.to_string(), "1.0.0");
    w.retire("1.0.0").unwrap();
    assert!(w.registry.shadow(ID).is_none());
    // A malformed event: two bodies.
    let mut e = shadow(&w, "1.1.0", 10);
    e.shadow_cleared = Some(dl_schema::ShadowCleared {
        by: "ops".into(),
        at: 1,
    });
    assert_eq!(code(w.registry.apply(&e)), Some("MALFORMED_EVENT"));
}
