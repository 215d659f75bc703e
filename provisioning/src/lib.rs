//! motcua's provisioning: what technicians do before and around a node.
//!
//! Owns the province root key and record ([`init_province`]), node bundles
//! with certificates signed by that root ([`enroll`]), and checking a
//! province's catalog file before it is loaded into nodes
//! ([`check_catalog`]); the province's LAN certificate authority and the
//! nodes' HTTPS certificates ([`lan`]).
//!
//! It never runs inside a node: it works on files a technician holds. The
//! province root key is written with owner-only permissions and should stay
//! on an offline machine.

pub mod lan;
pub mod merge;

use std::io::Write;
use std::path::Path;

use ed25519_dalek::SigningKey;
use motcua_desk::config::{CONFIG_FORMAT, NodeConfig};
use motcua_domain::catalog::{Catalog, ImportError, import_csv, import_json};
use motcua_domain::codes::{is_agency_id, is_unit_code};
use motcua_sync::cert::{
    CERTIFICATE_VERSION, Certificate, DocumentKind, NodeRole, ProvinceDocument, ProvinceRecord, Revocation,
    RevocationList, SignedCertificate, SignedProvinceDocument,
};
use rand::RngExt;

pub const PROVINCE_KEY_FILE: &str = "province.key";
pub const PROVINCE_FILE: &str = "province.json";
pub const CERTIFICATE_FILE: &str = "certificate.json";
/// Default certificate lifetime: three years.
pub const VALID_DAYS_DEFAULT: u32 = 3 * 365;

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error("{0}")]
    Io(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0} already exists; refusing to overwrite it")]
    Exists(String),
}

pub(crate) fn io(path: &Path, e: std::io::Error) -> ProvisionError {
    ProvisionError::Io(format!("{}: {e}", path.display()))
}

pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), ProvisionError> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f =
        std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(|e| io(path, e))?;
    f.write_all(bytes).and_then(|_| f.sync_all()).map_err(|e| io(path, e))?;
    sync_parent(path)
}

fn sync_parent(path: &Path) -> Result<(), ProvisionError> {
    motcua_store::files::sync_parent(path).map_err(|e| io(path, e))
}

fn write_json<T: serde::Serialize>(path: &Path, v: &T) -> Result<(), ProvisionError> {
    let text = serde_json::to_string_pretty(v).expect("in-memory serialization");
    write_durably(path, text.as_bytes())
}

/// Writes a file whole or not at all, and makes it and its name durable
/// before the tool reports it written: a technician may pull the USB stick
/// or lose power right after. The bytes go to a temporary file beside it,
/// synced, then renamed over the old one, so a crash leaves the old file
/// or the new one, never a half.
pub fn write_durably(path: &Path, bytes: &[u8]) -> Result<(), ProvisionError> {
    motcua_store::files::write_atomically(path, bytes, false).map_err(|e| io(path, e))
}

pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ProvisionError> {
    let text = std::fs::read_to_string(path).map_err(|e| io(path, e))?;
    serde_json::from_str(&text).map_err(|e| ProvisionError::Invalid(format!("{}: {e}", path.display())))
}

/// Environment variable holding the passphrase of an encrypted root key.
pub const PASSPHRASE_ENV: &str = "MOTCUA_PROVINCE_PASSPHRASE";
/// Shortest passphrase accepted for a root key.
pub const PASSPHRASE_MIN_CHARS: usize = 12;

/// An encrypted province root key: Argon2id derives a key from the
/// passphrase, ChaCha20-Poly1305 seals the root key with it.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SealedKey {
    format: String,
    m_kib: u32,
    t: u32,
    p: u32,
    salt: String,
    nonce: String,
    ciphertext: String,
}

const SEALED_FORMAT: &str = "motcua-province-key-argon2id-chacha20poly1305-v1";

