//! `dlctl function publish|approve|activate|retire|list|show` and `dlctl keygen`: the registry
//! commands. They talk to `registry.events` through `dl_registry_kafka::RegistryWriter`, which rebuilds
//! the registry from the topic, validates the command against it, produces the event and waits
//! until the fold accepted it.
//!
//! Exit codes: 0 done, 1 refused by the registry (the message says why), 2 usage or connection.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use dl_function::FunctionPackage;
use dl_registry::{ApproverSet, Registry, VersionEntry};
use dl_registry_kafka::{FollowerConfig, RegistryWriter, WriteError};

/// Options shared by the registry commands.
#[derive(Args, Clone, Debug)]
pub struct RegistryOpts {
    /// Registry topic.
    #[arg(
        long,
        global = true,
        env = "DL_REGISTRY_TOPIC",
        default_value = "registry.events"
    )]
    pub registry_topic: String,
    /// Approver public keys (YAML; see docs/registry.md).
    #[arg(long, global = true, env = "DL_APPROVERS_FILE")]
    pub approvers: Option<PathBuf>,
    /// Seconds to wait for the broker.
    #[arg(long, global = true, default_value_t = 30)]
    pub timeout_secs: u64,
}

/// Parses `--tenant` (the rule of `dl_schema::tenant::is_valid_tenant`).
pub fn tenant_arg(s: &str) -> Result<String, String> {
    if dl_schema::tenant::is_valid_tenant(s) {
        Ok(s.to_string())
    } else {
        Err(format!("{s:?} is not a tenant id (1-32 of a-z 0-9 -)"))
    }
}

/// The registry id `id` means under `--tenant` (unchanged without it).
pub fn qualified(tenant: Option<&str>, id: &str) -> anyhow::Result<String> {
    match tenant {
        None => Ok(id.to_string()),
        Some(t) => dl_schema::tenant::registry_id(Some(t), id).with_context(|| {
            format!("with --tenant, name the function as its callers do: {id:?} holds a '/'")
        }),
    }
}

