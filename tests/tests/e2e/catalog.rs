//! The sample catalog, and importing a province catalog through the API.

use motcua_tests::{Node, dossier_request};
use serde_json::json;

const HEADER: &str = "procedure_code,provincial_code,procedure_name,level,field,agency,online_level,legal_basis,case_code,case_name,processing_time,unit,same_day,no_appointment,fee_vnd,fee_collected,documents";

#[test]
fn the_node_serves_the_sample_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_logged_in(dir.path());
    let a = node.get("/api/v1/procedures");
    assert_eq!(a.status, 200);
    let procedures = a.body.as_array().unwrap();
    assert!(procedures.len() >= 8);
    let permit = procedures.iter().find(|p| p["code"] == "1.009994").expect("construction permit");
    assert_eq!(permit["level"], "commune");
    let case = &permit["cases"][0];
    assert_eq!(case["processing_time"], 15);
    assert_eq!(case["unit"], "working_days");
    assert!(case["documents"][0]["originals"].is_number());
}

#[test]
fn a_csv_catalog_with_errors_is_refused_row_by_row_and_a_good_one_replaces_the_sample() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_logged_in(dir.path());
    let bad = format!(
        "{HEADER}\n1.001193,,Khai sinh,commune,Hộ tịch,UBND xã,full,,a,x,0,working_days,true,false,,,Tờ khai|1|0\n\
         1.0011,,Sai,commune,Hộ tịch,UBND xã,full,,a,x,abc,working_days,false,false,,,\n"
    );
    let a = node.post_raw("/api/v1/catalog?version=H99-1", "text/csv", bad.as_bytes());
    assert_eq!(a.status, 422, "{a:?}");
    assert_eq!(a.body["error"]["code"], "invalid_catalog");
    let details = a.body["error"]["details"].as_array().unwrap();
    assert!(details.iter().all(|d| d["row"] == 3), "{details:?}");
    assert!(details.iter().any(|d| d["field"] == "processing_time"));
    assert!(node.get("/api/v1/procedures").body.as_array().unwrap().len() >= 8, "the old catalog stays");

    let good = format!(
        "{HEADER}\n1.001193,1.001193.H99,Đăng ký khai sinh,commune,Hộ tịch,UBND xã,full,,a,Đúng hạn,0,working_days,true,false,,,Tờ khai|1|0\n\
         2.000720,,Đăng ký hộ kinh doanh,commune,Kinh doanh,UBND xã,full,,a,Mới,5,working_days,false,false,100000,at_receipt,Giấy đề nghị|1|0\n"
    );
    let a = node.post_raw("/api/v1/catalog?version=H99-2", "text/csv", good.as_bytes());
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.body, json!({"version": "H99-2", "procedures": 2}));
    assert_eq!(node.get("/api/v1/procedures").body.as_array().unwrap().len(), 2);
    assert_eq!(node.receive(&dossier_request("1.009994", 1)).status, 422, "no longer in the catalog");
    let d = node.receive(&dossier_request("2.000720", 1));
    assert_eq!(d.body["processing_time"], 5, "received under the new catalog");

    // The imported catalog survives a restart.
    let mut node = node;
    assert_eq!(node.stop(), Some(0));
    let node = Node::start_logged_in(dir.path());
    assert_eq!(node.get("/api/v1/procedures").body.as_array().unwrap().len(), 2);

    let a = node.post_raw("/api/v1/catalog", "application/json", b"{\"procedures\": [{\"code\": \"x\"}]}");
    assert_eq!(a.status, 422, "{a:?}");
    let a = node.post_raw("/api/v1/catalog", "application/json", b"not json");
    assert_eq!(a.status, 400, "{a:?}");
    let receptionist = node.officer("tiepnhan", &["receptionist"]);
    let mut n2 = Node::detached(&node.dir, node.port);
    n2.token = Some(receptionist);
    assert_eq!(n2.post_raw("/api/v1/catalog", "text/csv", good.as_bytes()).status, 403);
}
