//! The province's LAN certificate authority and the TLS certificates it
//! issues to nodes, so that officers' browsers on a center's Wi-Fi reach
//! their node over HTTPS with no certificate warning once the desk PCs
//! trust `province-ca.crt`.
//!
//! The LAN CA is separate from the province root (ed25519, which signs node
//! certificates and province documents): browsers need X.509, and a key
//! installed as a trusted root on every desk PC should be able to sign
//! nothing but LAN server certificates. It is an ECDSA P-256 key, kept
//! beside the root key with the same protection (owner-only, sealed with
//! the root key's passphrase when that one is).

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use motcua_sync::cert::ProvinceRecord;
use rand::RngExt;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType, SerialNumber,
};

use crate::{ProvisionError, io, write_private};

/// The LAN CA's private key (PKCS#8 PEM, or sealed like the root key).
pub const LAN_CA_KEY_FILE: &str = "province-ca.key";
/// The LAN CA's certificate, installed as a trusted root on desk PCs; every
/// bundle carries a copy.
pub const LAN_CA_CERT_FILE: &str = motcua_desk::config::PROVINCE_CA_FILE;
/// The LAN CA is valid this long; server certificates it issues must end
/// before it does.
pub const LAN_CA_VALID_DAYS: i64 = 10 * 365;
/// A server certificate's whole validity window. Browsers refuse longer
/// ones than 398 days (the CA/Browser Forum limit Apple and Chrome apply).
pub const TLS_VALID_DAYS: i64 = 397;

const DAY_MS: i64 = 86_400_000;

/// A name officers type to reach a node: a DNS host name or an IP address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LanName {
    Dns(String),
    Ip(IpAddr),
}

impl std::fmt::Display for LanName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LanName::Dns(n) => f.write_str(n),
            LanName::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// Parses a `--lan-name`: an IP address a browser can reach, or a host name
/// of letters, digits and hyphens (RFC 1123), lower-cased. Wildcards,
/// trailing dots and names whose last label is all digits (a mistyped
/// address) are refused.
pub fn parse_lan_name(s: &str) -> Result<LanName, ProvisionError> {
    let bad =
        |why: &str| ProvisionError::Invalid(format!("--lan-name '{s}' is not a host name or an IP address: {why}"));
    if let Ok(ip) = s.parse::<IpAddr>() {
        if ip.is_unspecified() || ip.is_multicast() {
            return Err(bad("no browser can reach it"));
        }
        return Ok(LanName::Ip(ip));
    }
    if s.is_empty() || s.len() > 253 {
        return Err(bad("a host name has 1 to 253 characters"));
    }
    let name = s.to_ascii_lowercase();
    for label in name.split('.') {
        let ok_chars = label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if label.is_empty() || label.len() > 63 || !ok_chars || label.starts_with('-') || label.ends_with('-') {
            return Err(bad("each dot-separated part has 1 to 63 letters, digits or inner hyphens"));
        }
    }
    if name.rsplit('.').next().is_some_and(|last| last.bytes().all(|b| b.is_ascii_digit())) {
        return Err(bad("it looks like a mistyped IP address"));
    }
    Ok(LanName::Dns(name))
}

/// Parses every `--lan-name`, dropping repeats; at least one is needed.
pub fn parse_lan_names(names: &[String]) -> Result<Vec<LanName>, ProvisionError> {
    let mut out: Vec<LanName> = Vec::new();
    for n in names {
        let parsed = parse_lan_name(n)?;
        if !out.contains(&parsed) {
            out.push(parsed);
        }
    }
    if out.is_empty() {
        return Err(ProvisionError::Invalid("a TLS certificate needs at least one --lan-name".into()));
    }
    Ok(out)
}

/// The LAN CA's subject and constraints, rebuilt the same from the
/// province record every time: a server certificate names its issuer by
/// this subject. It may sign server certificates only (path length 0).
fn ca_params(province: &ProvinceRecord) -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    // A common name has at most 64 characters (RFC 5280, ub-common-name).
    let cn: String = format!("motcua LAN CA {} {}", province.code, province.name).chars().take(64).collect();
    dn.push(DnType::CommonName, cn);
    dn.push(DnType::OrganizationName, "motcua");
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    p
}