fn derive(passphrase: &str, salt: &[u8], m_kib: u32, t: u32, p: u32) -> Result<[u8; 32], ProvisionError> {
    let params = argon2::Params::new(m_kib, t, p, Some(32))
        .map_err(|e| ProvisionError::Invalid(format!("key derivation parameters: {e}")))?;
    let mut out = [0u8; 32];
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password_into(passphrase.as_bytes(), salt, &mut out)
        .map_err(|e| ProvisionError::Invalid(format!("key derivation: {e}")))?;
    Ok(out)
}

/// Seals a secret (a root key, the LAN CA's key) with a passphrase.
pub(crate) fn seal_bytes(secret: &[u8], passphrase: &str) -> Result<String, ProvisionError> {
    use chacha20poly1305::aead::{Aead, KeyInit};
    let (m_kib, t, p) = (64 * 1024, 3, 1);
    let salt: [u8; 16] = rand::rng().random();
    let nonce: [u8; 12] = rand::rng().random();
    let k = derive(passphrase, &salt, m_kib, t, p)?;
    let cipher = chacha20poly1305::ChaCha20Poly1305::new(&k.into());
    let ciphertext =
        cipher.encrypt(&nonce.into(), secret).map_err(|_| ProvisionError::Invalid("cannot encrypt the key".into()))?;
    let sealed = SealedKey {
        format: SEALED_FORMAT.into(),
        m_kib,
        t,
        p,
        salt: hex::encode(salt),
        nonce: hex::encode(nonce),
        ciphertext: hex::encode(ciphertext),
    };
    Ok(serde_json::to_string_pretty(&sealed).expect("serializes"))
}

fn seal(key: &SigningKey, passphrase: &str) -> Result<String, ProvisionError> {
    seal_bytes(key.to_bytes().as_slice(), passphrase)
}

/// Opens a secret sealed by [`seal_bytes`]; `file` names it in errors.
pub(crate) fn unseal_bytes(text: &str, passphrase: &str, file: &str) -> Result<Vec<u8>, ProvisionError> {
    use chacha20poly1305::aead::{Aead, KeyInit};
    let bad = |what: &str| ProvisionError::Invalid(format!("{file} is damaged: {what}"));
    let sealed: SealedKey = serde_json::from_str(text).map_err(|e| bad(&e.to_string()))?;
    if sealed.format != SEALED_FORMAT {
        return Err(bad(&format!("unknown format '{}'", sealed.format)));
    }
    let salt = hex::decode(&sealed.salt).map_err(|_| bad("salt"))?;
    let nonce: [u8; 12] =
        hex::decode(&sealed.nonce).ok().and_then(|n| n.try_into().ok()).ok_or_else(|| bad("nonce"))?;
    let ciphertext = hex::decode(&sealed.ciphertext).map_err(|_| bad("ciphertext"))?;
    let k = derive(passphrase, &salt, sealed.m_kib, sealed.t, sealed.p)?;
    let cipher = chacha20poly1305::ChaCha20Poly1305::new(&k.into());
    cipher
        .decrypt(&nonce.into(), ciphertext.as_slice())
        .map_err(|_| ProvisionError::Invalid(format!("wrong passphrase for {file} (or the file was altered)")))
}

fn unseal(text: &str, passphrase: &str) -> Result<[u8; 32], ProvisionError> {
    unseal_bytes(text, passphrase, PROVINCE_KEY_FILE)?
        .try_into()
        .map_err(|_| ProvisionError::Invalid(format!("{PROVINCE_KEY_FILE} is damaged: the sealed key is not 32 bytes")))
}

/// The passphrase of the sealed key at `key_path`, from
/// `MOTCUA_PROVINCE_PASSPHRASE`.
pub(crate) fn passphrase(key_path: &Path) -> Result<String, ProvisionError> {
    std::env::var(PASSPHRASE_ENV).map_err(|_| {
        ProvisionError::Invalid(format!("{} is encrypted: set {PASSPHRASE_ENV} to its passphrase", key_path.display()))
    })
}

