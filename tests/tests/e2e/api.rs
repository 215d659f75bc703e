use motcua_domain::calendar::{ProcessingTime, TimeUnit, WorkingCalendar};
use motcua_tests::{ADMIN_PASSWORD, Node, dossier_request};
use serde_json::json;

fn instant(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis()
}

#[test]
fn a_dossier_is_received_processed_and_returned() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_logged_in(dir.path());
    let a = node.receive(&dossier_request("2.000720", 1));
    assert_eq!(a.status, 201, "{a:?}");
    let d = &a.body;
    let code = d["code"].as_str().unwrap().to_string();
    assert!(code.starts_with("000.00.01.H99-"), "{code}");
    assert_eq!(d["state"], 2);
    assert_eq!(d["procedure_code"], "2.000720");
    assert_eq!(d["applicant"]["name"], "Người Thử Mẫu 1");
    assert_eq!(d["replicated_to_province"], false);
    assert_eq!(d["on_time"], serde_json::Value::Null);
    let received = instant(d["received_at"].as_str().unwrap());
    let due = instant(d["due_at"].as_str().unwrap());
    let expected = WorkingCalendar::builtin()
        .due_at(received / 1000 * 1000, ProcessingTime { amount: 3, unit: TimeUnit::WorkingDays, same_day: false })
        .unwrap();
    assert!((due - expected).abs() < 1000, "due {} expected {expected}", d["due_at"]);
    assert!(d["received_at"].as_str().unwrap().ends_with("+07:00"));

    let a = node.act(&code, &json!({"action": "start_processing", "note": "Chuyển chuyên viên"}));
    assert_eq!((a.status, &a.body["state"]), (200, &json!(4)), "{a:?}");
    let a = node.act(&code, &json!({"action": "processed", "result": "Giấy chứng nhận đăng ký hộ kinh doanh số 01"}));
    assert_eq!((a.status, &a.body["state"]), (200, &json!(9)), "{a:?}");
    let a = node.act(&code, &json!({"action": "return_result"}));
    assert_eq!((a.status, &a.body["state"]), (200, &json!(10)), "{a:?}");

    let d = node.get(&format!("/api/v1/dossiers/{code}")).body;
    assert_eq!(d["state"], 10);
    assert_eq!(d["on_time"], "early", "returned days before the appointment");
    assert!(d["returned_at"].is_string());
    assert_eq!(d["result"], "Giấy chứng nhận đăng ký hộ kinh doanh số 01");
    let actions: Vec<&str> = d["history"].as_array().unwrap().iter().map(|h| h["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["receive", "start_processing", "processed", "return_result"]);
    assert_eq!(d["history"][1]["note"], "Chuyển chuyên viên");
    assert_eq!(d["history"][1]["officer"], "admin");
    assert_eq!(d["history"][1]["unit"], "99001");
    assert_eq!(d["conflicts"], json!([]));

    let s = node.get("/api/v1/stats").body;
    assert_eq!(s["received"], 1);
    assert_eq!(s["processed"], json!({"early": 1, "on_time": 0, "late": 0}));
    assert_eq!(s["on_time_rate"], 1.0);
}

#[test]
fn supplement_pauses_and_the_appointment_moves() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_logged_in(dir.path());
    let code = node.receive(&dossier_request("1.009994", 2)).body["code"].as_str().unwrap().to_string();
    let a = node.act(&code, &json!({"action": "request_supplement", "reason": "Thiếu bản vẽ", "missing": ["Bản vẽ thiết kế xây dựng"], "deadline": "2099-01-05"}));
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.body["state"], 5);
    assert_eq!(a.body["paused"], true);
    assert_eq!(a.body["history"][1]["missing"], json!(["Bản vẽ thiết kế xây dựng"]));
    let due_before = instant(a.body["due_at"].as_str().unwrap());
    let a = node.act(&code, &json!({"action": "supplement_received"}));
    assert_eq!(a.body["state"], 2, "back to where it was: {a:?}");
    assert_eq!(a.body["paused"], false);
    assert!(instant(a.body["due_at"].as_str().unwrap()) >= due_before);
    assert_eq!(a.body["supplement_requests"], 1);
}