/// A random positive serial of 16 bytes, its first byte neither zero nor
/// with the sign bit set (a minimal, positive DER integer).
fn serial() -> SerialNumber {
    let mut bytes: [u8; 16] = rand::rng().random();
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    SerialNumber::from_slice(&bytes)
}

/// Sets a validity window of `days` from midnight UTC of the day before
/// `now_ms` (clocks of field PCs drift); returns its end in ms.
fn set_validity(p: &mut CertificateParams, now_ms: i64, days: i64) -> i64 {
    use chrono::Datelike;
    let start = (now_ms - DAY_MS) - (now_ms - DAY_MS).rem_euclid(DAY_MS);
    let end = start + days * DAY_MS;
    let date = |ms: i64| {
        let d = chrono::DateTime::from_timestamp_millis(ms).expect("a date within years of now").date_naive();
        rcgen::date_time_ymd(d.year(), d.month() as u8, d.day() as u8)
    };
    p.not_before = date(start);
    p.not_after = date(end);
    end
}

fn rcgen_error(what: &str) -> impl Fn(rcgen::Error) -> ProvisionError + '_ {
    move |e| ProvisionError::Invalid(format!("{what}: {e}"))
}

/// Creates the province's LAN CA in `dir`: `province-ca.key` (mode 0600,
/// sealed with `passphrase` when one is given) and `province-ca.crt`.
/// Refuses to replace an existing key.
pub fn create_ca(
    dir: &Path,
    province: &ProvinceRecord,
    passphrase: Option<&str>,
    now_ms: i64,
) -> Result<(), ProvisionError> {
    let key_path = dir.join(LAN_CA_KEY_FILE);
    if key_path.exists() {
        return Err(ProvisionError::Exists(key_path.display().to_string()));
    }
    let key = KeyPair::generate().map_err(rcgen_error("cannot make the LAN CA key"))?;
    let mut params = ca_params(province);
    params.serial_number = Some(serial());
    set_validity(&mut params, now_ms, LAN_CA_VALID_DAYS);
    let cert = params.self_signed(&key).map_err(rcgen_error("cannot make the LAN CA certificate"))?;
    let text = match passphrase {
        Some(p) => crate::seal_bytes(key.serialized_der(), p)?,
        None => key.serialize_pem(),
    };
    write_private(&key_path, text.as_bytes())?;
    crate::write_durably(&dir.join(LAN_CA_CERT_FILE), cert.pem().as_bytes())
}

/// Creates the LAN CA of a province made before init-province made one,
/// sealed with the root key's passphrase when the root key is sealed.
pub fn init_ca(province_dir: &Path, now_ms: i64) -> Result<(), ProvisionError> {
    let (record, _) = crate::load_province(province_dir)?;
    let key_path = province_dir.join(crate::PROVINCE_KEY_FILE);
    let sealed = std::fs::read_to_string(&key_path).map_err(|e| io(&key_path, e))?.trim_start().starts_with('{');
    let passphrase = if sealed { Some(crate::passphrase(&key_path)?) } else { None };
    create_ca(province_dir, &record, passphrase.as_deref(), now_ms)
}

/// A province's LAN CA, opened for issuing.
pub struct LanCa {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
    cert_der: rustls::pki_types::CertificateDer<'static>,
}

impl LanCa {
    /// The CA certificate, PEM, as desk PCs install it.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }
}

/// Whether `province_dir` holds a LAN CA.
pub fn has_ca(province_dir: &Path) -> bool {
    province_dir.join(LAN_CA_CERT_FILE).exists() || province_dir.join(LAN_CA_KEY_FILE).exists()
}