/// The registry subcommands of `dlctl function`.
#[derive(Subcommand, Debug)]
pub enum RegistryCommand {
    /// Run the package's tests and publish it as a DRAFT version.
    Publish {
        /// Package folder.
        dir: PathBuf,
        /// Publisher id (may not approve this version).
        #[arg(long, env = "DL_ACTOR")]
        author: String,
    },
    /// Sign and record an owner or reviewer approval.
    Approve {
        /// Function id.
        id: String,
        /// Version.
        version: String,
        /// owner | reviewer.
        #[arg(long, value_parser = ["owner", "reviewer"])]
        role: String,
        /// Approver id (as in the approver set).
        #[arg(long)]
        approver: String,
        /// Ed25519 private key, PKCS#8 PEM (`dlctl keygen`).
        #[arg(long)]
        key: PathBuf,
        /// Key id; default: the approver's key in the set that matches `--key`.
        #[arg(long)]
        key_id: Option<String>,
    },
    /// Activate an APPROVED version (both approvals, legal checks).
    Activate {
        /// Function id.
        id: String,
        /// Version.
        version: String,
        /// Who activates.
        #[arg(long, env = "DL_ACTOR")]
        by: String,
    },
    /// Retire an ACTIVE version.
    Retire {
        /// Function id.
        id: String,
        /// Version.
        version: String,
        /// Who retires.
        #[arg(long, env = "DL_ACTOR")]
        by: String,
        /// Why.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Evaluate an APPROVED or ACTIVE version in shadow next to the deciding one, for a sample
    /// of the decisions; it never affects a result (ADR 0032). Replaces an earlier shadow.
    Shadow {
        /// Function id.
        id: String,
        /// Version.
        version: String,
        /// Share of the decisions evaluated in shadow, 1 to 1000 per mille.
        #[arg(long, default_value_t = 1000)]
        sample_per_mille: i32,
        /// Who.
        #[arg(long, env = "DL_ACTOR")]
        by: String,
    },
    /// Stop evaluating the function's shadow version.
    Unshadow {
        /// Function id.
        id: String,
        /// Who.
        #[arg(long, env = "DL_ACTOR")]
        by: String,
    },
    /// Freshness watch, one round: resolve every act cited by a non-retired version (Finlex
    /// open data, EUR-Lex CELLAR), compare with the PostgreSQL cache, emit
    /// LEGAL_REFERENCE_STATUS_CHANGED for each change.
    LegalCheck {
        /// PostgreSQL URL (cache table).
        #[arg(long, env = "DATABASE_URL")]
        database_url: String,
        /// Finlex open data base URL.
        #[arg(long, env = "DL_FINLEX_BASE", default_value = dl_legal_resolver::FINLEX_BASE)]
        finlex_base: String,
        /// CELLAR base URL.
        #[arg(long, env = "DL_CELLAR_BASE", default_value = dl_legal_resolver::CELLAR_BASE)]
        cellar_base: String,
        /// Keep watching: run a round every this many seconds (a failed round is logged and
        /// retried at the next one). Without it, one round and exit.
        #[arg(long, env = "DL_LEGAL_CHECK_EVERY_SECS")]
        every_secs: Option<u64>,
    },
    /// List every function version.
    List {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Show one function's versions in detail.
    Show {
        /// Function id.
        id: String,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
}

/// `dlctl keygen`.
#[derive(Args, Debug)]
pub struct KeygenArgs {
    /// Where to write the private key (PKCS#8 PEM, mode 0600). Refuses to overwrite.
    #[arg(long)]
    pub out: PathBuf,
}

/// Writes a new approver key and prints its public key and an approver-set snippet.
pub fn keygen(args: &KeygenArgs) -> anyhow::Result<bool> {
    anyhow::ensure!(
        !args.out.exists(),
        "{} exists; not overwriting a key",
        args.out.display()
    );
    let key = dl_registry::generate_key();
    let private = dl_registry::private_key_pem(&key)?;
    let public = dl_registry::public_key_pem(&key.verifying_key())?;
    write_private(&args.out, &private)?;
    crate::say!("private key written to {}", args.out.display());
    crate::say!("add to the approver set (approvers.yaml):\n  - id: <approver id>\n    keys:\n      - key_id: <key id>\n        public_key: |");
    for line in public.lines() {
        crate::say!("          {line}");
    }
    Ok(true)
}

fn write_private(path: &Path, pem: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(pem.as_bytes())?;
    Ok(())
}

/// The approver set file (required by every command that reads the registry).
pub(crate) fn approvers_file(opts: &RegistryOpts) -> anyhow::Result<&Path> {
    opts.approvers
        .as_deref()
        .context("the approver set is required: --approvers approvers.yaml or DL_APPROVERS_FILE")
}

pub(crate) fn approvers(opts: &RegistryOpts) -> anyhow::Result<Arc<ApproverSet>> {
    Ok(dl_registry_kafka::load_approvers(approvers_file(opts)?)?)
}

/// Runs one registry command.
pub async fn run(
    brokers: &str,
    tenant: Option<&str>,
    opts: &RegistryOpts,
    command: RegistryCommand,
) -> anyhow::Result<bool> {
    let timeout = Duration::from_secs(opts.timeout_secs);
    let cfg = FollowerConfig {
        brokers: brokers.to_string(),
        topic: opts.registry_topic.clone(),
        approvers: approvers(opts)?,
    };
    // Load local inputs before connecting, so usage errors do not wait for the broker.
    let prepared = match &command {
        RegistryCommand::Publish { dir, .. } => {
            Some(FunctionPackage::load(dir).with_context(|| format!("loading {}", dir.display()))?)
        }
        _ => None,
    };
    let key = match &command {
        RegistryCommand::Approve { key, .. } => Some(dl_registry::load_signing_key(key)?),
        _ => None,
    };
    if let (Some(pkg), Some(t)) = (&prepared, tenant) {
        let id = &pkg.manifest().id;
        anyhow::ensure!(
            dl_schema::tenant::function_tenant(id) == Some(t),
            "the package's id {id:?} is not tenant {t}'s: a tenant's function is id: {t}/<name> in function.yaml"
        );
    }
    let writer = RegistryWriter::connect(cfg.clone(), timeout)
        .await
        .context("connecting to the registry")?;
    let result = match command {
        RegistryCommand::Publish { author, .. } => {
            let pkg = prepared.expect("loaded above");
            let m = pkg.manifest();
            let (id, version, digest) = (
                m.id.clone(),
                m.version.to_string(),
                pkg.digest().to_string(),
            );
            writer.publish(&pkg, &author).await.map(|_| format!("published {id} {version} as DRAFT\n  digest {digest}\n  next: two approvals (owner and reviewer), then activate"))
        }
        RegistryCommand::Approve {
            id,
            version,
            role,
            approver,
            key_id,
            ..
        } => {
            let id = qualified(tenant, &id)?;
            let key = key.expect("loaded above");
            let role = dl_registry::parse_role(&role).context("role")?;
            let key_id = match key_id {
                Some(k) => k,
                None => {
                    let vk = key.verifying_key();
                    let a = cfg.approvers.get(&approver).with_context(|| {
                        format!("approver {approver:?} is not in the approver set")
                    })?;
                    a.keys.iter().find(|(_, k)| **k == vk).map(|(id, _)| id.clone()).with_context(|| format!("the key does not match any key of {approver} in the approver set; pass --key-id"))?
                }
            };
            match writer
                .approve(&id, &version, role, &approver, &key_id, &key)
                .await
            {
                Ok(_) => {
                    let state = writer.state();
                    let entry = state
                        .version(&id, &version.parse()?)
                        .context("approved version vanished")?;
                    Ok(format!(
                        "approved {id} {} as {} by {approver} (key {key_id}); state {}",
                        entry.version,
                        role.as_str(),
                        entry.state
                    ))
                }
                Err(e) => Err(e),
            }
        }
        RegistryCommand::Activate { id, version, by } => {
            let id = qualified(tenant, &id)?;
            writer
                .activate(&id, &version, &by)
                .await
                .map(|_| format!("activated {id} {version} (by {by})"))
        }
        RegistryCommand::Retire {
            id,
            version,
            by,
            reason,
        } => {
            let id = qualified(tenant, &id)?;
            writer
                .retire(&id, &version, &by, reason)
                .await
                .map(|_| format!("retired {id} {version} (by {by})"))
        }
        RegistryCommand::Shadow {
            id,
            version,
            sample_per_mille,
            by,
        } => {
            let id = qualified(tenant, &id)?;
            writer
                .shadow(&id, &version, sample_per_mille, &by)
                .await
                .map(|_| {
                    format!(
                        "{id} {version} is in shadow for {sample_per_mille} per mille of the decisions (by {by})"
                    )
                })
        }
        RegistryCommand::Unshadow { id, by } => {
            let id = qualified(tenant, &id)?;
            writer
                .unshadow(&id, &by)
                .await
                .map(|_| format!("{id} has no version in shadow any more (by {by})"))
        }
        RegistryCommand::LegalCheck {
            database_url,
            finlex_base,
            cellar_base,
            every_secs,
        } => {
            use dl_legal_resolver::{LegalCache, LegalResolver, ResolverConfig};
            let pool = dl_store::connect_and_migrate(&database_url, 2).await?;
            let resolver = LegalResolver::new(ResolverConfig {
                finlex_base,
                cellar_base,
                timeout,
            })?;
            let cache = LegalCache::new(pool);
            let Some(every) = every_secs else {
                legal_round(&resolver, &cache, &writer).await?;
                return Ok(true);
            };
            let every = Duration::from_secs(every.max(1));
            loop {
                if let Err(e) = legal_round(&resolver, &cache, &writer).await {
                    tracing::error!(error = format!("{e:#}"), "legal freshness round failed");
                }
                tokio::time::sleep(every).await;
            }
        }
        RegistryCommand::List { json } => {
            let state = writer.state();
            let mine =
                |id: &str| tenant.is_none() || dl_schema::tenant::function_tenant(id) == tenant;
            if json {
                let all: Vec<_> = state
                    .all_versions()
                    .filter(|e| mine(&e.function_id))
                    .map(|e| version_json(e))
                    .collect();
                crate::say!("{}", serde_json::to_string_pretty(&all)?);
            } else {
                print_list(&state, mine);
            }
            return Ok(true);
        }
        RegistryCommand::Show { id, json } => {
            let id = qualified(tenant, &id)?;
            let state = writer.state();
            let versions: Vec<_> = state.versions(&id).collect();
            if versions.is_empty() {
                eprintln!("refused [UNKNOWN_FUNCTION]: no function {id:?} is published");
                return Ok(false);
            }
            if json {
                crate::say!(
                    "{}",
                    serde_json::to_string_pretty(
                        &versions.iter().map(|e| version_json(e)).collect::<Vec<_>>()
                    )?
                );
            } else {
                for e in versions {
                    print_version(e);
                }
                if let Some(shadow) = state.shadow(&id) {
                    crate::say!(
                        "in shadow: {} for {} per mille of the decisions (by {}, {})",
                        shadow.version,
                        shadow.sample_per_mille,
                        shadow.set.by,
                        date_ms(shadow.set.at)
                    );
                }
            }
            return Ok(true);
        }
    };
    match result {
        Ok(message) => {
            crate::say!("{message}");
            Ok(true)
        }
        Err(e) if e.is_refusal() => {
            let code = match &e {
                WriteError::Refused(r) => r.code(),
                _ => "TESTS_FAILED",
            };
            eprintln!("refused [{code}]: {e}");
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}

fn date_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%SZ").to_string())
        .unwrap_or_default()
}

fn effective(e: &VersionEntry) -> String {
    let m = e.manifest();
    format!(
        "{} .. {}",
        m.effective_from,
        m.effective_to.map(|d| d.to_string()).unwrap_or_default()
    )
}

fn print_list(state: &Registry, show: impl Fn(&str) -> bool) {
    crate::say!(
        "{:<32} {:<12} {:<9} {:<26} {:<18} DIGEST",
        "ID",
        "VERSION",
        "STATE",
        "EFFECTIVE",
        "APPROVALS"
    );
    for e in state.all_versions().filter(|e| show(&e.function_id)) {
        let approvals: Vec<String> = e
            .approvals
            .iter()
            .map(|a| format!("{}:{}", &a.role.as_str()[..1], a.approver_id))
            .collect();
        let flag = if e.review_required.is_empty() {
            ""
        } else {
            "  REVIEW"
        };
        crate::say!(
            "{:<32} {:<12} {:<9} {:<26} {:<18} {}{flag}",
            e.function_id,
            e.version.to_string(),
            e.state.as_str(),
            effective(e),
            approvals.join(","),
            &e.digest[..e.digest.len().min(19)]
        );
    }
    crate::say!(
        "{} versions of {} functions",
        state.len(),
        state.function_ids().count()
    );
}

fn print_version(e: &VersionEntry) {
    let m = e.manifest();
    crate::say!("{} {}  [{}]", e.function_id, e.version, e.state);
    crate::say!("  title      {}", m.title);
    crate::say!("  digest     {}", e.digest);
    crate::say!("  published  {} by {}", date_ms(e.published_at), e.author);
    crate::say!("  effective  {}", effective(e));
    for a in &e.approvals {
        crate::say!(
            "  approval   {:<8} {} (key {}) at {}",
            a.role.as_str(),
            a.approver_id,
            a.key_id,
            date_ms(a.approved_at)
        );
    }
    if let Some(t) = &e.activated {
        crate::say!("  activated  {} by {}", date_ms(t.at), t.by);
    }
    if let Some(t) = &e.retired {
        crate::say!(
            "  retired    {} by {}{}",
            date_ms(t.at),
            t.by,
            t.reason
                .as_ref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        );
    }
    for b in &m.legal_basis {
        crate::say!("  legal      {} {} — {}", b.id, b.iri, b.title);
    }
    crate::say!(
        "  callers    {}",
        if m.allowed_callers.is_empty() {
            "(nobody: deny by default)".to_string()
        } else {
            m.allowed_callers.join(", ")
        }
    );
    for r in &e.review_required {
        crate::say!("  REVIEW     {r}");
    }
}

fn version_json(e: &VersionEntry) -> serde_json::Value {
    let m = e.manifest();
    serde_json::json!({
        "id": e.function_id,
        "version": e.version.to_string(),
        "state": e.state.as_str(),
        "digest": e.digest,
        "author": e.author,
        "published_at": e.published_at,
        "effective_from": m.effective_from,
        "effective_to": m.effective_to,
        "approvals": e.approvals.iter().map(|a| serde_json::json!({"role": a.role.as_str(), "approver": a.approver_id, "key_id": a.key_id, "approved_at": a.approved_at})).collect::<Vec<_>>(),
        "activated": e.activated.as_ref().map(|t| serde_json::json!({"by": t.by, "at": t.at})),
        "retired": e.retired.as_ref().map(|t| serde_json::json!({"by": t.by, "at": t.at, "reason": t.reason})),
        "legal_basis": e.legal_basis(),
        "allowed_callers": m.allowed_callers,
        "review_required": e.review_required,
    })
}

/// One freshness round: resolve every cited act, record each change as a registry event.
async fn legal_round(
    resolver: &dl_legal_resolver::LegalResolver,
    cache: &dl_legal_resolver::LegalCache,
    writer: &RegistryWriter,
) -> anyhow::Result<()> {
    let changes = dl_legal_resolver::check_freshness(
        resolver,
        cache,
        &writer.state(),
        dl_registry::events::now_ms(),
    )
    .await?;
    for change in &changes {
        writer.legal_status_changed(change.clone()).await?;
        crate::say!(
            "{} {}: {}",
            change.iri,
            change.status.as_str(),
            change.detail
        );
    }
    crate::say!("{} change(s) recorded", changes.len());
    Ok(())
}