/// Creates a province: its root key (`province.key`, mode 0600; sealed
/// with `passphrase` when one is given), its public record
/// (`province.json`) and its LAN certificate authority
/// (`province-ca.key`, protected like the root key, and
/// `province-ca.crt`; see [`lan`]).
pub fn init_province(
    dir: &Path,
    code: &str,
    name: &str,
    passphrase: Option<&str>,
) -> Result<ProvinceRecord, ProvisionError> {
    if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ProvisionError::Invalid(format!("province code '{code}' is not two digits")));
    }
    if name.trim().is_empty() {
        return Err(ProvisionError::Invalid("the province needs a name".into()));
    }
    if let Some(p) = passphrase
        && p.chars().count() < PASSPHRASE_MIN_CHARS
    {
        return Err(ProvisionError::Invalid(format!(
            "the passphrase needs at least {PASSPHRASE_MIN_CHARS} characters"
        )));
    }
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let key_path = dir.join(PROVINCE_KEY_FILE);
    if key_path.exists() {
        return Err(ProvisionError::Exists(key_path.display().to_string()));
    }
    let key = SigningKey::generate(&mut rand::rng());
    let text = match passphrase {
        Some(p) => seal(&key, p)?,
        None => hex::encode(key.to_bytes()),
    };
    write_private(&key_path, text.as_bytes())?;
    let record = ProvinceRecord {
        code: code.into(),
        name: name.trim().into(),
        public_key: hex::encode(key.verifying_key().to_bytes()),
        daily_dossiers_per_node: None,
    };
    write_json(&dir.join(PROVINCE_FILE), &record)?;
    lan::create_ca(dir, &record, passphrase, motcua_desk::now_ms())?;
    Ok(record)
}

/// Sets the province's daily allowance of new or transferred dossiers per
/// node in its record; bundles enrolled afterwards carry it.
pub fn set_daily_dossiers_per_node(dir: &Path, n: u32) -> Result<ProvinceRecord, ProvisionError> {
    let mut record: ProvinceRecord = read_json(&dir.join(PROVINCE_FILE))?;
    record.daily_dossiers_per_node = Some(n);
    write_json(&dir.join(PROVINCE_FILE), &record)?;
    Ok(record)
}

/// Loads a province's record and root key; an encrypted key is opened with
/// the passphrase in `MOTCUA_PROVINCE_PASSPHRASE`.
pub fn load_province(dir: &Path) -> Result<(ProvinceRecord, SigningKey), ProvisionError> {
    let record: ProvinceRecord = read_json(&dir.join(PROVINCE_FILE))?;
    let key_path = dir.join(PROVINCE_KEY_FILE);
    let text = std::fs::read_to_string(&key_path).map_err(|e| io(&key_path, e))?;
    let bytes: [u8; 32] = if text.trim_start().starts_with('{') {
        unseal(&text, &passphrase(&key_path)?)?
    } else {
        hex::decode(text.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| ProvisionError::Invalid(format!("{} does not hold a key", key_path.display())))?
    };
    let key = SigningKey::from_bytes(&bytes);
    if hex::encode(key.verifying_key().to_bytes()) != record.public_key {
        return Err(ProvisionError::Invalid("province.key does not belong to province.json".into()));
    }
    Ok((record, key))
}

/// What a technician enrolls.
#[derive(Debug, Clone)]
pub struct Enrollment {
    pub role: NodeRole,
    pub unit: String,
    pub name: String,
    pub agency_id: String,
    pub valid_days: u32,
    /// `NODE_ID@HOST:PORT` of the provincial node, for communes and agencies.
    pub province_node: Option<String>,
    /// The node's public key (64 hex digits) when its secret key was made
    /// on the target machine (`motcua id`) and must never travel; the bundle
    /// then holds no `node.key`.
    pub node_id: Option<String>,
    /// The unit's node is enrolled again after losing its data: it gets its
    /// dossiers back from the province, and its first day's codes start in
    /// the middle of its range (see `NodeConfig::restore`).
    pub restore: bool,
    /// Host names or IP addresses officers reach the node by: the bundle
    /// then holds a TLS certificate for them (`tls.crt`, `tls.key`) from
    /// the province's LAN CA, for `motcua serve --https`.
    pub lan_names: Vec<String>,
    pub now_ms: i64,
}