/// Opens the province's LAN CA; a sealed key is opened with the passphrase
/// in `MOTCUA_PROVINCE_PASSPHRASE`. A province made before LAN CAs existed
/// gets a precise error naming the command that creates one.
pub fn load_ca(province_dir: &Path, province: &ProvinceRecord) -> Result<LanCa, ProvisionError> {
    let key_path = province_dir.join(LAN_CA_KEY_FILE);
    let cert_path = province_dir.join(LAN_CA_CERT_FILE);
    if !has_ca(province_dir) {
        return Err(ProvisionError::Invalid(format!(
            "province {} has no LAN certificate authority ({LAN_CA_CERT_FILE}); create it with \
             `motcua-provision init-lan-ca --province {}`",
            province.code,
            province_dir.display()
        )));
    }
    let text = std::fs::read_to_string(&key_path).map_err(|e| io(&key_path, e))?;
    let key = if text.trim_start().starts_with('{') {
        let passphrase = crate::passphrase(&key_path)?;
        let der = crate::unseal_bytes(&text, &passphrase, LAN_CA_KEY_FILE)?;
        KeyPair::try_from(der.as_slice())
    } else {
        KeyPair::from_pem(&text)
    }
    .map_err(|e| ProvisionError::Invalid(format!("{} does not hold a usable key: {e}", key_path.display())))?;
    let cert_pem = std::fs::read_to_string(&cert_path).map_err(|e| io(&cert_path, e))?;
    use rustls::pki_types::pem::PemObject;
    let cert_der = rustls::pki_types::CertificateDer::from_pem_slice(cert_pem.as_bytes())
        .map_err(|e| ProvisionError::Invalid(format!("{} is not a PEM certificate: {e}", cert_path.display())))?;
    Ok(LanCa { issuer: Issuer::new(ca_params(province), key), cert_pem, cert_der })
}

/// A node's TLS certificate and key, PEM.
pub struct ServerCert {
    pub cert_pem: String,
    pub key_pem: String,
    pub not_after_ms: i64,
}

/// Issues a server certificate for `names` (DNS or IP subject alternative
/// names, the first one also its common name), valid [`TLS_VALID_DAYS`],
/// for serverAuth only. `key_pem` reuses a key (a renewal keeps the
/// node's key, so only `tls.crt` changes); otherwise a new P-256 key is
/// made. Before it is returned, the certificate is checked the way a
/// browser's TLS library checks it: chained to the CA certificate, valid
/// now, for every name.
pub fn issue_server_cert(
    ca: &LanCa,
    names: &[LanName],
    key_pem: Option<&str>,
    now_ms: i64,
) -> Result<ServerCert, ProvisionError> {
    let first = names.first().ok_or_else(|| ProvisionError::Invalid("a TLS certificate needs a name".into()))?;
    let key = match key_pem {
        Some(pem) => KeyPair::from_pem(pem)
            .map_err(|e| ProvisionError::Invalid(format!("the bundle's TLS key is not usable: {e}")))?,
        None => KeyPair::generate().map_err(rcgen_error("cannot make a TLS key"))?,
    };
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, first.to_string());
    params.distinguished_name = dn;
    params.subject_alt_names = names
        .iter()
        .map(|n| match n {
            LanName::Ip(ip) => Ok(SanType::IpAddress(*ip)),
            LanName::Dns(d) => d.as_str().try_into().map(SanType::DnsName),
        })
        .collect::<Result<_, _>>()
        .map_err(rcgen_error("a --lan-name"))?;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params.serial_number = Some(serial());
    let not_after_ms = set_validity(&mut params, now_ms, TLS_VALID_DAYS);
    let cert = params.signed_by(&key, &ca.issuer).map_err(rcgen_error("cannot sign the TLS certificate"))?;
    verify_server_cert(&ca.cert_der, cert.der(), names, now_ms)?;
    Ok(ServerCert { cert_pem: cert.pem(), key_pem: key.serialize_pem(), not_after_ms })
}

/// Checks `cert` as a rustls client that trusts only `ca` would, for each
/// of `names`, at `now_ms`.
pub fn verify_server_cert(
    ca: &rustls::pki_types::CertificateDer<'_>,
    cert: &rustls::pki_types::CertificateDer<'_>,
    names: &[LanName],
    now_ms: i64,
) -> Result<(), ProvisionError> {
    use rustls::client::danger::ServerCertVerifier;
    use rustls::pki_types::{ServerName, UnixTime};
    let bad = |e: String| ProvisionError::Invalid(format!("the TLS certificate does not verify: {e}"));
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone().into_owned()).map_err(|e| bad(format!("the LAN CA certificate: {e}")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| bad(e.to_string()))?;
    let now = UnixTime::since_unix_epoch(std::time::Duration::from_millis(now_ms.max(0) as u64));
    for name in names {
        let server = ServerName::try_from(name.to_string()).map_err(|e| bad(format!("{name}: {e}")))?;
        verifier.verify_server_cert(cert, &[], &server, &[], now).map_err(|e| bad(format!("for {name}: {e}")))?;
    }
    Ok(())
}

