//! motcua's provisioning: what technicians do before and around a node.
//!
//! Owns checking a province's catalog file before it is loaded into nodes
//! ([`check_catalog`]); as enrollment is built, also the province root key,
//! node certificates and bundles, and moving old communes' records.
//!
//! It never runs inside a node: it works on files a technician holds.

use std::path::Path;

use motcua_domain::catalog::{Catalog, ImportError, import_csv, import_json};

/// Reads a catalog file (CSV when its name ends in `.csv`, JSON otherwise)
/// and checks every row.
pub fn check_catalog(path: &Path, version: &str) -> Result<Catalog, ImportError> {
    let bytes = std::fs::read(path).map_err(|e| ImportError::Unreadable(format!("{}: {e}", path.display())))?;
    let is_csv = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    if is_csv { import_csv(&bytes, version) } else { import_json(&bytes, version) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_files_are_checked_by_extension() {
        let dir = std::env::temp_dir().join(format!("motcua-prov-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let json = dir.join("c.json");
        std::fs::write(&json, serde_json::to_vec(&Catalog::sample()).unwrap()).unwrap();
        assert_eq!(check_catalog(&json, "v").unwrap().procedures.len(), Catalog::sample().procedures.len());
        let csv = dir.join("c.csv");
        std::fs::write(&csv, "procedure_code\n1.001193\n").unwrap();
        assert!(matches!(check_catalog(&csv, "v"), Err(ImportError::Rows(_))));
        assert!(matches!(check_catalog(&dir.join("missing.csv"), "v"), Err(ImportError::Unreadable(_))));
        std::fs::remove_dir_all(&dir).ok();
    }
}