/// Writes a node bundle to `out`: the node key, its certificate signed by
/// the province root, the province record and the node's configuration,
/// the province's LAN CA certificate when it has one, and a TLS
/// certificate for `lan_names` when any are given (which needs the LAN
/// CA). `motcua serve --data OUT` runs it. Every check comes before the
/// first file is written.
pub fn enroll(province_dir: &Path, e: &Enrollment, out: &Path) -> Result<SignedCertificate, ProvisionError> {
    let (province, root) = load_province(province_dir)?;
    if !is_unit_code(&e.unit) {
        return Err(ProvisionError::Invalid(format!("unit '{}' is not a unit code", e.unit)));
    }
    if !is_agency_id(&e.agency_id) {
        return Err(ProvisionError::Invalid(format!("agency identifier '{}' is not like 000.00.00.H56", e.agency_id)));
    }
    if e.name.trim().is_empty() {
        return Err(ProvisionError::Invalid("the unit needs a name".into()));
    }
    let tls = if e.lan_names.is_empty() {
        None
    } else {
        let names = lan::parse_lan_names(&e.lan_names)?;
        let ca = lan::load_ca(province_dir, &province)?;
        let cert = lan::issue_server_cert(&ca, &names, None, e.now_ms)?;
        Some((ca, cert))
    };
    let ca_cert = match &tls {
        Some((ca, _)) => Some(ca.cert_pem().to_string()),
        None => {
            let path = province_dir.join(lan::LAN_CA_CERT_FILE);
            path.exists().then(|| std::fs::read_to_string(&path).map_err(|err| io(&path, err))).transpose()?
        }
    };
    if out.exists() && std::fs::read_dir(out).map_err(|err| io(out, err))?.next().is_some() {
        return Err(ProvisionError::Exists(out.display().to_string()));
    }
    // A bundle becomes a node's data directory: its owner's alone.
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(out).map_err(|err| io(out, err))?;
    let (secret, public) = match &e.node_id {
        Some(id) => {
            let bytes: [u8; 32] = hex::decode(id)
                .ok()
                .and_then(|b| b.try_into().ok())
                .filter(|b| ed25519_dalek::VerifyingKey::from_bytes(b).is_ok())
                .ok_or_else(|| {
                    ProvisionError::Invalid(format!("node id '{id}' is not an ed25519 public key in hex"))
                })?;
            (None, bytes)
        }
        None => {
            let key = SigningKey::generate(&mut rand::rng());
            let public = key.verifying_key().to_bytes();
            (Some(key), public)
        }
    };
    let (not_before_ms, not_after_ms) = validity(e.now_ms, e.valid_days);
    let certificate = Certificate {
        version: CERTIFICATE_VERSION,
        serial: new_serial(),
        province_code: province.code.clone(),
        node_key: hex::encode(public),
        unit: e.unit.clone(),
        unit_name: e.name.trim().into(),
        agency_id: e.agency_id.clone(),
        role: e.role,
        not_before_ms,
        not_after_ms,
        previous_key: None,
    };
    let signed = SignedCertificate::sign(certificate, &root);
    if let Some(key) = secret {
        write_private(&out.join(motcua_desk::identity::KEY_FILE), hex::encode(key.to_bytes()).as_bytes())?;
    }
    write_json(&out.join(CERTIFICATE_FILE), &signed)?;
    write_json(&out.join(PROVINCE_FILE), &province)?;
    match &tls {
        Some((ca, cert)) => lan::write_server_cert(out, ca, cert)?,
        None => {
            if let Some(pem) = &ca_cert {
                write_durably(&out.join(lan::LAN_CA_CERT_FILE), pem.as_bytes())?;
            }
        }
    }
    let config = NodeConfig {
        format: CONFIG_FORMAT,
        role: e.role,
        unit: e.unit.clone(),
        unit_name: e.name.trim().into(),
        agency_id: e.agency_id.clone(),
        province_code: province.code.clone(),
        demo: false,
        supplement_mode: motcua_domain::dossier::SupplementMode::DEFAULT,
        sequence_first: 1,
        sequence_last: motcua_desk::config::SEQUENCE_MAX,
        peers: e.province_node.iter().cloned().collect(),
        restore: e.restore,
    };
    config.save(out).map_err(|err| ProvisionError::Io(err.to_string()))?;
    Ok(signed)
}

