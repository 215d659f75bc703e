//! Opening a node's data directory: making sure it is one, the demo
//! provisioning of a first start, the enrolled node's bundle checked
//! against the province (certificate, revocations), the trust it starts
//! with, and the first admin account. The node and the technician's tool
//! (a merger's receiving node) open a desk the same way.

use std::path::Path;
use std::sync::Arc;

use motcua_domain::calendar::WorkingCalendar;
use motcua_domain::catalog::Catalog;
use motcua_domain::workflow::Role;
use motcua_store::Store;

use crate::accounts::{self, Account};
use crate::config::{CONFIG_FILE, NodeConfig};
use crate::desk::{Desk, DeskParts};
use crate::error::OpenError;
use crate::identity::{Identity, KEY_FILE};
use crate::now_ms;

macro_rules! open_error {
    ($($t:tt)*) => { OpenError(format!($($t)*)) };
}

macro_rules! fail {
    ($($t:tt)*) => { return Err(open_error!($($t)*)) };
}

/// The store's file in a data directory.
pub const STORE_FILE: &str = "motcua.redb";

/// The file a start writes and removes to learn that the data directory
/// is writable.
const WRITE_PROBE: &str = ".motcua-write-test";

/// Makes sure `dir` is a motcua data directory (creating an empty one),
/// never one that holds somebody else's files.
pub fn prepare_data_dir(dir: &Path) -> Result<(), OpenError> {
    if dir.exists() {
        if !dir.is_dir() {
            fail!("data directory {} is not a directory", dir.display());
        }
        let ours = [CONFIG_FILE, KEY_FILE, STORE_FILE].iter().any(|f| dir.join(f).exists());
        // Empty but for the write probe a start killed at once left behind.
        let empty = std::fs::read_dir(dir)
            .map_err(|e| open_error!("cannot read data directory {}: {e}", dir.display()))?
            .filter_map(Result::ok)
            .all(|e| e.file_name() == WRITE_PROBE);
        if !ours && !empty {
            fail!(
                "{} is not a motcua data directory (it holds other files); choose an empty or new directory",
                dir.display()
            );
        }
    } else {
        // Owner-only from the start (see `open_desk`).
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| open_error!("cannot create data directory {}: {e}", dir.display()))?;
    }
    let probe = dir.join(WRITE_PROBE);
    std::fs::write(&probe, b"").map_err(|e| open_error!("data directory {} is not writable: {e}", dir.display()))?;
    std::fs::remove_file(&probe).ok();
    Ok(())
}

/// Makes a data directory, or a file in it, its owner's alone, saying so
/// when it was not (a directory made by hand, a bundle copied with loose
/// permissions, a store from an older version).
fn restrict(path: &Path) -> Result<(), OpenError> {
    let before = motcua_store::files::restrict_to_owner(path)
        .map_err(|e| open_error!("cannot make {} owner-only: {e}", path.display()))?;
    if let Some(mode) = before {
        tracing::warn!(path = %path.display(), mode = format!("{mode:o}"), "other users had access: made owner-only");
    }
    Ok(())
}

/// Marks a restored node's store as seeded (see [`seed_restored_day`]).
const RESTORE_META: &str = "restore_seeded_day";

/// A node enrolled again after losing its data starts the day's code
/// sequence in the middle of its range, durably, before it takes any
/// dossier: the lost node may have issued today's lower numbers without
/// the province holding them yet, and codes of other days cannot repeat
/// (they carry their day). Done once per store.
fn seed_restored_day(store: &Store, config: &NodeConfig, calendar: &WorkingCalendar) -> Result<(), OpenError> {
    let today = crate::desk::day_number(calendar.local_date(crate::now_ms()));
    let floor = crate::config::restore_sequence_first(config.sequence_first, config.sequence_last) - 1;
    let mut w = store.begin()?;
    w.dossier_tables()?.raise_sequence(today, floor)?;
    w.put_meta(RESTORE_META, &today.to_le_bytes())?;
    w.commit_durable()?;
    tracing::info!(day = today, next = floor + 1, "restored node: today's dossier codes start above the lost node's");
    Ok(())
}