/// Writes a node's TLS certificate and key into `dir` (a bundle or a
/// stopped node's data directory) with a copy of the CA certificate. The
/// key is owner-only; an existing key is kept and only the certificate
/// replaced, so a cut-short renewal never leaves a key and a certificate
/// that do not match.
pub fn write_server_cert(dir: &Path, ca: &LanCa, cert: &ServerCert) -> Result<(), ProvisionError> {
    let key_path = dir.join(motcua_desk::config::TLS_KEY_FILE);
    let held = std::fs::read_to_string(&key_path).ok();
    if held.as_deref() != Some(cert.key_pem.as_str()) {
        if key_path.exists() {
            return Err(ProvisionError::Invalid(format!(
                "{} holds another key than the certificate's",
                key_path.display()
            )));
        }
        write_private(&key_path, cert.key_pem.as_bytes())?;
    }
    crate::write_durably(&dir.join(LAN_CA_CERT_FILE), ca.cert_pem.as_bytes())?;
    crate::write_durably(&dir.join(motcua_desk::config::TLS_CERT_FILE), cert.cert_pem.as_bytes())
}

/// Issues (or renews, keeping its key) the TLS certificate of a bundle or
/// stopped node's data directory for `names`.
pub fn issue_tls(
    province_dir: &Path,
    bundle: &Path,
    names: &[String],
    now_ms: i64,
) -> Result<ServerCert, ProvisionError> {
    let names = parse_lan_names(names)?;
    let province: ProvinceRecord = crate::read_json(&province_dir.join(crate::PROVINCE_FILE))?;
    let bundle_province: ProvinceRecord = crate::read_json(&bundle.join(crate::PROVINCE_FILE))?;
    if bundle_province.public_key != province.public_key {
        return Err(ProvisionError::Invalid(format!(
            "{} belongs to another province than {}",
            bundle.display(),
            province_dir.display()
        )));
    }
    let ca = load_ca(province_dir, &province)?;
    let key_path = bundle.join(motcua_desk::config::TLS_KEY_FILE);
    let key = match std::fs::read_to_string(&key_path) {
        Ok(k) => Some(k),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io(&key_path, e)),
    };
    let cert = issue_server_cert(&ca, &names, key.as_deref(), now_ms)?;
    write_server_cert(bundle, &ca, &cert)?;
    Ok(cert)
}

/// What a TLS certificate names and until when, read from its DER (the
/// few fields `inspect` shows; the certificate is not trusted for it).
#[derive(Debug, PartialEq, Eq)]
pub struct CertSummary {
    pub names: Vec<String>,
    pub not_after_ms: i64,
}

/// One DER element: its tag, its content and what follows it.
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        first as usize
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |l, &b| (l << 8) | b as usize);
        rest = &rest[n..];
        len
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// A UTCTime (`YYMMDDHHMMSSZ`, years 1950–2049 per RFC 5280) or
/// GeneralizedTime (`YYYYMMDDHHMMSSZ`) in ms.
fn der_time(tag: u8, bytes: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(bytes).ok()?.strip_suffix('Z')?;
    let full = match (tag, text.len()) {
        (0x17, 12) => {
            let yy: u32 = text[..2].parse().ok()?;
            format!("{}{text}", if yy >= 50 { "19" } else { "20" })
        }
        (0x18, 14) => text.to_string(),
        _ => return None,
    };
    let t = chrono::NaiveDateTime::parse_from_str(&full, "%Y%m%d%H%M%S").ok()?;
    Some(t.and_utc().timestamp_millis())
}

