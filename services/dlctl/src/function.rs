//! `dlctl function test`.

use std::path::PathBuf;

use dl_function::{load_dir_of_packages, run_tests, FunctionPackage, MANIFEST_FILE};

/// Runs the cases of every package given (a package folder, or a folder of packages).
pub fn test(paths: &[PathBuf]) -> anyhow::Result<bool> {
    let mut packages = Vec::new();
    for path in paths {
        if path.join(MANIFEST_FILE).is_file() {
            packages.push(FunctionPackage::load(path)?);
        } else {
            packages.extend(load_dir_of_packages(path)?);
        }
    }
    anyhow::ensure!(!packages.is_empty(), "no function packages found");
    let mut all = true;
    for pkg in &packages {
        let report = run_tests(pkg);
        crate::say!("{report}");
        all &= report.all_passed();
    }
    Ok(all)
}
