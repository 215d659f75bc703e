//! The province's daily allowance of new or transferred dossiers per node
//! (`init-province --daily-dossiers-per-node`): a node that creates more
//! is refused the rest of the day, says why, and shows in the peer list.

use motcua_tests::{Node, dossier_request, enroll_as, eventually, free_udp_port, node_id, provision};
use serde_json::Value;

#[test]
fn a_node_over_the_provinces_daily_allowance_is_refused_the_rest_and_shown() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("province-root");
    let (c, _, err) = provision(&[
        "init-province",
        "--dir",
        root.to_str().unwrap(),
        "--code",
        "56",
        "--name",
        "Tỉnh Thử",
        "--daily-dossiers-per-node",
        "3",
    ]);
    assert_eq!(c, 0, "{err}");
    // A limit of zero is no limit a province can set.
    let (c, _, err) = provision(&[
        "init-province",
        "--dir",
        dir.path().join("other").to_str().unwrap(),
        "--code",
        "57",
        "--name",
        "Tỉnh Khác",
        "--daily-dossiers-per-node",
        "0",
    ]);
    assert_eq!(c, 2, "{err}");
    let tinh_dir = dir.path().join("tinh");
    enroll_as(&root, "province", "56", "000.00.00.H56", &tinh_dir, &[]);
    let xa_dir = dir.path().join("xa");
    enroll_as(&root, "commune", "26734", "000.21.45.H56", &xa_dir, &[]);
    let port = free_udp_port();
    let tinh = Node::start_sync(&tinh_dir, port, &[]);
    let xa = Node::start_sync(&xa_dir, 0, &[format!("{}@127.0.0.1:{port}", node_id(&tinh_dir))]);
    let codes: Vec<String> = (0..5)
        .map(|n| xa.receive(&dossier_request("2.000720", n)).body["code"].as_str().unwrap().to_string())
        .collect();
    // Three reach the province; the other two are refused, and the commune
    // sees why on each of them.
    let refused = eventually(60, "three dossiers at the province and two refused", || {
        let views: Vec<Value> = codes.iter().map(|c| xa.get(&format!("/api/v1/dossiers/{c}")).body).collect();
        let safe = views.iter().filter(|v| v["replicated_to_province"] == true).count();
        let refused: Vec<&Value> = views.iter().filter(|v| v["refused_by_peers"].is_array()).collect();
        (safe == 3 && refused.len() == 2).then(|| refused.into_iter().cloned().collect::<Vec<_>>())
    });
    for v in &refused {
        let r = &v["refused_by_peers"][0];
        assert_eq!(r["role"], "province");
        assert!(r["reason"].as_str().unwrap().contains("limit for one node"), "{r}");
    }
    assert_eq!(tinh.total_dossiers(), 3);
    let xa_id = node_id(&xa_dir);
    let peers = tinh.get("/api/v1/peers").body;
    let row = peers.as_array().unwrap().iter().find(|p| p["node_id"] == xa_id.as_str()).expect("the commune is listed");
    assert_eq!(row["over_daily_allowance"]["limit"], 3);
    assert!(row["over_daily_allowance"]["count"].as_u64().unwrap() >= 4, "{row}");
    assert!(row["docs_refused_from_peer"].as_u64().unwrap() >= 2, "{row}");
    let xa_peers = xa.get("/api/v1/peers").body;
    let up = xa_peers.as_array().unwrap().iter().find(|p| p["role"] == "province").expect("the province is listed");
    assert!(up["docs_refused_by_peer"].as_u64().unwrap() >= 2, "{up}");
    assert!(up["last_refusal"].as_str().unwrap().contains("limit for one node"), "{up}");
}