/// Reads the subject alternative names and the end of validity of a
/// certificate (PEM).
pub fn summarize_cert(pem: &str) -> Result<CertSummary, ProvisionError> {
    use rustls::pki_types::pem::PemObject;
    let bad = || ProvisionError::Invalid("not a readable X.509 certificate".into());
    let der = rustls::pki_types::CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|_| bad())?;
    let (_, cert, _) = der_element(&der).filter(|e| e.0 == 0x30).ok_or_else(bad)?;
    let (_, tbs, _) = der_element(cert).filter(|e| e.0 == 0x30).ok_or_else(bad)?;
    let mut fields = Vec::new();
    let mut rest = tbs;
    while let Some((tag, content, next)) = der_element(rest) {
        fields.push((tag, content));
        rest = next;
    }
    // version [0] is optional; then serial, signature, issuer, validity.
    let skip = usize::from(fields.first().is_some_and(|f| f.0 == 0xa0));
    let validity = fields.get(skip + 3).filter(|f| f.0 == 0x30).ok_or_else(bad)?.1;
    let (_, _, after_start) = der_element(validity).ok_or_else(bad)?;
    let (tag, end, _) = der_element(after_start).ok_or_else(bad)?;
    let not_after_ms = der_time(tag, end).ok_or_else(bad)?;
    let mut names = Vec::new();
    if let Some((_, extensions)) = fields.iter().find(|f| f.0 == 0xa3) {
        let (_, mut list, _) = der_element(extensions).ok_or_else(bad)?;
        while let Some((_, ext, next)) = der_element(list) {
            list = next;
            let (_, oid, mut value) = der_element(ext).ok_or_else(bad)?;
            if oid != [0x55, 0x1d, 0x11] {
                continue;
            }
            if let Some((0x01, _, after)) = der_element(value) {
                value = after;
            }
            let (_, octets, _) = der_element(value).ok_or_else(bad)?;
            let (_, mut general, _) = der_element(octets).ok_or_else(bad)?;
            while let Some((tag, name, next)) = der_element(general) {
                general = next;
                match (tag, name.len()) {
                    (0x82, _) => names.push(String::from_utf8_lossy(name).into_owned()),
                    (0x87, 4) => names.push(IpAddr::from(<[u8; 4]>::try_from(name).expect("4 bytes")).to_string()),
                    (0x87, 16) => names.push(IpAddr::from(<[u8; 16]>::try_from(name).expect("16 bytes")).to_string()),
                    _ => {}
                }
            }
        }
    }
    Ok(CertSummary { names, not_after_ms })
}

