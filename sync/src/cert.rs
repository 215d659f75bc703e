//! Node certificates: the province root key vouches that a node key serves
//! one unit in one role for a validity window. Nodes check their own
//! certificate on start, and (with sync) every peer's in the handshake.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

/// Domain separation for certificate signatures.
const CONTEXT: &[u8] = b"motcua node certificate v1\0";
pub const CERTIFICATE_VERSION: u32 = 1;

/// What a node is to the province.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum NodeRole {
    /// A commune-level one-stop center (xã, phường, đặc khu).
    Commune,
    /// The provincial node: consolidates, backs up, relays.
    Province,
    /// A specialized agency that processes transferred dossiers.
    Agency,
}

impl NodeRole {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeRole::Commune => "commune",
            NodeRole::Province => "province",
            NodeRole::Agency => "agency",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "commune" => Some(NodeRole::Commune),
            "province" => Some(NodeRole::Province),
            "agency" => Some(NodeRole::Agency),
            _ => None,
        }
    }
}

/// The facts a province root vouches for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certificate {
    pub version: u32,
    /// Random serial, 32 hex digits; revocations name it.
    pub serial: String,
    pub province_code: String,
    /// The node's public key (its node id), 64 hex digits.
    pub node_key: String,
    pub unit: String,
    pub unit_name: String,
    pub agency_id: String,
    pub role: NodeRole,
    pub not_before_ms: i64,
    pub not_after_ms: i64,
    /// After a key rotation: the unit's previous node key, which this
    /// certificate succeeds. Absent otherwise, and then not part of the
    /// signed bytes, so certificates issued before the field existed still
    /// verify.
    #[serde(default)]
    pub previous_key: Option<String>,
}

/// A certificate with the province root's signature (hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedCertificate {
    pub certificate: Certificate,
    pub signature: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CertError {
    #[error("not signed by this province's root key")]
    BadSignature,
    #[error("the certificate's signature is not 128 hex digits")]
    MalformedSignature,
    #[error("the certificate has version {0}; this node reads version {CERTIFICATE_VERSION}")]
    Version(u32),
    #[error("the certificate is not valid before {0} (ms since epoch)")]
    NotYetValid(i64),
    #[error("the certificate expired at {0} (ms since epoch)")]
    Expired(i64),
    #[error("the certificate is for province {found}, not {expected}")]
    OtherProvince { expected: String, found: String },
    #[error("the document is a {found}, not a {expected}")]
    WrongKind { expected: &'static str, found: &'static str },
    #[error("the certificate is for key {found}, not this node's key {expected}")]
    OtherKey { expected: String, found: String },
}

fn message(c: &Certificate) -> Vec<u8> {
    let mut m = CONTEXT.to_vec();
    let fields = (
        c.version,
        &c.serial,
        &c.province_code,
        &c.node_key,
        &c.unit,
        &c.unit_name,
        &c.agency_id,
        c.role,
        c.not_before_ms,
        c.not_after_ms,
    );
    m.extend(postcard::to_allocvec(&fields).expect("in-memory serialization"));
    if let Some(previous) = &c.previous_key {
        m.extend_from_slice(b"previous_key\0");
        m.extend_from_slice(previous.as_bytes());
    }
    m
}

impl SignedCertificate {
    /// Signs a certificate with the province root key.
    pub fn sign(certificate: Certificate, root: &SigningKey) -> Self {
        let signature = hex::encode(root.sign(&message(&certificate)).to_bytes());
        SignedCertificate { certificate, signature }
    }

    /// Checks the signature against the province root, the province code
    /// and the validity window at `now_ms`.
    pub fn verify(&self, root: &VerifyingKey, province_code: &str, now_ms: i64) -> Result<&Certificate, CertError> {
        let c = self.verify_issued(root, province_code)?;
        if now_ms < c.not_before_ms {
            return Err(CertError::NotYetValid(c.not_before_ms));
        }
        if now_ms >= c.not_after_ms {
            return Err(CertError::Expired(c.not_after_ms));
        }
        Ok(c)
    }

    /// Checks that the province root issued this certificate (version,
    /// signature, province), whatever its validity window: an expired
    /// certificate still vouches for what its node recorded while it served.
    pub fn verify_issued(&self, root: &VerifyingKey, province_code: &str) -> Result<&Certificate, CertError> {
        let c = &self.certificate;
        if c.version != CERTIFICATE_VERSION {
            return Err(CertError::Version(c.version));
        }
        let bytes: [u8; 64] =
            hex::decode(&self.signature).ok().and_then(|b| b.try_into().ok()).ok_or(CertError::MalformedSignature)?;
        root.verify_strict(&message(c), &Signature::from_bytes(&bytes)).map_err(|_| CertError::BadSignature)?;
        if c.province_code != province_code {
            return Err(CertError::OtherProvince { expected: province_code.into(), found: c.province_code.clone() });
        }
        Ok(c)
    }