/// Reads a bundle's certificate and checks that this province signed it
/// and has not revoked it (it may have expired: that is what renewal is for).
fn bundle_certificate(
    province: &ProvinceRecord,
    root: &SigningKey,
    province_dir: &Path,
    bundle: &Path,
) -> Result<Certificate, ProvisionError> {
    let signed: SignedCertificate = read_json(&bundle.join(CERTIFICATE_FILE))?;
    let c = signed
        .verify_issued(&root.verifying_key(), &province.code)
        .map_err(|e| ProvisionError::Invalid(format!("{}: {e}", bundle.join(CERTIFICATE_FILE).display())))?
        .clone();
    if revocation_list(province_dir)?.is_revoked(&c.serial) {
        return Err(ProvisionError::Invalid(format!("certificate {} was revoked; enroll the unit anew", c.serial)));
    }
    Ok(c)
}

/// Replaces a bundle's certificate with `next`, keeping the old one beside
/// it as `certificate-SERIAL.json`; the replacement is atomic.
fn replace_certificate(bundle: &Path, old: &Certificate, next: &SignedCertificate) -> Result<(), ProvisionError> {
    let current = bundle.join(CERTIFICATE_FILE);
    let kept = bundle.join(format!("certificate-{}.json", old.serial));
    std::fs::copy(&current, &kept).map_err(|e| io(&kept, e))?;
    write_json(&current, next)
}

/// A random certificate serial, 32 hex digits.
fn new_serial() -> String {
    hex::encode(rand::rng().random::<[u8; 16]>())
}

/// A validity window from a day ago (clocks of field PCs drift) to
/// `valid_days` from now.
fn validity(now_ms: i64, valid_days: u32) -> (i64, i64) {
    (now_ms - 24 * 3_600_000, now_ms + valid_days as i64 * 86_400_000)
}

fn reissue(old: &Certificate, node_key: String, valid_days: u32, now_ms: i64, previous: Option<String>) -> Certificate {
    let (not_before_ms, not_after_ms) = validity(now_ms, valid_days);
    Certificate { serial: new_serial(), node_key, not_before_ms, not_after_ms, previous_key: previous, ..old.clone() }
}

/// Renews a bundle's certificate: same key, unit and role, a new serial and
/// validity window. The node picks it up on its next start.
pub fn renew(
    province_dir: &Path,
    bundle: &Path,
    valid_days: u32,
    now_ms: i64,
) -> Result<SignedCertificate, ProvisionError> {
    let (province, root) = load_province(province_dir)?;
    let old = bundle_certificate(&province, &root, province_dir, bundle)?;
    let next = SignedCertificate::sign(reissue(&old, old.node_key.clone(), valid_days, now_ms, None), &root);
    replace_certificate(bundle, &old, &next)?;
    Ok(next)
}