/// For `inspect`: what a bundle's `tls.crt` names, until when, and whether
/// it verifies for those names against the bundle's `province-ca.crt`.
/// `None` for a bundle without one.
pub fn describe_bundle_tls(bundle: &Path, now_ms: i64) -> Option<String> {
    let pem = std::fs::read_to_string(bundle.join(motcua_desk::config::TLS_CERT_FILE)).ok()?;
    let summary = match summarize_cert(&pem) {
        Ok(s) => s,
        Err(e) => return Some(format!("TLS certificate: {e}")),
    };
    let until = chrono::DateTime::from_timestamp_millis(summary.not_after_ms)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default();
    let verdict = (|| {
        use rustls::pki_types::pem::PemObject;
        let ca_path = bundle.join(LAN_CA_CERT_FILE);
        let ca = std::fs::read(&ca_path).map_err(|e| io(&ca_path, e))?;
        let ca = rustls::pki_types::CertificateDer::from_pem_slice(&ca)
            .map_err(|e| ProvisionError::Invalid(format!("{LAN_CA_CERT_FILE}: {e}")))?;
        let leaf = rustls::pki_types::CertificateDer::from_pem_slice(pem.as_bytes())
            .map_err(|e| ProvisionError::Invalid(e.to_string()))?;
        let names = summary.names.iter().map(|n| parse_lan_name(n)).collect::<Result<Vec<_>, _>>()?;
        verify_server_cert(&ca, &leaf, &names, now_ms)
    })();
    Some(format!(
        "TLS certificate for {}, valid until {until}: {}",
        summary.names.join(", "),
        match verdict {
            Ok(()) => format!("verifies against {LAN_CA_CERT_FILE}"),
            Err(e) => format!("does not verify: {e}"),
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    const NOW: i64 = 1_763_344_800_000;

    fn province(code: &str) -> ProvinceRecord {
        ProvinceRecord {
            code: code.into(),
            name: "Tỉnh Thử".into(),
            public_key: "00".repeat(32),
            daily_dossiers_per_node: None,
        }
    }

    fn names(list: &[&str]) -> Vec<LanName> {
        parse_lan_names(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn der(pem: &str) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
    }

    #[test]
    fn lan_names_are_host_names_or_reachable_addresses() {
        assert_eq!(parse_lan_name("192.168.1.10").unwrap(), LanName::Ip("192.168.1.10".parse().unwrap()));
        assert_eq!(parse_lan_name("fe80::1").unwrap(), LanName::Ip("fe80::1".parse().unwrap()));
        assert_eq!(parse_lan_name("MotCua-Xa.lan").unwrap(), LanName::Dns("motcua-xa.lan".into()));
        assert_eq!(parse_lan_name("localhost").unwrap(), LanName::Dns("localhost".into()));
        for bad in [
            "",
            "bad name",
            "*.lan",
            "xa.lan.",
            "-xa",
            "xa-.lan",
            "xa..lan",
            "xã.lan",
            "a_b",
            "192.168.1.300",
            "10.0.0",
            "0.0.0.0",
            "224.0.0.1",
            "[::1]",
            &"a".repeat(64),
        ] {
            let e = parse_lan_name(bad).unwrap_err().to_string();
            assert!(e.contains(&format!("--lan-name '{bad}'")), "{bad:?}: {e}");
        }
        assert_eq!(names(&["localhost", "LOCALHOST", "127.0.0.1"]).len(), 2, "repeats are dropped");
        assert!(parse_lan_names(&[]).is_err());
    }

    #[test]
    fn the_lan_ca_issues_server_certificates_that_verify_for_their_names_only() {
        let dir = tempfile::tempdir().unwrap();
        let p = province("56");
        create_ca(dir.path(), &p, None, NOW).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(LAN_CA_KEY_FILE)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the CA key is the owner's alone");
        assert!(
            matches!(create_ca(dir.path(), &p, None, NOW), Err(ProvisionError::Exists(_))),
            "a CA key is never replaced"
        );
        let ca = load_ca(dir.path(), &p).unwrap();
        assert!(ca.cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        let lan = names(&["motcua-xa.lan", "192.168.1.10", "localhost"]);
        let cert = issue_server_cert(&ca, &lan, None, NOW).unwrap();
        let (ca_der, leaf) = (der(ca.cert_pem()), der(&cert.cert_pem));
        // Every name verifies, now and until just before the end.
        verify_server_cert(&ca_der, &leaf, &lan, NOW).unwrap();
        verify_server_cert(&ca_der, &leaf, &lan, cert.not_after_ms - 1_000).unwrap();
        assert!(cert.not_after_ms - NOW <= TLS_VALID_DAYS * DAY_MS, "within what browsers accept");
        assert!(verify_server_cert(&ca_der, &leaf, &lan, cert.not_after_ms + 1_000).is_err(), "expired");
        // Another name, or another province's CA, does not.
        let e = verify_server_cert(&ca_der, &leaf, &names(&["192.168.1.11"]), NOW).unwrap_err().to_string();
        assert!(e.contains("192.168.1.11"), "{e}");
        assert!(verify_server_cert(&ca_der, &leaf, &names(&["evil.lan"]), NOW).is_err());
        let other = tempfile::tempdir().unwrap();
        create_ca(other.path(), &province("57"), None, NOW).unwrap();
        let other_ca = der(load_ca(other.path(), &province("57")).unwrap().cert_pem());
        assert!(verify_server_cert(&other_ca, &leaf, &lan, NOW).is_err());
        // The server certificate is no CA: what its key signs under its
        // name does not chain through it to the province's CA.
        let mut as_ca = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "motcua-xa.lan");
        as_ca.distinguished_name = dn;
        let leaf_key = KeyPair::from_pem(&cert.key_pem).unwrap();
        let mut forged = CertificateParams::new(vec!["bank.example".to_string()]).unwrap();
        forged.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        set_validity(&mut forged, NOW, 30);
        let forged = forged.signed_by(&KeyPair::generate().unwrap(), &Issuer::new(as_ca, leaf_key)).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca_der.clone()).unwrap();
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .unwrap();
        use rustls::client::danger::ServerCertVerifier;
        let now = rustls::pki_types::UnixTime::since_unix_epoch(std::time::Duration::from_millis(NOW as u64));
        let name = rustls::pki_types::ServerName::try_from("bank.example").unwrap();
        let e = verifier.verify_server_cert(forged.der(), std::slice::from_ref(&leaf), &name, &[], now).unwrap_err();
        assert!(
            format!("{e:?}").contains("CaUsedAsEndEntity") || format!("{e:?}").contains("EndEntityUsedAsCa"),
            "{e:?}"
        );
    }

    #[test]
    fn a_renewal_keeps_the_key_and_a_sealed_ca_key_opens_with_its_passphrase() {
        let dir = tempfile::tempdir().unwrap();
        let p = province("56");
        create_ca(dir.path(), &p, None, NOW).unwrap();
        let ca = load_ca(dir.path(), &p).unwrap();
        let lan = names(&["10.0.0.5"]);
        let first = issue_server_cert(&ca, &lan, None, NOW).unwrap();
        let bundle = tempfile::tempdir().unwrap();
        write_server_cert(bundle.path(), &ca, &first).unwrap();
        let key_path = bundle.path().join(motcua_desk::config::TLS_KEY_FILE);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&key_path).unwrap().permissions().mode() & 0o777, 0o600);
        let later = NOW + 300 * DAY_MS;
        let renewed = issue_server_cert(&ca, &lan, Some(&first.key_pem), later).unwrap();
        assert_eq!(renewed.key_pem, first.key_pem);
        assert!(renewed.not_after_ms > first.not_after_ms);
        write_server_cert(bundle.path(), &ca, &renewed).unwrap();
        assert_eq!(std::fs::read_to_string(&key_path).unwrap(), first.key_pem, "the key stays");
        // A certificate for another key never lands beside the held one.
        let stranger = issue_server_cert(&ca, &lan, None, NOW).unwrap();
        assert!(write_server_cert(bundle.path(), &ca, &stranger).is_err());
        let held = std::fs::read_to_string(bundle.path().join(motcua_desk::config::TLS_CERT_FILE)).unwrap();
        assert_eq!(held, renewed.cert_pem, "tls.crt is unchanged by the refused write");

        let sealed = tempfile::tempdir().unwrap();
        create_ca(sealed.path(), &p, Some("mat-khau-tinh-dai"), NOW).unwrap();
        let text = std::fs::read_to_string(sealed.path().join(LAN_CA_KEY_FILE)).unwrap();
        assert!(text.starts_with('{') && !text.contains("PRIVATE KEY"), "sealed, no PEM in clear");
        let der = crate::unseal_bytes(&text, "mat-khau-tinh-dai", LAN_CA_KEY_FILE).unwrap();
        assert!(KeyPair::try_from(der.as_slice()).is_ok());
        assert!(crate::unseal_bytes(&text, "mat-khau-sai-roi", LAN_CA_KEY_FILE).is_err());
    }

    #[test]
    fn a_certificate_summary_reads_its_names_and_end() {
        let dir = tempfile::tempdir().unwrap();
        create_ca(dir.path(), &province("56"), None, NOW).unwrap();
        let ca = load_ca(dir.path(), &province("56")).unwrap();
        let cert = issue_server_cert(&ca, &names(&["motcua-xa.lan", "192.168.1.10", "fe80::1"]), None, NOW).unwrap();
        let summary = summarize_cert(&cert.cert_pem).unwrap();
        assert_eq!(
            summary,
            CertSummary {
                names: vec!["motcua-xa.lan".into(), "192.168.1.10".into(), "fe80::1".into()],
                not_after_ms: cert.not_after_ms,
            }
        );
        assert_eq!(summarize_cert(ca.cert_pem()).unwrap().names, Vec::<String>::new());
        assert!(summarize_cert("-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n").is_err());
        assert_eq!(der_time(0x17, b"491231235959Z"), Some(2_524_607_999_000));
        assert_eq!(der_time(0x17, b"500101000000Z"), Some(-631_152_000_000));
        assert!(der_time(0x17, b"5001010000Z").is_none());

        let bundle = tempfile::tempdir().unwrap();
        write_server_cert(bundle.path(), &ca, &cert).unwrap();
        let line = describe_bundle_tls(bundle.path(), NOW).unwrap();
        assert!(line.contains("motcua-xa.lan, 192.168.1.10, fe80::1") && line.contains("verifies"), "{line}");
        let late = describe_bundle_tls(bundle.path(), cert.not_after_ms + 1_000).unwrap();
        assert!(late.contains("does not verify"), "{late}");
        assert!(describe_bundle_tls(dir.path(), NOW).is_none(), "no tls.crt");
    }

    #[test]
    fn a_province_without_a_lan_ca_is_told_how_to_make_one() {
        let dir = tempfile::tempdir().unwrap();
        let Err(e) = load_ca(dir.path(), &province("56")) else { panic!("no CA to load") };
        assert!(e.to_string().contains("init-lan-ca"), "{e}");
    }
}