    /// Checks that the certificate names `node_key` (hex).
    pub fn check_key(&self, node_key: &str) -> Result<(), CertError> {
        if self.certificate.node_key.eq_ignore_ascii_case(node_key) {
            Ok(())
        } else {
            Err(CertError::OtherKey { expected: node_key.into(), found: self.certificate.node_key.clone() })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(node: &SigningKey) -> Certificate {
        Certificate {
            version: CERTIFICATE_VERSION,
            serial: "00".repeat(16),
            province_code: "56".into(),
            node_key: hex::encode(node.verifying_key().to_bytes()),
            unit: "22015".into(),
            unit_name: "Xã Thử".into(),
            agency_id: "000.21.45.H56".into(),
            role: NodeRole::Commune,
            not_before_ms: 1_000,
            not_after_ms: 2_000,
            previous_key: None,
        }
    }

    #[test]
    fn certificates_verify_only_unaltered_in_province_and_window() {
        let root = SigningKey::from_bytes(&[1; 32]);
        let other_root = SigningKey::from_bytes(&[2; 32]);
        let node = SigningKey::from_bytes(&[3; 32]);
        let signed = SignedCertificate::sign(cert(&node), &root);
        let vk = root.verifying_key();
        assert!(signed.verify(&vk, "56", 1_500).is_ok());
        assert_eq!(signed.verify(&other_root.verifying_key(), "56", 1_500), Err(CertError::BadSignature));
        assert!(matches!(signed.verify(&vk, "01", 1_500), Err(CertError::OtherProvince { .. })));
        assert_eq!(signed.verify(&vk, "56", 999), Err(CertError::NotYetValid(1_000)));
        assert_eq!(signed.verify(&vk, "56", 2_000), Err(CertError::Expired(2_000)));
        assert!(signed.verify_issued(&vk, "56").is_ok(), "issued, though expired");
        assert_eq!(signed.verify_issued(&other_root.verifying_key(), "56"), Err(CertError::BadSignature));
        let mut tampered = signed.clone();
        tampered.certificate.role = NodeRole::Province;
        assert_eq!(tampered.verify(&vk, "56", 1_500), Err(CertError::BadSignature));
        let mut bad_sig = signed.clone();
        bad_sig.signature = "zz".into();
        assert_eq!(bad_sig.verify(&vk, "56", 1_500), Err(CertError::MalformedSignature));
        assert!(signed.check_key(&hex::encode(node.verifying_key().to_bytes())).is_ok());
        let mut relinked = signed.clone();
        relinked.certificate.previous_key = Some("00".repeat(32));
        assert_eq!(relinked.verify(&vk, "56", 1_500), Err(CertError::BadSignature), "the link is signed");
        let mut rotated = cert(&node);
        rotated.previous_key = Some("11".repeat(32));
        let rotated = SignedCertificate::sign(rotated, &root);
        assert!(rotated.verify(&vk, "56", 1_500).is_ok());
        let bytes = postcard::to_allocvec(&rotated).unwrap();
        assert_eq!(postcard::from_bytes::<SignedCertificate>(&bytes).unwrap(), rotated);
        assert!(signed.check_key(&hex::encode(root.verifying_key().to_bytes())).is_err());
    }
}

/// The public record of a province: what every node of it trusts.
/// Written by `motcua-provision init-province` as `province.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvinceRecord {
    pub code: String,
    pub name: String,
    /// The province root's public key, 64 hex digits.
    pub public_key: String,
    /// How many dossiers one node may create, or transfer to another
    /// unit, in a day as another node counts them; absent: the default
    /// ([`DOSSIERS_PER_NODE_PER_DAY`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_dossiers_per_node: Option<u32>,
}

/// A commune center receives a few hundred dossiers on its busiest day;
/// a node creating or transferring more than this in one day is refused
/// the rest until the next (a stolen node flooding another unit's queues,
/// or the province's disk).
pub const DOSSIERS_PER_NODE_PER_DAY: u32 = 2_000;

impl ProvinceRecord {
    /// The daily limit of dossiers per node the province set.
    pub fn daily_dossiers_per_node(&self) -> u32 {
        self.daily_dossiers_per_node.unwrap_or(DOSSIERS_PER_NODE_PER_DAY)
    }
}

impl ProvinceRecord {
    pub fn verifying_key(&self) -> Option<VerifyingKey> {
        let bytes: [u8; 32] = hex::decode(&self.public_key).ok()?.try_into().ok()?;
        VerifyingKey::from_bytes(&bytes).ok()
    }
}

/// Domain separation for province-wide documents.
const DOCUMENT_CONTEXT: &[u8] = b"motcua province document v1\0";

/// Kinds of province-wide documents a province root publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    /// Danh mục thủ tục hành chính.
    Catalog,
    /// Lịch nghỉ lễ, ngày làm bù.
    Calendar,
    /// The list of revoked node certificates.
    Revocations,
    /// Kế thừa: old units whose dossiers a new unit takes over after an
    /// administrative merger (body: [`Succession`]).
    Succession,
}

