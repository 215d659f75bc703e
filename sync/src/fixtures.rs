//! Test fixtures shared by this crate's tests and the simulator: node
//! certificates of a synthetic province 56.

use ed25519_dalek::SigningKey;

use crate::cert::{CERTIFICATE_VERSION, Certificate, NodeRole, SignedCertificate};

/// A certificate of province 56 signed by `root` for `node`.
pub fn certificate(
    root: &SigningKey,
    node: &SigningKey,
    unit: &str,
    agency_id: &str,
    role: NodeRole,
    serial: u8,
    not_after_ms: i64,
) -> SignedCertificate {
    SignedCertificate::sign(
        Certificate {
            version: CERTIFICATE_VERSION,
            serial: format!("{serial:032x}"),
            province_code: "56".into(),
            node_key: hex::encode(node.verifying_key().to_bytes()),
            unit: unit.into(),
            unit_name: "Đơn vị thử".into(),
            agency_id: agency_id.into(),
            role,
            not_before_ms: 0,
            not_after_ms,
            previous_key: None,
        },
        root,
    )
}