#[test]
fn online_dossiers_are_accepted_or_refused_and_same_day_ones_skip_processing() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_logged_in(dir.path());
    let mut req = dossier_request("2.000720", 3);
    req["channel"] = json!("online");
    let a = node.receive(&req);
    assert_eq!((a.status, &a.body["state"]), (201, &json!(1)), "{a:?}");
    assert!(a.body["due_at"].is_null(), "the clock starts at acceptance");
    let code = a.body["code"].as_str().unwrap().to_string();
    let a = node.act(&code, &json!({"action": "accept"}));
    assert_eq!(a.body["state"], 2);
    assert!(a.body["due_at"].is_string());

    let code = node
        .receive(&{
            let mut r = dossier_request("2.000720", 4);
            r["channel"] = json!("online");
            r
        })
        .body["code"]
        .as_str()
        .unwrap()
        .to_string();
    let a = node.act(&code, &json!({"action": "refuse", "reason": "Hồ sơ trùng"}));
    assert_eq!(a.body["state"], 3, "{a:?}");

    let code = node.receive(&dossier_request("2.000815", 5)).body["code"].as_str().unwrap().to_string();
    let a = node.act(&code, &json!({"action": "processed", "result": "Bản sao đã chứng thực"}));
    assert_eq!(a.body["state"], 9, "copy certification is same-day: {a:?}");
}

#[test]
fn reception_warns_of_a_possible_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_logged_in(dir.path());
    let first = node.receive(&dossier_request("2.000720", 7));
    assert!(first.body.get("warnings").is_none());
    let second = node.receive(&dossier_request("2.000720", 7));
    assert_eq!(second.status, 201);
    assert_eq!(second.body["warnings"][0]["code"], "possible_duplicate");
    assert_eq!(second.body["warnings"][0]["dossier_code"], first.body["code"]);
    // Another procedure for the same person is no duplicate.
    let other = node.receive(&dossier_request("1.009994", 7));
    assert!(other.body.get("warnings").is_none());
    let check = node.get(&format!("/api/v1/duplicates?procedure_code=2.000720&id_number={:012}", 900_000_007u64));
    assert_eq!(check.body.as_array().unwrap().len(), 2);
}

#[test]
fn lists_filter_by_state_and_search_names_without_accents() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_logged_in(dir.path());
    let mut codes = Vec::new();
    for (n, name) in [(1, "Đặng Thị Mẫu"), (2, "Nguyễn Văn Thử"), (3, "Lê Thị Mẫu")] {
        let mut r = dossier_request("2.000720", n);
        r["applicant"]["name"] = json!(name);
        codes.push(node.receive(&r).body["code"].as_str().unwrap().to_string());
    }
    node.act(&codes[1], &json!({"action": "start_processing"}));
    let all = node.get("/api/v1/dossiers");
    assert_eq!(all.total, Some(3));
    let listed: Vec<&str> = all.body.as_array().unwrap().iter().map(|d| d["code"].as_str().unwrap()).collect();
    assert_eq!(listed, [codes[2].as_str(), codes[1].as_str(), codes[0].as_str()], "newest first");
    let in_process = node.get("/api/v1/dossiers?state=4");
    assert_eq!(in_process.total, Some(1));
    assert_eq!(in_process.body[0]["code"], codes[1].as_str());
    let mau = node.get("/api/v1/dossiers?q=mau");
    assert_eq!(mau.total, Some(2), "{mau:?}");
    let dang = node.get("/api/v1/dossiers?q=dang%20thi");
    assert_eq!(dang.total, Some(1));
    assert_eq!(dang.body[0]["applicant"]["name"], "Đặng Thị Mẫu");
    let accented = node.get("/api/v1/dossiers?q=%C4%90%E1%BA%B7ng");
    assert_eq!(accented.total, Some(1));
    let by_code = node.get(&format!("/api/v1/dossiers?q={}", codes[0]));
    assert_eq!(by_code.total, Some(1));
    let day = &codes[0][..20];
    assert_eq!(node.get(&format!("/api/v1/dossiers?q={day}")).total, Some(3), "a code's leading part lists that day");
    let by_id = node.get(&format!("/api/v1/dossiers?q={:012}", 900_000_002u64));
    assert_eq!(by_id.total, Some(1));
    assert_eq!(by_id.body[0]["code"], codes[1].as_str());
    let page = node.get("/api/v1/dossiers?limit=1&offset=1");
    assert_eq!(page.body.as_array().unwrap().len(), 1);
    assert_eq!(page.body[0]["code"], codes[1].as_str());
    assert_eq!(node.get("/api/v1/dossiers?overdue=true").total, Some(0));
}