impl DocumentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentKind::Catalog => "catalog",
            DocumentKind::Calendar => "calendar",
            DocumentKind::Revocations => "revocations",
            DocumentKind::Succession => "succession",
        }
    }
}

/// A province-wide document: a newer sequence replaces an older one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvinceDocument {
    pub kind: DocumentKind,
    pub province_code: String,
    /// Strictly increasing per kind; a node refuses one not newer than
    /// what it holds (a replayed older catalog).
    pub sequence: u64,
    /// Human label recorded on dossiers, e.g. `H56-2025-11`.
    pub label: String,
    pub issued_at_ms: i64,
    /// The document itself, as JSON text.
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedProvinceDocument {
    pub document: ProvinceDocument,
    pub signature: String,
}

fn document_message(d: &ProvinceDocument) -> Vec<u8> {
    let mut m = DOCUMENT_CONTEXT.to_vec();
    m.extend(postcard::to_allocvec(d).expect("in-memory serialization"));
    m
}

impl SignedProvinceDocument {
    pub fn sign(document: ProvinceDocument, root: &SigningKey) -> Self {
        let signature = hex::encode(root.sign(&document_message(&document)).to_bytes());
        SignedProvinceDocument { document, signature }
    }

    /// Checks the province root's signature, the province and the kind.
    pub fn verify(
        &self,
        root: &VerifyingKey,
        province_code: &str,
        kind: DocumentKind,
    ) -> Result<&ProvinceDocument, CertError> {
        let bytes: [u8; 64] =
            hex::decode(&self.signature).ok().and_then(|b| b.try_into().ok()).ok_or(CertError::MalformedSignature)?;
        root.verify_strict(&document_message(&self.document), &Signature::from_bytes(&bytes))
            .map_err(|_| CertError::BadSignature)?;
        let d = &self.document;
        if d.province_code != province_code {
            return Err(CertError::OtherProvince { expected: province_code.into(), found: d.province_code.clone() });
        }
        if d.kind != kind {
            return Err(CertError::WrongKind { expected: kind.as_str(), found: d.kind.as_str() });
        }
        Ok(d)
    }
}

#[cfg(test)]
mod document_tests {
    use super::*;

    #[test]
    fn province_documents_verify_only_unaltered_and_of_their_kind() {
        let root = SigningKey::from_bytes(&[5; 32]);
        let doc = ProvinceDocument {
            kind: DocumentKind::Catalog,
            province_code: "56".into(),
            sequence: 2,
            label: "H56-2".into(),
            issued_at_ms: 1,
            body: "{}".into(),
        };
        let signed = SignedProvinceDocument::sign(doc, &root);
        let vk = root.verifying_key();
        assert!(signed.verify(&vk, "56", DocumentKind::Catalog).is_ok());
        assert!(matches!(signed.verify(&vk, "56", DocumentKind::Calendar), Err(CertError::WrongKind { .. })));
        assert!(matches!(signed.verify(&vk, "01", DocumentKind::Catalog), Err(CertError::OtherProvince { .. })));
        let mut edited = signed.clone();
        edited.document.sequence = 3;
        assert_eq!(edited.verify(&vk, "56", DocumentKind::Catalog), Err(CertError::BadSignature));
        let other = SigningKey::from_bytes(&[6; 32]).verifying_key();
        assert_eq!(signed.verify(&other, "56", DocumentKind::Catalog), Err(CertError::BadSignature));
    }
}

/// One revoked certificate (a stolen or retired PC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    pub serial: String,
    pub reason: String,
    pub at_ms: i64,
    /// The node key the certificate names, when the province gave it: the
    /// key is then revoked whichever of its certificates a node holds.
    /// Absent in lists signed before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_key: Option<String>,
}

/// The body of a revocations document: every revocation so far, so the
/// newest list is all a node needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RevocationList {
    pub revoked: Vec<Revocation>,
}

impl RevocationList {
    pub fn is_revoked(&self, serial: &str) -> bool {
        self.revoked.iter().any(|r| r.serial.eq_ignore_ascii_case(serial))
    }
}

/// The body of a succession document: after a merger, `to_unit` takes over
/// the dossiers of each of `from_units` (all of them, or those the
/// technician's address mapping sends to it when an old unit was split).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Succession {
    pub from_units: Vec<String>,
    pub to_unit: String,
}