/// Rotates the key of a (stopped) node's bundle: a new node key replaces
/// the old one, and a certificate for the same unit and role names the old
/// key as the one it succeeds. What the old key signed stays verifiable;
/// revoke its serial too if the old key may have leaked.
pub fn rotate(
    province_dir: &Path,
    bundle: &Path,
    valid_days: u32,
    now_ms: i64,
) -> Result<SignedCertificate, ProvisionError> {
    let (province, root) = load_province(province_dir)?;
    let old = bundle_certificate(&province, &root, province_dir, bundle)?;
    let key_path = bundle.join(motcua_desk::identity::KEY_FILE);
    if !key_path.exists() {
        return Err(ProvisionError::Invalid(format!(
            "{} holds no node key; rotate on the machine that holds it",
            bundle.display()
        )));
    }
    let tmp = bundle.join("node.key.new");
    // A rotation cut short after the certificate was replaced: the new key
    // waiting beside it is the one the certificate names. Finish it (a
    // new key would strand the certificate in place).
    if let Some(waiting) = std::fs::read_to_string(&tmp).ok().and_then(|t| hex::decode(t.trim()).ok())
        && let Ok(bytes) = <[u8; 32]>::try_from(waiting.as_slice())
        && hex::encode(SigningKey::from_bytes(&bytes).verifying_key().to_bytes()) == old.node_key
    {
        std::fs::rename(&tmp, &key_path).map_err(|e| io(&key_path, e))?;
        sync_parent(&key_path)?;
        return std::fs::read_to_string(bundle.join(CERTIFICATE_FILE))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .ok_or_else(|| ProvisionError::Invalid("the rotated certificate is unreadable".into()));
    }
    let key = SigningKey::generate(&mut rand::rng());
    let public = hex::encode(key.verifying_key().to_bytes());
    let next = SignedCertificate::sign(reissue(&old, public, valid_days, now_ms, Some(old.node_key.clone())), &root);
    // A key left by a rotation cut short before its certificate was
    // replaced names nothing: it goes.
    std::fs::remove_file(&tmp).ok();
    write_private(&tmp, hex::encode(key.to_bytes()).as_bytes())?;
    replace_certificate(bundle, &old, &next)?;
    std::fs::rename(&tmp, &key_path).map_err(|e| io(&key_path, e))?;
    sync_parent(&key_path)?;
    Ok(next)
}

/// Signs a province catalog (checked row by row first) as a province-wide
/// document with a sequence number; nodes of the province accept it only
/// if it is newer than the catalog they hold.
pub fn publish_catalog(
    province_dir: &Path,
    file: &Path,
    sequence: u64,
    label: &str,
    now_ms: i64,
) -> Result<SignedProvinceDocument, ProvisionError> {
    let (province, root) = load_province(province_dir)?;
    let catalog = check_catalog(file, label).map_err(|e| match e {
        ImportError::Rows(rows) => ProvisionError::Invalid(format!(
            "{}: {} error(s), first at row {}: {}",
            file.display(),
            rows.len(),
            rows[0].row,
            rows[0].message
        )),
        other => ProvisionError::Invalid(other.to_string()),
    })?;
    let body = serde_json::to_string(&catalog).expect("catalog serializes");
    Ok(sign_document(&province, &root, DocumentKind::Catalog, sequence, label, now_ms, body))
}

/// Signs a holiday and make-up-day calendar (JSON, as `calendar-vn.json`)
/// as a province-wide document.
pub fn publish_calendar(
    province_dir: &Path,
    file: &Path,
    sequence: u64,
    label: &str,
    now_ms: i64,
) -> Result<SignedProvinceDocument, ProvisionError> {
    let (province, root) = load_province(province_dir)?;
    let text = std::fs::read_to_string(file).map_err(|e| io(file, e))?;
    motcua_domain::calendar::WorkingCalendar::from_json(&text)
        .map_err(|e| ProvisionError::Invalid(format!("{}: {e}", file.display())))?;
    Ok(sign_document(&province, &root, DocumentKind::Calendar, sequence, label, now_ms, text))
}

pub const REVOCATIONS_FILE: &str = "revocations.json";