/// Opens (and on first start provisions) the node in a data directory.
pub fn open_desk(dir: &Path) -> Result<Arc<Desk>, OpenError> {
    prepare_data_dir(dir)?;
    // A directory holding a certificate is an enrolled node's bundle: a
    // file missing from it is never made up (a new key could not match
    // the certificate, a demo configuration would hide what is missing).
    let enrolled = dir.join(CERTIFICATE_FILE).exists();
    for name in [crate::identity::KEY_FILE, crate::config::CONFIG_FILE] {
        if enrolled && !dir.join(name).exists() {
            fail!("{} holds a {CERTIFICATE_FILE} but no {name}: the bundle is incomplete", dir.display());
        }
    }
    let identity = Identity::load_or_create(dir)?;
    let config = match NodeConfig::load(dir)? {
        Some(c) => c,
        None => {
            let c = NodeConfig::demo();
            c.save(dir)?;
            tracing::info!(unit = %c.unit, "no enrolled node bundle: provisioned a demo commune node");
            c
        }
    };
    // A bundle that is refused leaves no store behind.
    let mut bundle = check_bundle(dir, &identity, &config)?;
    // The store holds citizens' personal data, the key signs for the node:
    // they and their directory are their owner's alone (the store sees to
    // its own file). A refused bundle is left as it was.
    for path in [dir.to_path_buf(), dir.join(crate::identity::KEY_FILE), dir.join(crate::config::CONFIG_FILE)] {
        restrict(&path)?;
    }
    let store = Store::open(&dir.join(STORE_FILE), identity.applicant_key())
        .map_err(|e| open_error!("{}: {e}", dir.join(STORE_FILE).display()))?;
    if let (Some(b), Some(stored)) = (bundle.as_mut(), store.meta(REVOCATIONS_META)?) {
        b.adopt_revocations(&stored, "the stored revocation list")?;
    }
    let trust = match &bundle {
        Some(b) => {
            let key = identity.public_key_bytes();
            let mut w = store.begin()?;
            w.put_certificate(&key, &serde_json::to_vec(&b.certificate).expect("serializes"))?;
            w.commit_durable()?;
            Some(build_trust(&store, b)?)
        }
        None => None,
    };
    let province = bundle.map(|b| b.province);
    let catalog = match store.meta("catalog")? {
        Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| open_error!("stored catalog is unreadable: {e}"))?,
        None => Catalog::sample(),
    };
    let calendar = match store.meta("calendar")? {
        Some(bytes) => WorkingCalendar::from_json(&String::from_utf8_lossy(&bytes))
            .map_err(|e| open_error!("stored calendar is unreadable: {e}"))?,
        None => WorkingCalendar::builtin(),
    };
    if config.restore && store.meta(RESTORE_META)?.is_none() {
        seed_restored_day(&store, &config, &calendar)?;
    }
    Ok(Arc::new(Desk::new(DeskParts { store: Arc::new(store), province, identity, config, calendar, catalog, trust })))
}

pub const CERTIFICATE_FILE: &str = "certificate.json";
pub const PROVINCE_FILE: &str = "province.json";
/// The province's signed revocation list, placed in the bundle by a
/// technician (and, with sync, kept current from the province).
pub const REVOCATIONS_FILE: &str = "revocations.json";
/// Store meta key of the newest signed revocation list received since.
pub const REVOCATIONS_META: &str = "revocations";

/// What an enrolled node's bundle holds, verified.
pub struct Bundle {
    pub province: motcua_sync::cert::ProvinceRecord,
    pub certificate: motcua_sync::cert::SignedCertificate,
    /// The province's signed revocation list placed in the bundle, if any.
    pub revocations: Option<motcua_sync::cert::SignedProvinceDocument>,
}

/// An enrolled node runs only with a certificate that the province in its
/// bundle signed for this node's key, unit and role, inside its validity
/// window, and not revoked by the bundle's revocation list. A demo node has
/// no certificate.
pub fn check_bundle(dir: &Path, identity: &Identity, config: &NodeConfig) -> Result<Option<Bundle>, OpenError> {
    use motcua_sync::cert::{ProvinceRecord, SignedCertificate};
    let cert_path = dir.join(CERTIFICATE_FILE);
    if !cert_path.exists() {
        if config.demo {
            return Ok(None);
        }
        fail!(
            "{} holds an enrolled node's configuration but no {CERTIFICATE_FILE}: the bundle is incomplete",
            dir.display()
        );
    }
    let read = |name: &str| -> Result<String, OpenError> {
        std::fs::read_to_string(dir.join(name))
            .map_err(|e| open_error!("cannot read {}: {e}", dir.join(name).display()))
    };
    let signed: SignedCertificate = serde_json::from_str(&read(CERTIFICATE_FILE)?)
        .map_err(|e| open_error!("{CERTIFICATE_FILE} is malformed: {e}"))?;
    let province: ProvinceRecord =
        serde_json::from_str(&read(PROVINCE_FILE)?).map_err(|e| open_error!("{PROVINCE_FILE} is malformed: {e}"))?;
    let root = province.verifying_key().ok_or_else(|| open_error!("{PROVINCE_FILE} holds no valid public key"))?;
    if province.code != config.province_code {
        fail!("the bundle is for province {}, but node.json names province {}", province.code, config.province_code);
    }
    let cert =
        signed.verify(&root, &config.province_code, now_ms()).map_err(|e| open_error!("certificate refused: {e}"))?;
    signed.check_key(identity.node_id()).map_err(|e| open_error!("certificate refused: {e}"))?;
    if cert.unit != config.unit || cert.role != config.role || cert.agency_id != config.agency_id {
        fail!(
            "certificate refused: it is for {} {} ({}), but node.json says {} {} ({})",
            cert.role.as_str(),
            cert.unit,
            cert.agency_id,
            config.role.as_str(),
            config.unit,
            config.agency_id
        );
    }
    let mut bundle = Bundle { province, certificate: signed, revocations: None };
    if dir.join(REVOCATIONS_FILE).exists() {
        bundle.adopt_revocations(read(REVOCATIONS_FILE)?.as_bytes(), REVOCATIONS_FILE)?;
    }
    Ok(Some(bundle))
}

