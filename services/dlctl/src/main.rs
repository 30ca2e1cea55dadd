//! `dlctl`: the Decision Layer command line.
//!
//! Exit codes: 0 success, 1 failure of the operation (a test case failed, a chain does not
//! verify, a decision was rejected when `--fail-on-reject`), 2 usage or connection errors.

/// `println!` that exits quietly when stdout is closed (`dlctl ... | head`) instead of panicking.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
        }
    }};
}

mod archive;
mod audit;
mod bench;
mod bench_ledger;
mod bench_verify;
mod decide;
mod explain;
mod function;
mod ledger;
mod projection;
mod prove;
mod registry;
mod s3;
mod schemas;
mod topic_reader;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Decision Layer command line.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Kafka bootstrap servers. Further librdkafka settings: KAFKA_<PROPERTY>.
    #[arg(
        long,
        global = true,
        env = "DL_BROKERS",
        default_value = "127.0.0.1:9092"
    )]
    brokers: String,
    /// The tenant to act for (docs/tenancy.md): `function` and `audit` then name functions as
    /// the tenant's callers do (`<name>`, meaning `<tenant>/<name>`), `function list` and `audit`
    /// cover only the tenant's functions and outcomes. Without it: the registry's ids, and every
    /// tenant's outcomes (the operator's view).
    #[arg(long, global = true, env = "DL_TENANT", value_parser = registry::tenant_arg)]
    tenant: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Kafka topology.
    Topology {
        #[command(subcommand)]
        command: TopologyCommand,
    },
    /// Decision function packages and the registry.
    Function {
        #[command(flatten)]
        registry: registry::RegistryOpts,
        #[command(subcommand)]
        command: FunctionCommand,
    },
    /// Generate an Ed25519 approver key (PKCS#8 PEM) and print its public key.
    Keygen(registry::KeygenArgs),
    /// Send one decision request and wait for its result.
    Decide(decide::DecideArgs),
    /// Audit of the projection: report, deterministic replay, drift between versions.
    Audit {
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
    /// The redacted explanation of a decision (from explain.views, written by dl-explainer).
    Explain(explain::ExplainArgs),
    /// Ledger integrity.
    Ledger {
        #[command(subcommand)]
        command: LedgerCommand,
    },
    /// Rebuild the PostgreSQL projection from the topics, compare projections (docs/operations.md).
    Projection {
        #[command(subcommand)]
        command: projection::ProjectionCommand,
    },
    /// Load generation and baselines (see BENCHMARKS.md).
    Bench {
        #[command(subcommand)]
        command: bench::BenchCommand,
    },
    /// Avro schemas: fingerprints for client authors.
    Schema {
        #[command(subcommand)]
        command: SchemaCommand,
    },
}

#[derive(Subcommand)]
enum SchemaCommand {
    /// Print each shipped schema's fingerprint (CRC-64-AVRO of the Parsing Canonical Form) as
    /// single-object encoding carries it, and the legacy one still accepted.
    Fingerprints,
}

#[derive(Subcommand)]
enum TopologyCommand {
    /// Create missing topics, grow partitions, set configs. Idempotent.
    Apply {
        /// Topology file.
        #[arg(long, default_value = "topology/topics.yaml")]
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum FunctionCommand {
    /// Run the test cases of one or more packages.
    Test {
        /// Package folders (or a folder of packages).
        #[arg(required = true)]
        packages: Vec<PathBuf>,
    },
    #[command(flatten)]
    Registry(registry::RegistryCommand),
}

#[derive(Subcommand)]
enum LedgerCommand {
    /// Verify every chain of the ledger: sequence, links, hashes, key certificates, decision
    /// signatures, checkpoints (exit 0 verified, 1 break found, 2 could not verify).
    Verify(ledger::VerifyArgs),
    /// Write every chain's complete segments (records up to and including a checkpoint) not
    /// archived yet to S3-compatible storage, one object per segment; idempotent (exit 0 done,
    /// 1 records found missing from both the topic and the archive, 2 could not archive).
    Archive(archive::ArchiveArgs),
    /// Print a decision's inclusion proof (built from the projection, or `--file` from the
    /// gateway) and verify it: path to the checkpoint's Merkle root and the checkpoint's
    /// signature (exit 0 verified, 1 not verified, 2 no proof to be had).
    Prove(prove::ProveArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,rdkafka::client=error".into()),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let result: anyhow::Result<bool> = runtime.block_on(async {
        match cli.command {
            Command::Topology {
                command: TopologyCommand::Apply { file },
            } => {
                let topology = dl_kafka::Topology::load(&file)?;
                let report = topology
                    .apply(&dl_kafka::client_config(&cli.brokers))
                    .await?;
                for t in &report.created {
                    crate::say!("created   {t}");
                }
                for (t, from, to) in &report.grown {
                    crate::say!("grown     {t}: {from} -> {to} partitions");
                }
                for t in &report.unchanged {
                    crate::say!("unchanged {t}");
                }
                for (t, w) in &report.config_warnings {
                    crate::say!("warning   {t}: broker did not apply configs: {w}");
                }
                schemas::register(&topology).await?;
                Ok(true)
            }
            Command::Schema {
                command: SchemaCommand::Fingerprints,
            } => {
                schemas::print_fingerprints()?;
                Ok(true)
            }
            Command::Function {
                command: FunctionCommand::Test { packages },
                ..
            } => function::test(&packages),
            Command::Function {
                registry,
                command: FunctionCommand::Registry(command),
            } => registry::run(&cli.brokers, cli.tenant.as_deref(), &registry, command).await,
            Command::Keygen(args) => registry::keygen(&args),
            Command::Decide(args) => decide::run(&cli.brokers, args).await,
            Command::Audit { command } => {
                audit::run(&cli.brokers, cli.tenant.as_deref(), command).await
            }
            Command::Projection { command } => projection::run(&cli.brokers, command).await,
            Command::Explain(args) => explain::run(&cli.brokers, args).map(|()| true),
            Command::Ledger {
                command: LedgerCommand::Verify(args),
            } => ledger::verify(&cli.brokers, cli.tenant.as_deref(), args).await,
            Command::Ledger {
                command: LedgerCommand::Archive(args),
            } => archive::archive(&cli.brokers, args).await,
            Command::Ledger {
                command: LedgerCommand::Prove(args),
            } => prove::prove(cli.tenant.as_deref(), args).await,
            Command::Bench { command } => bench::run(&cli.brokers, command).await,
        }
    });
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