/// Revokes a node certificate by serial: adds it to the province's list
/// (kept in the province directory) and signs the whole list, its sequence
/// being the number of revocations so far.
pub fn revoke(
    province_dir: &Path,
    serial: &str,
    node_key: Option<&str>,
    reason: &str,
    now_ms: i64,
) -> Result<SignedProvinceDocument, ProvisionError> {
    if let Some(k) = node_key
        && (k.len() != 64 || !k.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Err(ProvisionError::Invalid(format!("node id '{k}' is not 64 hex digits")));
    }
    let (province, root) = load_province(province_dir)?;
    if serial.len() != 32 || !serial.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ProvisionError::Invalid(format!("serial '{serial}' is not 32 hex digits")));
    }
    let mut list = revocation_list(province_dir)?;
    if list.is_revoked(serial) {
        return Err(ProvisionError::Exists(format!("revocation of {serial}")));
    }
    list.revoked.push(Revocation {
        serial: serial.to_ascii_lowercase(),
        reason: reason.into(),
        at_ms: now_ms,
        node_key: node_key.map(str::to_ascii_lowercase),
    });
    write_json(&province_dir.join(REVOCATIONS_FILE), &list)?;
    let sequence = list.revoked.len() as u64;
    let body = serde_json::to_string(&list).expect("serializes");
    Ok(sign_document(
        &province,
        &root,
        DocumentKind::Revocations,
        sequence,
        &format!("revocations-{sequence}"),
        now_ms,
        body,
    ))
}

/// Every revocation the province has signed so far (kept in its directory).
fn revocation_list(province_dir: &Path) -> Result<RevocationList, ProvisionError> {
    let path = province_dir.join(REVOCATIONS_FILE);
    if path.exists() { read_json(&path) } else { Ok(RevocationList::default()) }
}

fn sign_document(
    province: &ProvinceRecord,
    root: &SigningKey,
    kind: DocumentKind,
    sequence: u64,
    label: &str,
    now_ms: i64,
    body: String,
) -> SignedProvinceDocument {
    let document = ProvinceDocument {
        kind,
        province_code: province.code.clone(),
        sequence,
        label: label.into(),
        issued_at_ms: now_ms,
        body,
    };
    SignedProvinceDocument::sign(document, root)
}

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
        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("c.json");
        std::fs::write(&json, serde_json::to_vec(&Catalog::sample()).unwrap()).unwrap();
        assert_eq!(check_catalog(&json, "v").unwrap().procedures.len(), Catalog::sample().procedures.len());
        let csv = dir.path().join("c.csv");
        std::fs::write(&csv, "procedure_code\n1.001193\n").unwrap();
        assert!(matches!(check_catalog(&csv, "v"), Err(ImportError::Rows(_))));
        assert!(matches!(check_catalog(&dir.path().join("missing.csv"), "v"), Err(ImportError::Unreadable(_))));
    }

    #[test]
    fn a_province_signs_bundles_that_verify_and_never_overwrites_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let province = dir.path().join("province");
        let record = init_province(&province, "56", "Tỉnh Thử", None).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(province.join(PROVINCE_KEY_FILE)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(matches!(init_province(&province, "56", "Tỉnh Thử", None), Err(ProvisionError::Exists(_))));
        assert!(matches!(init_province(&dir.path().join("x"), "5", "x", None), Err(ProvisionError::Invalid(_))));
        let e = Enrollment {
            role: NodeRole::Commune,
            unit: "22015".into(),
            name: "Xã Thử".into(),
            agency_id: "000.21.45.H56".into(),
            valid_days: 30,
            province_node: None,
            node_id: None,
            restore: false,
            lan_names: vec![],
            now_ms: 1_763_344_800_000,
        };
        let out = dir.path().join("bundle");
        let signed = enroll(&province, &e, &out).unwrap();
        let c = signed.verify(&record.verifying_key().unwrap(), "56", e.now_ms).unwrap();
        assert_eq!(c.unit, "22015");
        assert!(out.join("node.key").exists() && out.join("node.json").exists());
        assert!(matches!(enroll(&province, &e, &out), Err(ProvisionError::Exists(_))), "a bundle is never overwritten");
        let bad = Enrollment { unit: "xã 1".into(), ..e };
        assert!(matches!(enroll(&province, &bad, &dir.path().join("b2")), Err(ProvisionError::Invalid(_))));
    }
}
