//! The province's view of its nodes, and each node's peers and sync state.

use super::*;

/// The fleet view (một cửa toàn tỉnh): each other node this node knows,
/// with its link and the dossiers of its unit at risk of missing their
/// deadline (overdue, or due within [`DUE_SOON_MS`], result not ready).
pub(super) async fn fleet(State(state): State<AppState>, _: Officer) -> Result<Response, ApiError> {
    let now = now_ms();
    let o = state.desk.offset();
    let own_key = state.desk.identity().node_id().to_string();
    // Nodes from the trust set, then any peer on the board it lacks.
    let mut rows: std::collections::BTreeMap<String, serde_json::Value> = Default::default();
    let province = state.desk.config().role == motcua_desk::config::NodeRole::Province;
    state.desk.with_trust(|trust| {
        for n in trust.filter(|_| province).into_iter().flat_map(|t| t.nodes()).filter(|n| n.node_key != own_key) {
            rows.insert(
                n.node_key.clone(),
                json!({"node_id": n.node_key, "unit": n.unit, "unit_name": n.unit_name, "role": n.role.as_str(),
                       "connected": false, "last_sync_at": null, "docs_pending": 0}),
            );
        }
    });
    for p in state.peers.snapshot() {
        let row = rows.entry(p.node_id.clone()).or_insert_with(
            || json!({"node_id": p.node_id, "unit": p.unit, "unit_name": null, "role": p.role, "docs_pending": 0}),
        );
        if row["unit_name"].is_null()
            && let Some(u) = &p.unit
        {
            row["unit_name"] = json!(state.desk.unit_name(u));
        }
        row["connected"] = json!(p.connected);
        row["last_sync_at"] = json!(p.last_sync_at.map(|t| motcua_desk::desk::rfc3339(t, o)));
        row["docs_pending"] = json!(p.docs_pending);
        // What this node has not heard from a peer since its last sync.
        row["unsynced_since"] =
            json!(if p.connected { None } else { p.last_sync_at.map(|t| motcua_desk::desk::rfc3339(t, o)) });
    }
    // A node that signed two different changes with one sequence number
    // (a stolen key, a disk restored from an old copy): an alert for the
    // province, however the node is connected.
    for (_, _, f) in state.desk.store().forks()? {
        let key = hex::encode(f.node_key);
        let row = rows.entry(key.clone()).or_insert_with(|| {
            json!({"node_id": key, "unit": null, "unit_name": null, "role": null, "connected": false,
                   "last_sync_at": null, "docs_pending": 0})
        });
        row["forks"] = json!(row["forks"].as_u64().unwrap_or(0) + 1);
    }
    let st = state.clone();
    let risky = blocking(move || Ok(st.desk.store().at_risk(now + DUE_SOON_MS)?)).await?;
    let mut by_unit: std::collections::HashMap<&str, Vec<&stats::DossierSummary>> = Default::default();
    for s in &risky {
        by_unit.entry(s.receiving_unit.as_str()).or_default().push(s);
        if s.holder_unit != s.receiving_unit {
            by_unit.entry(s.holder_unit.as_str()).or_default().push(s);
        }
    }
    let out: Vec<serde_json::Value> = rows
        .into_values()
        .map(|mut row| {
            let list = row["unit"].as_str().and_then(|u| by_unit.get(u)).cloned().unwrap_or_default();
            row["at_risk"] = json!(list.len());
            row["at_risk_codes"] =
                json!(list.iter().take(FLEET_CODES_MAX).map(|s| s.code.as_str()).collect::<Vec<_>>());
            row
        })
        .collect();
    Ok(Json(out).into_response())
}

/// Dossier codes listed per node in the fleet view (the count is complete).
pub(super) const FLEET_CODES_MAX: usize = 20;

/// A fingerprint of every document this node holds (count and a digest
/// over each id and heads digest): two nodes holding the same changes of the
/// same documents show the same fingerprint.
pub(super) async fn sync_state(State(state): State<AppState>, _: Officer) -> Result<Response, ApiError> {
    let st = state.clone();
    let (documents, digest) = blocking(move || {
        let entries = st.desk.store().sync_offers(|_| true)?;
        let mut h = blake3::Hasher::new();
        for (id, digest, _) in &entries {
            h.update(id);
            h.update(digest);
        }
        Ok::<_, ApiError>((entries.len(), h.finalize().to_hex().to_string()))
    })
    .await?;
    Ok(Json(json!({"documents": documents, "digest": digest})).into_response())
}

pub(super) async fn peers(State(state): State<AppState>, _: Passive) -> Result<Response, ApiError> {
    // The page polls this every few seconds: not the officer's activity.
    let o = state.desk.offset();
    let forks = state.desk.store().forks()?;
    let (day, limit) = state.desk.allowance_day(now_ms());
    let over = state.desk.allowance().over(day, limit);
    // A node that forked, or went over its daily allowance, is shown among
    // the peers, connected or not.
    for key in forks.iter().map(|(_, _, f)| f.node_key).chain(over.iter().map(|o| o.node)) {
        state.peers.update(&hex::encode(key), |_| {});
    }
    let rows: Vec<_> = state
        .peers
        .snapshot()
        .into_iter()
        .map(|p| {
            let forked: Vec<_> = forks
                .iter()
                .filter(|(_, _, f)| hex::encode(f.node_key) == p.node_id)
                .map(|(id, _, f)| {
                    json!({
                        "dossier_id": hex::encode(id),
                        "dossier_code": state.desk.store().summary(id).ok().flatten().map(|s| s.code),
                        "seq": f.seq,
                        "from_peer": hex::encode(f.peer),
                        "detected_at": motcua_desk::desk::rfc3339(f.at, o),
                    })
                })
                .collect();
            json!({
                "node_id": p.node_id,
                "addr": p.addr,
                "unit": p.unit,
                "role": p.role,
                "connected": p.connected,
                "last_sync_at": p.last_sync_at.map(|t| motcua_desk::desk::rfc3339(t, o)),
                "caught_up_after_ms": p.caught_up_after_ms,
                "docs_pending": p.docs_pending,
                "docs_sent": p.docs_sent,
                "bytes_sent": p.bytes_sent,
                "bytes_received": p.bytes_received,
                "udp_bytes_sent": p.udp_bytes_sent,
                "udp_bytes_received": p.udp_bytes_received,
                "last_error": p.last_error,
                "docs_refused_from_peer": p.docs_refused_from_peer,
                "docs_refused_by_peer": p.docs_refused_by_peer,
                "last_refusal": p.last_refusal,
                "file_bytes_pending": p.file_bytes_pending,
                "file_oldest_waiting_at": p.file_oldest_waiting_at.map(|t| motcua_desk::desk::rfc3339(t, o)),
                "file_bytes_received": p.file_bytes_received,
                "forks": forked,
                "over_daily_allowance": over
                    .iter()
                    .find(|o| hex::encode(o.node) == p.node_id)
                    .map(|o| json!({"count": o.count, "limit": o.limit})),
            })
        })
        .collect();
    Ok(Json(rows).into_response())
}
