//! Stores written by earlier versions of motcua, frozen under
//! `tests/fixtures/format-N/` (made once by `make.sh` with the binary of
//! the commit each one's README names), opened and brought up to
//! [`STORE_FORMAT`] by today's code. A fixture is copied first: the frozen
//! file is never opened in place, since opening upgrades it.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use motcua_store::{ApplicantKey, ListQuery, STORE_FORMAT, Store};
use redb::{ReadableDatabase, TableDefinition};

/// One dossier a fixture was made with, from its `dossiers.tsv`.
struct Made {
    code: String,
    id_number: String,
    name: String,
    state: u8,
}

fn fixture_dir(format: u32) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/format-{format}"))
}

fn made(format: u32) -> Vec<Made> {
    let tsv = std::fs::read_to_string(fixture_dir(format).join("dossiers.tsv")).unwrap();
    tsv.lines()
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            assert_eq!(f.len(), 4, "{line}");
            Made { code: f[0].into(), id_number: f[1].into(), name: f[2].into(), state: f[3].parse().unwrap() }
        })
        .collect()
}

/// The applicant key the node derived from its `node.key` (64 hex digits
/// of its ed25519 secret), as `motcua-desk`'s identity does.
fn applicant_key(dir: &Path) -> ApplicantKey {
    let text = std::fs::read_to_string(dir.join("node.key")).unwrap();
    let secret: [u8; 32] = hex::decode(text.trim()).unwrap().try_into().unwrap();
    ApplicantKey::from_node_secret(&secret)
}

/// The format recorded in a store file, read with redb alone.
fn recorded_format(path: &Path) -> u32 {
    const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
    let db = redb::Database::open(path).unwrap();
    let tx = db.begin_read().unwrap();
    let v = tx.open_table(META).unwrap().get("store_format").unwrap().unwrap().value().to_vec();
    u32::from_le_bytes(v.try_into().unwrap())
}

/// Copies a fixture into a fresh directory; returns it and the store path.
fn copy_fixture(format: u32) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    for file in ["motcua.redb", "node.key"] {
        std::fs::copy(fixture_dir(format).join(file), tmp.path().join(file)).unwrap();
    }
    let path = tmp.path().join("motcua.redb");
    // As git checks it out, whatever mode it was made with.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    (tmp, path)
}

fn search(store: &Store, text: &str) -> Vec<String> {
    let q = ListQuery { q: Some(text.into()), limit: 100, ..Default::default() };
    let mut codes: Vec<String> = store.list(&q).unwrap().0.into_iter().map(|s| s.code).collect();
    codes.sort();
    codes
}

/// Everything the fixture's node wrote is there and reads as today's
/// store reads it.
fn check_contents(store: &Store, made: &[Made]) {
    assert_eq!(store.meta("store_format").unwrap(), Some(STORE_FORMAT.to_le_bytes().to_vec()));

    let (all, total) = store.list(&ListQuery { limit: 100, ..Default::default() }).unwrap();
    assert_eq!(total, made.len() as u64);
    assert_eq!(all.len(), made.len());
    let mut ids = Vec::new();
    for m in made {
        let s = store.summary_by_code(&m.code).unwrap().unwrap_or_else(|| panic!("{} is missing", m.code));
        assert_eq!((&s.applicant_name, &s.applicant_id_number, s.state.code()), (&m.name, &m.id_number, m.state));
        assert_eq!(store.id_by_code(&m.code).unwrap(), Some(s.id));
        assert!(store.load_doc(&s.id).unwrap().is_some(), "{}: no document", m.code);
        // The applicant index answers under the node's key (rebuilt on
        // upgrade), and the name index with or without accents.
        assert_eq!(search(store, &m.id_number), [m.code.as_str()], "search by id number {}", m.id_number);
        assert_eq!(search(store, &m.name), [m.code.as_str()], "search by name {}", m.name);
        let plain = motcua_domain::codes::fold_text(&m.name);
        assert_eq!(search(store, &plain), [m.code.as_str()], "search by name {plain}");
        ids.push(s.id);
    }
    ids.sort();

    // One offer per dossier, in today's encoding, agreeing with the sync
    // index it is built from.
    let mut units = Vec::new();
    let offers = store
        .sync_offers(|u| {
            units.push(u.map(String::from).collect::<Vec<_>>());
            true
        })
        .unwrap();
    assert_eq!(offers.iter().map(|o| o.0).collect::<Vec<_>>(), ids);
    for ((id, digest, due_at), units) in offers.iter().zip(&units) {
        let entry = store.sync_entry(id).unwrap().unwrap();
        assert_eq!((digest, due_at, units), (&entry.digest, &entry.due_at, &entry.units));
        assert!(!units.is_empty(), "an offer with no unit is offered to nobody");
    }

    assert!(store.account("admin").unwrap().is_some());
    assert!(store.account("chuyenvien").unwrap().is_some());
    assert!(!store.is_disabled("chuyenvien").unwrap());
    assert!(store.is_disabled("tiepnhan").unwrap());
}

fn audit_lines(store: &Store) -> u64 {
    match store.verify_audit().unwrap() {
        Ok(lines) => lines,
        Err(broken) => panic!("{broken}"),
    }
}

fn upgrades(format: u32) {
    let made = made(format);
    assert_eq!(made.len(), 4);
    let (dir, path) = copy_fixture(format);
    assert_eq!(recorded_format(&path), format, "the fixture is not of the format it is filed under");
    let key = applicant_key(dir.path());

    let store = Store::open(&path, key).unwrap();
    // The store holds citizens' names and numbers: owner-only once open.
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    check_contents(&store, &made);
    let lines = audit_lines(&store);
    assert!(lines >= made.len() as u64, "the receptions were audited: {lines} lines");
    // The upgraded store takes writes: its audit chain goes on.
    let mut w = store.begin().unwrap();
    w.audit(1, "admin", "fixture_check", &made[0].code).unwrap();
    w.commit_durable().unwrap();
    drop(store);

    assert_eq!(recorded_format(&path), STORE_FORMAT);
    let store = Store::open(&path, key).unwrap();
    check_contents(&store, &made);
    assert_eq!(audit_lines(&store), lines + 1);
}

#[test]
fn a_format_1_store_is_upgraded() {
    upgrades(1);
}

#[test]
fn a_format_2_store_is_upgraded() {
    upgrades(2);
}

#[test]
fn a_format_3_store_opens() {
    upgrades(3);
}

/// Every format before today's has a fixture, and none is newer.
#[test]
fn every_format_has_a_fixture() {
    for format in 1..=STORE_FORMAT {
        assert!(fixture_dir(format).join("motcua.redb").is_file(), "no fixture of format {format}");
    }
    assert!(!fixture_dir(STORE_FORMAT + 1).exists());
}
