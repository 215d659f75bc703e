//! The export file: a node's dossiers with the signatures and certificates
//! that let another node of the province verify them (`motcua export`,
//! read by `motcua-provision merge` and `inspect`).
//!
//! Layout: 16-byte magic, format (u32 little-endian), BLAKE3 of the body
//! (32 bytes), then the body in postcard. A truncated, edited or foreign
//! file is refused before anything in it is looked at.

use serde::{Deserialize, Serialize};

use crate::cert::SignedCertificate;

pub const MAGIC: &[u8; 16] = b"motcua-export\0\0\0";
pub const FORMAT: u32 = 1;
const HEADER: usize = 16 + 4 + 32;
/// Bound on an export file read into memory (about 1.5 million dossiers).
pub const EXPORT_BYTES_MAX: u64 = 4 << 30;
/// Bound on one dossier document inside an export.
pub const DOCUMENT_BYTES_MAX: usize = 4 << 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Export {
    pub province_code: String,
    /// The exporting node's unit, key and when it exported.
    pub unit: String,
    pub node_key: String,
    pub exported_at_ms: i64,
    /// Certificates of the nodes whose changes the dossiers hold, as far as
    /// the exporting node knows them.
    pub certificates: Vec<SignedCertificate>,
    pub dossiers: Vec<ExportedDossier>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportedDossier {
    /// The whole Automerge document (`save()`).
    pub document: Vec<u8>,
    /// (change hash, 96-byte attestation) for each actor's latest change.
    pub attestations: Vec<([u8; 32], Vec<u8>)>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ExportError {
    #[error("not a motcua export file")]
    NotAnExport,
    #[error("export format {0}; this version reads format {FORMAT}")]
    Format(u32),
    #[error("the export file is damaged: its checksum does not match (truncated or edited)")]
    Checksum,
    #[error("the export file is malformed: {0}")]
    Malformed(String),
    #[error("a dossier document of {0} bytes exceeds the bound of {DOCUMENT_BYTES_MAX}")]
    DocumentTooLarge(usize),
}

impl Export {
    pub fn encode(&self) -> Vec<u8> {
        let body = postcard::to_allocvec(self).expect("in-memory serialization");
        let mut out = Vec::with_capacity(HEADER + body.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT.to_le_bytes());
        out.extend_from_slice(blake3::hash(&body).as_bytes());
        out.extend_from_slice(&body);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Export, ExportError> {
        if bytes.len() < HEADER || &bytes[..16] != MAGIC {
            return Err(ExportError::NotAnExport);
        }
        let format = u32::from_le_bytes(bytes[16..20].try_into().expect("4 bytes"));
        if format != FORMAT {
            return Err(ExportError::Format(format));
        }
        let body = &bytes[HEADER..];
        if blake3::hash(body).as_bytes() != &bytes[20..52] {
            return Err(ExportError::Checksum);
        }
        let export: Export = postcard::from_bytes(body).map_err(|e| ExportError::Malformed(e.to_string()))?;
        if let Some(d) = export.dossiers.iter().find(|d| d.document.len() > DOCUMENT_BYTES_MAX) {
            return Err(ExportError::DocumentTooLarge(d.document.len()));
        }
        Ok(export)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exports_round_trip_and_damage_is_caught() {
        let e = Export {
            province_code: "56".into(),
            unit: "26734".into(),
            node_key: "00".repeat(32),
            exported_at_ms: 1,
            certificates: vec![],
            dossiers: vec![ExportedDossier { document: vec![1, 2, 3], attestations: vec![([7; 32], vec![0; 96])] }],
        };
        let bytes = e.encode();
        assert_eq!(Export::decode(&bytes), Ok(e));
        assert_eq!(Export::decode(&bytes[..bytes.len() - 1]), Err(ExportError::Checksum));
        let mut edited = bytes.clone();
        *edited.last_mut().unwrap() ^= 1;
        assert_eq!(Export::decode(&edited), Err(ExportError::Checksum));
        assert_eq!(Export::decode(b"{\"json\": true}"), Err(ExportError::NotAnExport));
        let mut future = bytes.clone();
        future[16] = 9;
        assert_eq!(Export::decode(&future), Err(ExportError::Format(9)));
        let mut garbage = bytes[..HEADER].to_vec();
        garbage.extend_from_slice(&[0xff; 8]);
        let hash = blake3::hash(&garbage[HEADER..]);
        garbage[20..52].copy_from_slice(hash.as_bytes());
        assert!(matches!(Export::decode(&garbage), Err(ExportError::Malformed(_))));
    }
}
