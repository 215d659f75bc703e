//! Test fixtures: a synthetic dossier and events, shared by the tests of
//! this crate and of the crates built on it. Names and numbers are
//! obviously synthetic (id numbers start with zeros).

use automerge::ActorId;

use crate::calendar::{DAY_MS, TimeUnit};
use crate::dossier::{self, Applicant, Channel, DossierId, NewDossier, ProcedureSnapshot, Reception, SupplementMode};
use crate::stats::DossierSummary;
use crate::workflow::{Action, Status};

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
            steps: Vec::new(),
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
            sets: 1,
            collection: Default::default(),
            logbook: None,
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

/// A summary of an accepted, direct dossier received at `T0` by `COMMUNE`.
pub fn summary(n: u8) -> DossierSummary {
    DossierSummary {
        id: [n; 16],
        code: format!("X-251117-{n:04}"),
        procedure_code: "2.000720".into(),
        procedure_name: "p".into(),
        applicant_name: "a".into(),
        applicant_id_number: "000000000001".into(),
        receiving_unit: COMMUNE.into(),
        holder_unit: COMMUNE.into(),
        channel: Channel::Direct,
        state: Status::Accepted,
        received_at: T0,
        due_at: Some(T0 + 3 * DAY_MS),
        paused_since: None,
        result_ready_at: None,
        returned_at: None,
        closed_at: None,
        closing: None,
        on_time: None,
        supplement_requests: 0,
        conflicts: 0,
        digitization: Default::default(),
        rating: None,
        never_accepted: false,
    }
}