#[test]
fn sessions_roles_csrf_and_throttling() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_logged_in(dir.path());
    assert_eq!(node.get_as(Some("bogus"), "/api/v1/dossiers").status, 401);
    let anonymous = Node::detached(&node.dir, node.port);
    assert_eq!(anonymous.get("/api/v1/procedures").status, 401);
    assert_eq!(anonymous.get("/healthz").status, 200);

    let specialist = node.officer("chuyenvien", &["specialist"]);
    let a = node.post_as(Some(&specialist), "/api/v1/dossiers", &dossier_request("2.000720", 1));
    assert_eq!(a.status, 403, "{a:?}");
    assert_eq!(a.body["error"]["code"], "forbidden");
    assert_eq!(node.total_dossiers(), 0);
    let receptionist = node.officer("tiepnhan", &["receptionist"]);
    let code = node.post_as(Some(&receptionist), "/api/v1/dossiers", &dossier_request("2.000720", 1)).body["code"]
        .as_str()
        .unwrap()
        .to_string();
    let a = node.post_as(
        Some(&receptionist),
        &format!("/api/v1/dossiers/{code}/actions"),
        &json!({"action": "start_processing"}),
    );
    assert_eq!(a.status, 403, "{a:?}");
    let a = node.post_as(
        Some(&specialist),
        &format!("/api/v1/dossiers/{code}/actions"),
        &json!({"action": "start_processing"}),
    );
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.body["history"][1]["officer"], "chuyenvien");
    assert_eq!(node.get_as(Some(&specialist), "/api/v1/accounts").status, 403);

    // Cookie sessions need the CSRF token on writes.
    let login = node.post_as(None, "/api/v1/session", &json!({"username": "tiepnhan", "password": "mat-khau-can-bo"}));
    let cookie = login.set_cookie.unwrap();
    assert!(cookie.contains("HttpOnly"));
    let cookie = cookie.split(';').next().unwrap().to_string();
    let csrf = login.body["csrf_token"].as_str().unwrap().to_string();
    let a = node.post_with_cookie("/api/v1/dossiers", &cookie, None, &dossier_request("2.000720", 2));
    assert_eq!((a.status, &a.body["error"]["code"]), (403, &json!("csrf")));
    let a = node.post_with_cookie("/api/v1/dossiers", &cookie, Some(&csrf), &dossier_request("2.000720", 2));
    assert_eq!(a.status, 201, "{a:?}");
    // No cache keeps an answer holding personal data.
    assert_eq!(a.headers.get("cache-control").and_then(|v| v.to_str().ok()), Some("no-store"), "{a:?}");
    assert_eq!(a.headers.get("x-content-type-options").and_then(|v| v.to_str().ok()), Some("nosniff"));

    // A login posted from another site's page is refused (login CSRF);
    // one from the node's own page is not.
    let own = format!("http://127.0.0.1:{}", node.port);
    for (origin, site) in [("http://evil.example", None), (own.as_str(), Some("cross-site")), ("null", None)] {
        let a = node.login_from(origin, site);
        assert_eq!((a.status, a.body["error"]["code"].as_str()), (403, Some("cross_site")), "{origin}: {a:?}");
        assert!(a.set_cookie.is_none(), "no session for a forged login");
    }
    assert_eq!(node.login_from(&own, Some("same-origin")).status, 200);
    // Behind a proxy that rewrites Host, the browser's word is taken.
    assert_eq!(node.login_from("https://motcua.xa-thu.example", Some("same-origin")).status, 200);

    for _ in 0..5 {
        assert_eq!(node.login("tiepnhan", "sai-mat-khau").unwrap_err().status, 401);
    }
    let locked = node.login("tiepnhan", "mat-khau-can-bo").unwrap_err();
    assert_eq!((locked.status, &locked.body["error"]["code"]), (429, &json!("too_many_attempts")));
    assert!(node.login("admin", motcua_tests::ADMIN_PASSWORD).is_ok(), "other accounts are not locked");

    let audit = node.get("/api/v1/audit").body;
    assert!(
        audit.as_array().unwrap().iter().any(|e| e["action"] == "start_processing" && e["officer"] == "chuyenvien")
    );
}

