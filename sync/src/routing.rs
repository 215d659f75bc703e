//! Which dossiers go to which node (DESIGN §1.4): a node holds only the
//! dossiers it has a role in. The province holds every dossier of its
//! province and relays between communes and agencies; a commune or an
//! agency holds the dossiers in which its unit takes part (received there,
//! transferred to it, handed over to it).

use crate::cert::NodeRole;

/// Whether a node of `role` and `unit` may hold a dossier whose
/// participant units are `units`. The same rule decides what a node offers
/// a peer and what it accepts from one.
pub fn holds<S: AsRef<str>>(role: NodeRole, unit: &str, units: impl IntoIterator<Item = S>) -> bool {
    role == NodeRole::Province || units.into_iter().any(|u| u.as_ref() == unit)
}

/// The distinct participant units of a dossier, in order of appearance.
pub fn units_of(participants: &[(String, String)]) -> Vec<String> {
    let mut units: Vec<String> = Vec::new();
    for (unit, _) in participants {
        if !units.contains(unit) {
            units.push(unit.clone());
        }
    }
    units
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_province_holds_everything_and_others_only_their_part() {
        let units = units_of(&[("10001".into(), "receiving".into()), ("000.00.12.H99".into(), "processing".into())]);
        assert_eq!(units, vec!["10001".to_string(), "000.00.12.H99".to_string()]);
        assert!(holds(NodeRole::Province, "99", &units));
        assert!(holds(NodeRole::Commune, "10001", &units));
        assert!(holds(NodeRole::Agency, "000.00.12.H99", &units));
        assert!(!holds(NodeRole::Commune, "10002", &units));
        assert!(!holds(NodeRole::Agency, "000.00.13.H99", &units));
    }
}
