//! Test fixtures: a synthetic dossier and events, shared by the tests of
//! this crate and of the crates built on it. Names and numbers are
//! obviously synthetic (id numbers start with zeros).

use automerge::ActorId;

use crate::calendar::{DAY_MS, TimeUnit};
use crate::dossier::{self, Applicant, Channel, DossierId, NewDossier, ProcedureSnapshot, Reception, SupplementMode};
use crate::workflow::Action;

pub const COMMUNE: &str = "26734";
pub const AGENCY: &str = "000.00.12.H56";
pub const T0: i64 = 1_763_344_800_000; // Mon 2025-11-17 09:00 +07

pub fn node(n: u8) -> (ActorId, String) {
    let bytes = [n; 32];
    let actor = ActorId::from(bytes);
    let hex = actor.to_hex_string();
    (actor, hex)
}

pub fn new_dossier(node_hex: &str, channel: Channel, same_day: bool) -> NewDossier {
    NewDossier {
        id: DossierId([7; 16]),
        code: "000.21.45.H56-251117-0001".into(),
        procedure: ProcedureSnapshot {
            code: "2.000720".into(),
            name: "Đăng ký thành lập hộ kinh doanh".into(),
            case_code: "default".into(),
            catalog_version: "test".into(),
            processing_time: 3,
            time_unit: TimeUnit::WorkingDays,
            same_day,
            no_appointment: false,
            fee_vnd: 100_000,
        },
        applicant: Applicant {
            name: "Người Thử Mẫu".into(), id_number: "000000000001".into(), ..Applicant::default()
        },
        reception: Reception {
            unit: COMMUNE.into(),
            agency_id: "000.21.45.H56".into(),
            node: node_hex.into(),
            officer: "tiepnhan".into(),
            at: T0,
            channel,
            calendar_version: "test".into(),
            supplement_mode: SupplementMode::Pause,
        },
        due_at: Some(T0 + 3 * DAY_MS),
        documents: vec![],
    }
}

pub fn event(action: Action, at: i64, unit: &str, node_hex: &str) -> dossier::Event {
    dossier::Event {
        action: Some(action),
        at,
        unit: unit.into(),
        node: node_hex.into(),
        officer: "officer".into(),
        ..dossier::Event::default()
    }
}