#[test]
fn a_disabled_account_loses_its_sessions_and_cannot_log_in() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_logged_in(dir.path());
    let token = node.officer("tiepnhan", &["receptionist"]);
    assert_eq!(node.get_as(Some(&token), "/api/v1/dossiers").status, 200);
    let a = node.post("/api/v1/accounts/tiepnhan/disable", &json!({}));
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.body["sessions_ended"], 1);
    assert_eq!(node.get_as(Some(&token), "/api/v1/dossiers").status, 401, "the session ended");
    let refused = node.login("tiepnhan", "mat-khau-can-bo").unwrap_err();
    assert_eq!((refused.status, &refused.body["error"]["code"]), (403, &json!("account_disabled")));
    assert_eq!(node.post("/api/v1/accounts/admin/disable", &json!({})).status, 409, "no self lock-out");
    assert_eq!(node.post("/api/v1/accounts/nobody/disable", &json!({})).status, 404);
    assert_eq!(node.post("/api/v1/accounts/tiepnhan/enable", &json!({})).status, 200);
    assert!(node.login("tiepnhan", "mat-khau-can-bo").is_ok());
}

#[test]
fn metrics_and_peers_answer() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_logged_in(dir.path());
    node.receive(&dossier_request("2.000720", 1));
    let m = node.get("/metrics").body;
    let text = m.as_str().unwrap();
    assert!(text.contains("motcua_dossiers{state=\"2\"} 1"), "{text}");
    assert!(text.contains("motcua_dossiers_received_total 1"));
    assert_eq!(node.get("/api/v1/peers").body, json!([]));
    let h = node.get("/healthz").body;
    assert_eq!(h["status"], "ok");
    assert_eq!(h["unit"], "99001");
    assert_eq!(h["role"], "commune");
    assert_eq!(h["node_id"].as_str().unwrap().len(), 64);
    let page = node.get("/").body;
    assert!(page.as_str().unwrap().contains("Bộ phận Một cửa"), "the officer page speaks Vietnamese");
    assert!(node.get("/app.js").body.as_str().unwrap().contains("/api/v1/dossiers"));
}

/// A login posted from the loopback address `src` (any of 127.0.0.0/8), by
/// hand over a socket bound to it: the status and the raw response head.
fn login_from_address(node: &Node, src: [u8; 4], password: &str, cookie: Option<&str>) -> (u16, String) {
    use std::io::{Read, Write};
    use std::os::fd::FromRawFd;
    let sockaddr = |ip: [u8; 4], port: u16| libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(ip) },
        sin_zero: [0; 8],
    };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: a fresh socket is bound and connected with sockaddr_in values
    // of the right size, then owned by the TcpStream.
    let mut stream = unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0);
        let local = sockaddr(src, 0);
        assert_eq!(libc::bind(fd, &local as *const _ as *const libc::sockaddr, len), 0, "bind {src:?}");
        let remote = sockaddr([127, 0, 0, 1], node.port);
        assert_eq!(libc::connect(fd, &remote as *const _ as *const libc::sockaddr, len), 0, "connect");
        std::net::TcpStream::from_raw_fd(fd)
    };
    let body = json!({"username": "tiepnhan", "password": password}).to_string();
    let cookie = cookie.map(|c| format!("Cookie: {c}\r\n")).unwrap_or_default();
    let request = format!(
        "POST /api/v1/session HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{cookie}Connection: close\r\n\r\n{body}",
        node.port,
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, response.split("\r\n\r\n").next().unwrap_or("").to_string())
}