impl Bundle {
    /// Takes a signed revocation list (named `source` in errors) if it is
    /// newer than the one held, and refuses to go on if it revokes this
    /// node's own certificate.
    pub fn adopt_revocations(&mut self, bytes: &[u8], source: &str) -> Result<(), OpenError> {
        use motcua_sync::cert::{DocumentKind, RevocationList, SignedProvinceDocument};
        let root =
            self.province.verifying_key().ok_or_else(|| open_error!("{PROVINCE_FILE} holds no valid public key"))?;
        let offered: SignedProvinceDocument =
            serde_json::from_slice(bytes).map_err(|e| open_error!("{source} is malformed: {e}"))?;
        offered
            .verify(&root, &self.province.code, DocumentKind::Revocations)
            .map_err(|e| open_error!("{source} refused: {e}"))?;
        if self.revocations.as_ref().is_some_and(|r| r.document.sequence >= offered.document.sequence) {
            return Ok(());
        }
        let list: RevocationList = serde_json::from_str(&offered.document.body)
            .map_err(|e| open_error!("{source} has a malformed body: {e}"))?;
        let serial = &self.certificate.certificate.serial;
        if list.is_revoked(serial) {
            fail!("certificate refused: serial {serial} was revoked by the province");
        }
        self.revocations = Some(offered);
        Ok(())
    }
}

/// The province's trust as this node starts: its own certificate, every
/// certificate it stored, and the newest revocation list.
fn build_trust(store: &Store, bundle: &Bundle) -> Result<motcua_sync::verify::Trust, OpenError> {
    let mut trust = motcua_sync::verify::Trust::new(&bundle.province)
        .ok_or_else(|| open_error!("{PROVINCE_FILE} holds no valid public key"))?;
    if let Some(r) = &bundle.revocations {
        trust.set_revocations(r).map_err(|e| open_error!("revocation list refused: {e}"))?;
    }
    trust.admit(&bundle.certificate, None).map_err(|e| open_error!("{e}"))?;
    for bytes in store.certificates()? {
        let c: motcua_sync::cert::SignedCertificate =
            serde_json::from_slice(&bytes).map_err(|e| open_error!("a stored certificate is unreadable: {e}"))?;
        // A stored certificate revoked since is simply not trusted.
        if let Err(e) = trust.admit(&c, None) {
            tracing::warn!(node = %c.certificate.node_key, reason = %e, "stored certificate not trusted");
        }
    }
    // A fork proven before stays quarantined across restarts.
    for (id, _, fork) in store.forks()? {
        trust.quarantine(id, fork.node_key);
    }
    Ok(trust)
}

/// Creates the `admin` account on the first start of a data directory.
/// Returns the generated password when none was given.
pub fn ensure_admin(desk: &Desk, env_password: Option<String>) -> Result<Option<String>, OpenError> {
    if desk.store().account("admin")?.is_some() {
        return Ok(None);
    }
    let (password, generated) = match env_password.filter(|p| !p.is_empty()) {
        Some(p) => {
            crate::passwords::check_new_password(&p, "admin")
                .map_err(|e| open_error!("MOTCUA_ADMIN_PASSWORD refused: {e}"))?;
            (p, false)
        }
        None => (accounts::generate_password(), true),
    };
    let account = Account {
        username: "admin".into(),
        full_name: "Quản trị".into(),
        roles: Role::ALL.to_vec(),
        password_hash: accounts::hash_password(&password),
        created_at: now_ms(),
    };
    let bytes = postcard::to_allocvec(&account)?;
    desk.committer()
        .run(move |w| w.put_account("admin", &bytes))
        .map_err(|e| open_error!("cannot create the admin account: {e}"))?;
    Ok(generated.then_some(password))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_data_directory_and_its_files_are_the_owners_alone_and_loose_ones_are_tightened() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("node");
        let files = [KEY_FILE, CONFIG_FILE, STORE_FILE];
        drop(open_desk(&dir).unwrap());
        assert_eq!(mode(&dir), 0o700);
        for f in files {
            assert_eq!(mode(&dir.join(f)), 0o600, "{f}");
        }
        // Made by hand, copied or left by an older version with loose modes.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        for f in files {
            std::fs::set_permissions(dir.join(f), std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        drop(open_desk(&dir).unwrap());
        assert_eq!(mode(&dir), 0o700);
        for f in files {
            assert_eq!(mode(&dir.join(f)), 0o600, "{f} tightened");
        }
    }
}
