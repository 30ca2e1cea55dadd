//! Static checks that the documentation says what the code does, in the spirit of `compose.rs`:
//! the stable codes ↔ `docs/rejection-codes.md`, `ARCHITECTURE.md`'s crate table ↔ the Cargo
//! manifests, the README's repository table ↔ `services/`. Reads files (and `cargo metadata`);
//! no stack needed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use dl_e2e::repo;
use regex::Regex;
use serde_json::Value;

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// The Markdown tables of `md`: each as its header cells and its rows' cells (trimmed).
fn tables(md: &str) -> Vec<(Vec<String>, Vec<Vec<String>>)> {
    let cells = |line: &str| -> Vec<String> {
        let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
        inner.split('|').map(|c| c.trim().to_string()).collect()
    };
    let mut out: Vec<(Vec<String>, Vec<Vec<String>>)> = Vec::new();
    let mut in_table = false;
    for line in md.lines() {
        if !line.trim_start().starts_with('|') {
            in_table = false;
            continue;
        }
        if !in_table {
            out.push((cells(line), Vec::new()));
            in_table = true;
        } else if !line.contains("---") {
            if let Some((_, rows)) = out.last_mut() {
                rows.push(cells(line));
            }
        }
    }
    out
}

/// The `backticked` words of a table cell.
fn backticked(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// The part of a Rust source file before its test module.
fn non_test(source: &str) -> &str {
    source.split("#[cfg(test)]\nmod ").next().unwrap_or(source)
}

/// Rust files under `dir`, recursively.
fn rust_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Every stable code the code can produce, with where it comes from.
fn produced_codes() -> BTreeMap<String, BTreeSet<String>> {
    let mut codes: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut add = |code: &str, from: &str| {
        codes
            .entry(code.to_string())
            .or_default()
            .insert(from.to_string());
    };
    // The libraries' public lists (each checked against its `code()` by the crate's unit tests).
    for (from, list) in [
        ("dl_schema::CodecError::CODES", dl_schema::CodecError::CODES),
        (
            "dl_function::EvalError::CODES",
            dl_function::EvalError::CODES,
        ),
        ("dl_auth::AuthError::CODES", dl_auth::AuthError::CODES),
        ("dl_replay::Verdict::CODES", dl_replay::Verdict::CODES),
        (
            "dl_replay::ReplayError::CODES",
            dl_replay::ReplayError::CODES,
        ),
    ] {
        for code in list {
            add(code, from);
        }
    }

    // The worker's own codes: `const CODE_…: &str = "…";`, and no code literal besides them.
    let definition = Regex::new(r#"const CODE_[A-Z0-9_]+: &str = "([A-Z0-9_]+)";"#).unwrap();
    let literal = Regex::new(r#"(code:\s*|reject\(\s*request,\s*)"[A-Z]"#).unwrap();
    let mut worker = 0;
    for path in rust_files(&repo().join("services/worker/src")) {
        let source = std::fs::read_to_string(&path).expect("worker source");
        let code = non_test(&source);
        for c in definition.captures_iter(code) {
            add(&c[1], "services/worker (CODE_ constants)");
            worker += 1;
        }
        assert!(
            !literal.is_match(code),
            "{}: a code written as a literal; define it as a `const CODE_…` (docs/rejection-codes.md)",
            path.display()
        );
    }
    assert!(worker > 0, "no `const CODE_…` found in services/worker/src");

    // The gateway's HTTP errors: `ApiError::new(status, "CODE", …)`; a code that is not a
    // literal may only be an `AuthError`'s (`auth_error`, listed above).
    let api_error =
        Regex::new(r#"::new\(\s*(?:StatusCode::[A-Z_]+|status),\s*([^,\s]+),"#).unwrap();
    let mut gateway = 0;
    for path in rust_files(&repo().join("services/gateway/src")) {
        let source = std::fs::read_to_string(&path).expect("gateway source");
        for c in api_error.captures_iter(non_test(&source)) {
            let arg = &c[1];
            match arg.strip_prefix('"').and_then(|a| a.strip_suffix('"')) {
                Some(code) => add(code, "services/gateway (ApiError)"),
                None => assert_eq!(
                    arg,
                    "code",
                    "{}: an ApiError code the drift test cannot read",
                    path.display()
                ),
            }
            gateway += 1;
        }
    }
    assert!(
        gateway > 0,
        "no ApiError::new(…) found in services/gateway/src"
    );
    codes
}

/// The codes `docs/rejection-codes.md` documents: the first column of its tables headed `code`
/// or `reason`.
fn documented_codes() -> BTreeSet<String> {
    let doc = read("docs/rejection-codes.md");
    let shape = Regex::new(r"^[A-Z][A-Z0-9_]*$").unwrap();
    let mut codes = BTreeSet::new();
    for (header, rows) in tables(&doc) {
        if !matches!(header.first().map(String::as_str), Some("code" | "reason")) {
            continue;
        }
        for row in rows {
            let words = backticked(&row[0]);
            assert!(!words.is_empty(), "a row without a code: {row:?}");
            for w in words {
                assert!(shape.is_match(&w), "not a code: {w:?} in {row:?}");
                codes.insert(w);
            }
        }
    }
    codes
}

#[test]
fn every_code_is_documented_and_every_documented_code_exists() {
    let produced = produced_codes();
    let documented = documented_codes();
    let undocumented: Vec<String> = produced
        .iter()
        .filter(|(c, _)| !documented.contains(*c))
        .map(|(c, from)| {
            format!(
                "{c} (from {})",
                from.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        })
        .collect();
    let unknown: Vec<&String> = documented
        .iter()
        .filter(|c| !produced.contains_key(*c))
        .collect();
    assert!(
        undocumented.is_empty() && unknown.is_empty(),
        "docs/rejection-codes.md and the code disagree.\n\
         produced but not documented: {undocumented:#?}\n\
         documented but produced nowhere: {unknown:#?}"
    );
}

/// The workspace's packages from `cargo metadata`: (package name, its directory relative to the
/// repository, the names of its normal and build dependencies).
fn workspace_packages() -> Vec<(String, String, BTreeSet<String>)> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(repo())
        .output()
        .expect("running cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata JSON");
    let root = std::fs::canonicalize(repo()).expect("repository root");
    meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| {
            let manifest = Path::new(p["manifest_path"].as_str().expect("manifest_path"));
            let dir = manifest
                .parent()
                .and_then(|d| d.strip_prefix(&root).ok())
                .expect("a package inside the repository")
                .to_string_lossy()
                .into_owned();
            let deps = p["dependencies"]
                .as_array()
                .expect("dependencies")
                .iter()
                .filter(|d| d["kind"].is_null() || d["kind"] == "build")
                .map(|d| d["name"].as_str().expect("name").to_string())
                .collect();
            (p["name"].as_str().expect("name").to_string(), dir, deps)
        })
        .collect()
}

#[test]
fn the_architecture_crate_table_matches_the_manifests() {
    let packages = workspace_packages();
    // A crate is named by its package name, a service by its directory (as in the table).
    let label = |name: &str, dir: &str| -> Option<String> {
        if dir.starts_with("crates/") {
            Some(name.to_string())
        } else {
            dir.strip_prefix("services/").map(str::to_string)
        }
    };
    let mut expected: BTreeMap<String, BTreeSet<String>> = packages
        .iter()
        .filter(|(_, dir, _)| dir.starts_with("crates/"))
        .map(|(name, _, _)| (name.clone(), BTreeSet::new()))
        .collect();
    for (name, dir, deps) in &packages {
        let Some(user) = label(name, dir) else {
            continue; // tests/ (dl-e2e) uses everything and is no one's user
        };
        for dep in deps {
            if let Some(users) = expected.get_mut(dep) {
                users.insert(user.clone());
            }
        }
    }
    // Every directory under crates/ is a workspace package.
    for entry in std::fs::read_dir(repo().join("crates")).expect("crates/") {
        let path = entry.expect("entry").path();
        if path.join("Cargo.toml").is_file() {
            let dir = format!("crates/{}", path.file_name().unwrap().to_string_lossy());
            assert!(
                packages.iter().any(|(_, d, _)| *d == dir),
                "{dir} is not a workspace member"
            );
        }
    }

    let doc = read("ARCHITECTURE.md");
    let (_, rows) = tables(&doc)
        .into_iter()
        .find(|(h, _)| h.first().map(String::as_str) == Some("crate"))
        .expect("ARCHITECTURE.md has a table headed `crate`");
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for row in &rows {
        let name = backticked(&row[0]).into_iter().next().unwrap_or_default();
        let used_by: BTreeSet<String> = row
            .last()
            .map(|c| {
                c.split(',')
                    .map(|u| u.trim().to_string())
                    .filter(|u| !u.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        match expected.get(&name) {
            None => problems.push(format!("row `{name}` is not a crate under crates/")),
            Some(users) if *users != used_by => problems.push(format!(
                "`{name}` used by: the table says {used_by:?}, the manifests say {users:?}"
            )),
            Some(_) => {}
        }
        if !seen.insert(name.clone()) {
            problems.push(format!("`{name}` has two rows"));
        }
    }
    for name in expected.keys() {
        if !seen.contains(name) {
            problems.push(format!("crate `{name}` has no row"));
        }
    }
    let expected_rows: Vec<String> = expected
        .iter()
        .map(|(name, users)| {
            // Crates first, then services, each alphabetically.
            let (crates, services): (Vec<&String>, Vec<&String>) =
                users.iter().partition(|u| u.starts_with("dl-"));
            let cell: Vec<&str> = crates
                .into_iter()
                .chain(services)
                .map(String::as_str)
                .collect();
            format!("| `{name}` | … | {} |", cell.join(", "))
        })
        .collect();
    assert!(
        problems.is_empty(),
        "ARCHITECTURE.md's crate table disagrees with the Cargo manifests:\n  {}\n\
         The rows it should have (\"used by\" = direct [dependencies], services by directory):\n{}",
        problems.join("\n  "),
        expected_rows.join("\n")
    );
}

#[test]
fn the_readme_lists_every_service() {
    let readme = read("README.md");
    let (_, rows) = tables(&readme)
        .into_iter()
        .find(|(h, _)| h.first().map(String::as_str) == Some("path"))
        .expect("README.md has a repository table headed `path`");
    let listed: BTreeSet<String> = rows
        .iter()
        .flat_map(|r| backticked(&r[0]))
        .filter_map(|p| {
            p.strip_prefix("services/")
                .map(|s| s.trim_end_matches('/').to_string())
        })
        .collect();
    let services: BTreeSet<String> = std::fs::read_dir(repo().join("services"))
        .expect("services/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.join("Cargo.toml").is_file())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(
        services.len() >= 7,
        "services/ has {services:?}, fewer than the 7 services"
    );
    assert_eq!(
        listed, services,
        "README.md's repository table must list exactly the directories of services/"
    );
}