#[test]
fn many_addresses_lock_an_account_for_everyone_but_the_officer_s_own_known_device() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_logged_in(dir.path());
    node.officer("tiepnhan", &["receptionist"]);
    // The officer's own desk logs in once and is given the device cookie.
    let (status, head) = login_from_address(&node, [127, 0, 0, 2], "mat-khau-can-bo", None);
    assert_eq!(status, 200, "{head}");
    let device = head
        .lines()
        .filter_map(|l| l.strip_prefix("set-cookie: ").or_else(|| l.strip_prefix("Set-Cookie: ")))
        .find(|c| c.starts_with("motcua_device="))
        .unwrap_or_else(|| panic!("a device cookie: {head}"))
        .to_string();
    assert!(
        device.contains("HttpOnly") && device.contains("SameSite=Strict") && device.contains("Path=/api/v1/session")
    );
    assert!(device.contains("Max-Age=15552000"), "{device}");
    let device = device.split(';').next().unwrap().to_string();
    // Ten addresses, five wrong passwords each: the account is locked for
    // everyone, the right password from a new address included.
    for n in 10..20 {
        for _ in 0..5 {
            assert_eq!(login_from_address(&node, [127, 0, 0, n], "sai-mat-khau", None).0, 401);
        }
    }
    assert_eq!(login_from_address(&node, [127, 0, 0, 3], "mat-khau-can-bo", None).0, 429);
    // A forged device cookie does not help.
    let last = if device.ends_with('0') { '1' } else { '0' };
    let forged = format!("{}{last}", &device[..device.len() - 1]);
    assert_eq!(login_from_address(&node, [127, 0, 0, 2], "mat-khau-can-bo", Some(&forged)).0, 429);
    // The officer's own device still logs in, and still needs the password.
    assert_eq!(login_from_address(&node, [127, 0, 0, 2], "sai-mat-khau", Some(&device)).0, 401);
    assert_eq!(login_from_address(&node, [127, 0, 0, 2], "mat-khau-can-bo", Some(&device)).0, 200);
    // A new password forgets the devices that knew the old one.
    assert_eq!(node.post("/api/v1/accounts/tiepnhan/password", &json!({"password": "mat-khau-can-bo"})).status, 200);
    assert_eq!(login_from_address(&node, [127, 0, 0, 2], "mat-khau-can-bo", Some(&device)).0, 429);
}

#[test]
fn an_officer_changes_their_password_with_the_current_one_and_an_admin_resets_a_forgotten_one() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_logged_in(dir.path());
    let token = node.officer("tiepnhan", &["receptionist"]);
    let other = node.officer("chuyenvien", &["specialist"]);
    let path = "/api/v1/accounts/tiepnhan/password";
    // Their own: only with the current password.
    for body in [
        json!({"password": "mat-khau-moi-so-1"}),
        json!({"current_password": "sai-roi", "password": "mat-khau-moi-so-1"}),
    ] {
        let a = node.post_as(Some(&token), path, &body);
        assert_eq!((a.status, a.body["error"]["field"].as_str()), (403, Some("current_password")), "{a:?}");
    }
    for (weak, code) in [("ngan", "password_too_short"), ("MatKhau123456789", "password_common")] {
        let a = node.post_as(Some(&token), path, &json!({"current_password": "mat-khau-can-bo", "password": weak}));
        let refusal = (a.status, a.body["error"]["code"].as_str(), a.body["error"]["field"].as_str());
        assert_eq!(refusal, (422, Some(code), Some("password")), "{a:?}");
    }
    // Someone else's, without being an admin: refused.
    let a = node.post_as(Some(&other), path, &json!({"password": "mat-khau-moi-so-1"}));
    assert_eq!(a.status, 403, "{a:?}");
    let a = node.post_as(
        Some(&token),
        path,
        &json!({"current_password": "mat-khau-can-bo", "password": "mat-khau-moi-so-1"}),
    );
    assert_eq!((a.status, a.body["sessions_ended"].as_u64()), (200, Some(1)), "{a:?}");
    assert_eq!(node.get_as(Some(&token), "/api/v1/session").status, 401, "the old session ended");
    assert_eq!(node.login("tiepnhan", "mat-khau-can-bo").unwrap_err().status, 401, "the old password is gone");
    node.login("tiepnhan", "mat-khau-moi-so-1").expect("the new password works");
    // Forgotten: the admin sets a new one, no current password needed.
    let a = node.post(path, &json!({"password": "mat-khau-moi-so-2"}));
    assert_eq!(a.status, 200, "{a:?}");
    node.login("tiepnhan", "mat-khau-moi-so-2").expect("the admin's password works");
    assert_eq!(node.post("/api/v1/accounts/khong-co/password", &json!({"password": "mat-khau-moi-so-2"})).status, 404);
    let audit = node.get("/api/v1/audit").body;
    let resets = audit.as_array().unwrap().iter().filter(|e| e["action"] == "set_password").count();
    assert_eq!(resets, 2, "{audit}");
}

