//! The node's configuration, `node.json` in its data directory: which unit
//! it serves and how. A demo node writes its own on first start; an enrolled
//! node gets it from its bundle.

use std::path::Path;

use crate::error::OpenError;
use motcua_domain::codes::{is_agency_id, is_unit_code};
use motcua_domain::dossier::SupplementMode;
use serde::{Deserialize, Serialize};

pub const CONFIG_FILE: &str = "node.json";
pub const CONFIG_FORMAT: u32 = 1;
/// The node's TLS certificate for HTTPS on the center's LAN (PEM; the server certificate first).
pub const TLS_CERT_FILE: &str = "tls.crt";
/// The node's TLS private key (PEM, owner-only).
pub const TLS_KEY_FILE: &str = "tls.key";
/// The province's LAN CA certificate, as the desk PCs install it.
pub const PROVINCE_CA_FILE: &str = "province-ca.crt";
/// Dossier codes carry a four-digit daily sequence.
pub const SEQUENCE_MAX: u32 = 9_999;
/// Where a restored node's first day of codes starts: the middle of its
/// range (5000 for the usual 1–9999), above any number a one-stop desk
/// issues in half a range's worth of a day.
pub fn restore_sequence_first(first: u32, last: u32) -> u32 {
    first + (last - first) / 2
}

/// The logbook numbers (số thứ tự trong Sổ theo dõi hồ sơ) a node issues in
/// a year, from its daily range `first..=last` scaled by 100: the usual
/// 1–9999 gives 1–999,900, and a second node of the same unit, whose daily
/// range is disjoint from the first's, gets a disjoint yearly range too, so
/// no number is issued twice without coordination *(choice)*. Each of a
/// unit's nodes then keeps its own run of numbers in the unit's book.
pub fn logbook_range(first: u32, last: u32) -> (u32, u32) {
    (first.saturating_sub(1).saturating_mul(100).saturating_add(1), last.saturating_mul(100))
}

fn sequence_last_default() -> u32 {
    SEQUENCE_MAX
}

pub use motcua_sync::cert::NodeRole;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeConfig {
    pub format: u32,
    pub role: NodeRole,
    /// Unit code: 5-digit commune code, province code or agency identifier.
    pub unit: String,
    pub unit_name: String,
    /// Mã định danh of the center, the prefix of its dossier codes.
    pub agency_id: String,
    pub province_code: String,
    pub demo: bool,
    pub supplement_mode: SupplementMode,
    /// First daily sequence number this node issues (a second node of the
    /// same unit gets a disjoint range).
    pub sequence_first: u32,
    /// Last daily sequence number this node issues: codes have four digits,
    /// and a second node's range starts after this one's.
    #[serde(default = "sequence_last_default")]
    pub sequence_last: u32,
    #[serde(default)]
    pub peers: Vec<String>,
    /// Enrolled again after losing its data (`motcua-provision enroll
    /// --restore`). Codes carry their day, so only the day the new store
    /// starts could repeat a code the lost node issued and had not yet
    /// handed to the province; that day's sequence starts in the middle of
    /// the node's range ([`restore_sequence_first`]).
    #[serde(default)]
    pub restore: bool,
}

impl NodeConfig {
    /// The self-provisioned demo commune.
    pub fn demo() -> Self {
        NodeConfig {
            format: CONFIG_FORMAT,
            role: NodeRole::Commune,
            unit: "99001".into(),
            unit_name: "Xã Thử Nghiệm (demo)".into(),
            agency_id: "000.00.01.H99".into(),
            province_code: "99".into(),
            demo: true,
            supplement_mode: SupplementMode::DEFAULT,
            sequence_first: 1,
            sequence_last: SEQUENCE_MAX,
            peers: Vec::new(),
            restore: false,
        }
    }

    pub fn load(dir: &Path) -> Result<Option<Self>, OpenError> {
        let path = dir.join(CONFIG_FILE);
        if !path.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path)
            .map_err(|e| OpenError::new(format!("cannot read {}: {e}", path.display())))?;
        let config: NodeConfig = serde_json::from_str(&text)
            .map_err(|e| OpenError::new(format!("{} is not a node configuration: {e}", path.display())))?;
        config.check().map_err(|e| OpenError::new(format!("{}: {e}", path.display())))?;
        Ok(Some(config))
    }

    pub fn check(&self) -> Result<(), String> {
        if self.format != CONFIG_FORMAT {
            return Err(format!("configuration format {} is not {CONFIG_FORMAT}", self.format));
        }
        if !is_unit_code(&self.unit) {
            return Err(format!("unit '{}' is not a unit code", self.unit));
        }
        if !is_agency_id(&self.agency_id) {
            return Err(format!("agency_id '{}' is not an agency identifier", self.agency_id));
        }
        if self.sequence_first == 0 {
            return Err("sequence_first starts at 1".into());
        }
        if !(self.sequence_first..=SEQUENCE_MAX).contains(&self.sequence_last) {
            return Err(format!(
                "sequence_last {} must lie between sequence_first {} and {SEQUENCE_MAX}",
                self.sequence_last, self.sequence_first
            ));
        }
        Ok(())
    }

    pub fn save(&self, dir: &Path) -> Result<(), OpenError> {
        let text = serde_json::to_string_pretty(self)?;
        let path = dir.join(CONFIG_FILE);
        // Owner-only like everything in the data directory.
        motcua_store::files::write_atomically(&path, text.as_bytes(), true)
            .map_err(|e| OpenError::new(format!("cannot write {}: {e}", path.display())))
    }
}
