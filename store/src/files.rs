//! Files a node or a technician's tool reports written: written whole or
//! not at all, and durable (file and directory synced) before the report.

use std::io::Write;
use std::path::Path;

/// The directory holding `path` (the current one for a bare name).
fn parent(path: &Path) -> &Path {
    path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// Syncs the directory holding `path`, so that a name just created or
/// renamed there survives a power loss.
pub fn sync_parent(path: &Path) -> std::io::Result<()> {
    std::fs::File::open(parent(path))?.sync_all()
}

/// Writes `bytes` to `path` through a synced temporary file beside it,
/// renamed over the old one, then syncs the directory: a crash leaves the
/// old file or the new one, never a half. `private` files (keys) are
/// readable by their owner only.
pub fn write_atomically(path: &Path, bytes: &[u8], private: bool) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        if private {
            options.mode(0o600);
        }
        let mut f = options.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    sync_parent(path)
}

/// Takes every permission of group and others off `path` (a data
/// directory, a file holding personal data or a key), leaving the owner's:
/// returns the mode it had when that changed anything.
pub fn restrict_to_owner(path: &Path) -> std::io::Result<Option<u32>> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)?.permissions().mode() & 0o7777;
    if mode & 0o077 == 0 {
        return Ok(None);
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o700))?;
    Ok(Some(mode))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_replaced_whole_and_a_private_one_is_the_owners_alone() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.json");
        write_atomically(&path, b"old", false).unwrap();
        write_atomically(&path, b"new", false).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        let key = dir.path().join("node.key");
        write_atomically(&key, b"secret", true).unwrap();
        assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 2, "no temporary file is left: {names:?}");
    }

    #[test]
    fn restricting_takes_only_group_and_other_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let file = dir.path().join("node.json");
        std::fs::write(&file, b"{}").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(restrict_to_owner(&file).unwrap(), Some(0o644));
        assert_eq!(mode(&file), 0o600);
        assert_eq!(restrict_to_owner(&file).unwrap(), None, "already the owner's alone");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(restrict_to_owner(dir.path()).unwrap(), Some(0o755));
        assert_eq!(mode(dir.path()), 0o700);
    }
}