/// Every route that changes something takes its officer from an extractor
/// that checks the CSRF token of a cookie session by the request's own
/// method: an admin's cookie without the token changes nothing anywhere.
#[test]
fn every_write_route_refuses_a_cookie_session_without_its_csrf_token() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_logged_in(dir.path());
    let created = node.post("/api/v1/dossiers", &dossier_request("2.000720", 2));
    assert_eq!(created.status, 201, "{created:?}");
    let code = created.body["code"].as_str().unwrap().to_string();
    let login = node.post_as(None, "/api/v1/session", &json!({"username": "admin", "password": ADMIN_PASSWORD}));
    let cookie = login.set_cookie.unwrap().split(';').next().unwrap().to_string();
    let before = (node.get("/api/v1/dossiers").body, node.get("/api/v1/accounts").body);
    let writes = [
        ("/api/v1/catalog", json!([])),
        ("/api/v1/calendar", json!({})),
        ("/api/v1/revocations", json!({})),
        ("/api/v1/dossiers", dossier_request("2.000720", 2)),
        (&format!("/api/v1/dossiers/{code}/actions"), json!({"action": "start_processing"})),
        (&format!("/api/v1/dossiers/{code}/attachments?name=x.pdf"), json!({})),
        (
            "/api/v1/accounts",
            json!({"username": "moi", "full_name": "Mới", "roles": ["reception"], "password": "mat-khau-rat-dai-1"}),
        ),
        ("/api/v1/accounts/admin/disable", json!({})),
        ("/api/v1/accounts/admin/enable", json!({})),
        ("/api/v1/accounts/admin/password", json!({"password": "mat-khau-rat-dai-2"})),
    ];
    for (path, body) in &writes {
        let a = node.post_with_cookie(path, &cookie, None, body);
        assert_eq!((a.status, a.body["error"]["code"].as_str()), (403, Some("csrf")), "{path}: {a:?}");
    }
    let logout = ureq::Agent::new_with_defaults()
        .delete(&format!("http://127.0.0.1:{}/api/v1/session", node.port))
        .header("Cookie", &cookie)
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .unwrap();
    assert_eq!(logout.status().as_u16(), 403, "logout without the token");
    assert_eq!((node.get("/api/v1/dossiers").body, node.get("/api/v1/accounts").body), before, "nothing changed");
    // The cookie session is still live: the same write with its token goes.
    let csrf = login.body["csrf_token"].as_str().unwrap();
    assert_eq!(
        node.post_with_cookie("/api/v1/dossiers", &cookie, Some(csrf), &dossier_request("2.000720", 2)).status,
        201
    );
}

/// A file is kept with a dossier only with its bytes: `attach` is never
/// offered as an action, and the actions route refuses it.
#[test]
fn attach_is_not_an_action_an_officer_posts() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_logged_in(dir.path());
    let created = node.post("/api/v1/dossiers", &dossier_request("2.000720", 3));
    assert_eq!(created.status, 201, "{created:?}");
    let code = created.body["code"].as_str().unwrap().to_string();
    let offered = created.body["allowed_actions"].as_array().unwrap();
    assert!(!offered.is_empty() && !offered.iter().any(|a| a == "attach"), "{offered:?}");
    let a = node.act(&code, &json!({"action": "attach"}));
    assert_eq!((a.status, a.body["error"]["code"].as_str()), (422, Some("invalid_value")), "{a:?}");
    let d = node.get(&format!("/api/v1/dossiers/{code}"));
    assert_eq!(d.body["history"].as_array().unwrap().len(), 1, "nothing recorded");
}
