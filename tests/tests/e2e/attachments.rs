//! A dossier's files on one node (CONTRACT.md "Attachments"): uploaded,
//! listed and read back byte for byte; refused with a precise error and
//! nothing stored when too large, not what they claim to be, on an unknown
//! dossier, or when the disk is full.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use motcua_tests::{Node, dossier_request};
use serde_json::json;

/// A PDF of `n` bytes: the magic, then noise from `seed`.
pub fn pdf(n: usize, seed: u64) -> Vec<u8> {
    let mut out = b"%PDF-1.7\n".to_vec();
    let mut x = seed | 1;
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push(x as u8);
    }
    out.truncate(n);
    out
}

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// The files of the attachments' store that hold file bytes (not its
/// database, whose pages change with any read).
fn stored_files(data: &Path) -> Vec<std::path::PathBuf> {
    let dir = data.join("attachments");
    files_under(&dir).into_iter().filter(|p| !p.ends_with("blobs.db")).collect()
}

fn received(node: &Node, n: u32) -> String {
    let a = node.receive(&dossier_request("2.000720", n));
    assert_eq!(a.status, 201, "{a:?}");
    a.body["code"].as_str().unwrap().to_string()
}

#[test]
fn a_scan_is_stored_by_hash_listed_and_read_back_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_logged_in(dir.path());
    let code = received(&node, 1);
    let scan = pdf(5 * 1024 * 1024 + 7, 1);
    let name = "Đơn đề nghị cấp phép.pdf";
    let q = format!("name={}&kind=component&line=1", urlencode(name));
    let a = node.attach(&code, &q, "application/pdf", &scan, false);
    assert_eq!(a.status, 201, "{a:?}");
    let hash = blake3::hash(&scan).to_hex().to_string();
    assert_eq!(
        a.body,
        json!({"hash": hash, "size": scan.len(), "media_type": "application/pdf", "name": name, "kind": "component", "line": 1})
    );

    let list = node.get(&format!("/api/v1/dossiers/{code}/attachments")).body;
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["hash"], hash);
    assert_eq!(list[0]["held"], true);
    assert_eq!(list[0]["held_bytes"], scan.len());
    assert_eq!(list[0]["by"], "admin");
    // The dossier records it in a signed change.
    let d = node.get(&format!("/api/v1/dossiers/{code}")).body;
    assert_eq!(d["attachments"][0]["hash"], hash);
    assert_eq!(d["history"].as_array().unwrap().last().unwrap()["action"], "attach");

    let (status, ct, body) = node.get_bytes(&format!("/api/v1/dossiers/{code}/attachments/{hash}"));
    assert_eq!((status, ct.as_str()), (200, "application/pdf"));
    assert!(body == scan, "the bytes come back as they went in");

    // The same file again: nothing new is recorded.
    let again = node.attach(&code, &q, "application/pdf", &scan, true);
    assert_eq!((again.status, &again.body["hash"]), (200, &json!(hash)), "{again:?}");
    assert_eq!(node.get(&format!("/api/v1/dossiers/{code}/attachments")).body.as_array().unwrap().len(), 1);

    // Another dossier does not reach this file through its own code.
    let other = received(&node, 2);
    let (status, _, _) = node.get_bytes(&format!("/api/v1/dossiers/{other}/attachments/{hash}"));
    assert_eq!(status, 404);

    // Owner-only on disk.
    let root = dir.path().join("attachments");
    assert_eq!(std::fs::metadata(&root).unwrap().permissions().mode() & 0o777, 0o700);
    for f in files_under(&root) {
        assert_eq!(std::fs::metadata(&f).unwrap().permissions().mode() & 0o077, 0, "{} is owner-only", f.display());
    }
    let m = node.get("/metrics").body;
    let m = m.as_str().unwrap();
    let used: u64 = metric(m, "motcua_attachments_bytes");
    assert!(used > scan.len() as u64, "the store's size is reported: {used}");
    assert!(m.contains("motcua_attachments_free_bytes "), "{m}");
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[test]
fn bad_uploads_get_a_precise_error_and_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_logged_in(dir.path());
    let code = received(&node, 1);
    let kept = pdf(40_000, 2);
    assert_eq!(node.attach(&code, "name=a.pdf", "application/pdf", &kept, false).status, 201);
    let before = stored_files(dir.path());
    let listed = || node.get(&format!("/api/v1/dossiers/{code}/attachments")).body;
    let list_before = listed();

    // What, query, content type, body; status and error code.
    type Case<'a> = (&'a str, &'a str, &'a str, Vec<u8>, u16, &'a str);
    let cases: Vec<Case> = vec![
        ("a PDF that is not a PDF", "name=x.pdf", "application/pdf", PNG.to_vec(), 415, "not_that_type"),
        (
            "a type not taken",
            "name=x.txt",
            "text/plain",
            b"hello world, plain text".to_vec(),
            415,
            "unsupported_media_type",
        ),
        ("no type at all", "name=x", "", pdf(100, 3), 415, "unsupported_media_type"),
        ("an empty file", "name=x.pdf", "application/pdf", Vec::new(), 422, "empty_file"),
        ("no name", "kind=component", "application/pdf", pdf(100, 3), 422, "invalid_value"),
        ("a name with a slash", "name=a%2Fb.pdf", "application/pdf", pdf(100, 3), 422, "invalid_value"),
        ("a kind that is not one", "name=x.pdf&kind=photo", "application/pdf", pdf(100, 3), 422, "invalid_value"),
        ("a line off the checklist", "name=x.pdf&line=99", "application/pdf", pdf(100, 3), 422, "invalid_value"),
        ("a result on a line", "name=x.pdf&kind=result&line=1", "application/pdf", pdf(100, 3), 422, "invalid_value"),
        ("an unknown parameter", "name=x.pdf&owner=me", "application/pdf", pdf(100, 3), 400, "bad_query"),
    ];
    for (what, q, ct, body, status, error) in cases {
        for chunked in [false, true] {
            let a = node.attach(&code, q, ct, &body, chunked);
            assert_eq!((a.status, a.body["error"]["code"].as_str()), (status, Some(error)), "{what}: {a:?}");
        }
    }
    let unknown_code = format!("{}9999", &code[..code.len() - 4]);
    let unknown = node.attach(&unknown_code, "name=x.pdf", "application/pdf", &pdf(100, 3), false);
    assert_eq!((unknown.status, unknown.body["error"]["code"].as_str()), (404, Some("not_found")), "{unknown:?}");
    let path = format!("/api/v1/dossiers/{code}/attachments?name=x.pdf");
    let no_session = node.post_raw_as(Some("not-a-session"), &path, "application/pdf", &pdf(100, 3));
    assert_eq!(no_session.status, 401, "{no_session:?}");

    // Over the limit: announced, and streamed without a length.
    let limit = motcua_domain::attachment::FILE_BYTES_MAX;
    let head = format!(
        "POST /api/v1/dossiers/{code}/attachments?name=big.pdf HTTP/1.1\r\nHost: x\r\nContent-Type: application/pdf\r\nContent-Length: {}",
        limit + 1
    );
    assert_eq!(node.raw_request(&head, || None).0, 413);
    let head = format!(
        "POST /api/v1/dossiers/{code}/attachments?name=big.pdf HTTP/1.1\r\nHost: x\r\nContent-Type: application/pdf\r\nTransfer-Encoding: chunked"
    );
    let mut sent = 0u64;
    let mut first = true;
    let (status, _) = node.raw_request(&head, move || {
        if sent > limit + (1 << 20) {
            return None;
        }
        let mut chunk = vec![0x20u8; 256 * 1024];
        if first {
            chunk[..9].copy_from_slice(b"%PDF-1.7\n");
            first = false;
        }
        sent += chunk.len() as u64;
        let mut out = format!("{:x}\r\n", chunk.len()).into_bytes();
        out.extend_from_slice(&chunk);
        out.extend_from_slice(b"\r\n");
        Some(out)
    });
    assert_eq!(status, 413, "a stream past the limit is cut off");

    assert_eq!(listed(), list_before, "no refused file is listed");
    assert_eq!(stored_files(dir.path()), before, "and none left bytes in the store");
    let d = node.get(&format!("/api/v1/dossiers/{code}")).body;
    assert_eq!(d["attachments"].as_array().unwrap().len(), 1);
}

/// A node whose data directory sits on a small file system of its own.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn new(dir: &Path, mib: u64) -> SmallDisk {
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m,mode=0700"), "tmpfs"])
            .arg(dir)
            .output()
            .expect("run mount");
        assert!(out.status.success(), "mount a tmpfs: {}", String::from_utf8_lossy(&out.stderr));
        SmallDisk(dir.to_path_buf())
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        Command::new("umount").arg("-l").arg(&self.0).status().ok();
    }
}

#[test]
fn a_full_disk_refuses_new_files_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let reserve = motcua::blobs::DISK_RESERVE_BYTES / (1024 * 1024);
    let _disk = SmallDisk::new(dir.path(), reserve + 24);
    let data = dir.path().join("node");
    let mut node = Node::start_logged_in(&data);
    let code = received(&node, 1);
    let first = pdf(3 * 1024 * 1024, 4);
    let a = node.attach(&code, "name=1.pdf&line=1", "application/pdf", &first, false);
    assert_eq!(a.status, 201, "{a:?}");
    // Something else fills the disk up to a few MiB over the reserve.
    let m = node.get("/metrics").body;
    let free = metric(m.as_str().unwrap(), "motcua_attachments_free_bytes");
    std::fs::write(dir.path().join("filler"), vec![0u8; (free - 2 * 1024 * 1024) as usize]).unwrap();
    let before = stored_files(&data);
    let list_before = node.get(&format!("/api/v1/dossiers/{code}/attachments")).body;
    let second = pdf(5 * 1024 * 1024, 5);
    for chunked in [false, true] {
        let framing = if chunked {
            "Transfer-Encoding: chunked".to_string()
        } else {
            format!("Content-Length: {}", second.len())
        };
        let head = format!(
            "POST /api/v1/dossiers/{code}/attachments?name=2.pdf&line=1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/pdf\r\n{framing}"
        );
        let mut left = Some(second.clone());
        let (status, body) = node.raw_request(&head, move || {
            let bytes = left.take()?;
            Some(if chunked {
                let mut out = Vec::new();
                for c in bytes.chunks(64 * 1024) {
                    out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
                    out.extend_from_slice(c);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"0\r\n\r\n");
                out
            } else {
                bytes
            })
        });
        assert_eq!((status, body["error"]["code"].as_str()), (507, Some("disk_full")), "chunked {chunked}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("disk is full"), "{body}");
    }
    assert_eq!(stored_files(&data), before, "nothing of the refused file stays");
    assert_eq!(node.get(&format!("/api/v1/dossiers/{code}/attachments")).body, list_before);
    // The workflow goes on: an action is still recorded.
    let acted = node.act(&code, &json!({"action": "start_processing"}));
    assert_eq!(acted.status, 200, "{acted:?}");
    // With room again, files are taken again; the first is intact.
    std::fs::remove_file(dir.path().join("filler")).unwrap();
    let a = node.attach(&code, "name=2.pdf&line=1", "application/pdf", &pdf(5 * 1024 * 1024, 5), false);
    assert_eq!(a.status, 201, "{a:?}");
    let h = blake3::hash(&first).to_hex().to_string();
    assert!(node.get_bytes(&format!("/api/v1/dossiers/{code}/attachments/{h}")).2 == first);
    node.stop();
}

#[test]
fn the_processed_event_signs_for_its_result_file_by_hash() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_logged_in(dir.path());
    let code = received(&node, 1);
    let started = node.act(&code, &json!({"action": "start_processing"}));
    assert_eq!(started.status, 200, "{started:?}");
    let scan = node.attach(&code, "name=scan.pdf&line=1", "application/pdf", &pdf(20_000, 6), false);
    let result = node.attach(&code, "name=giay-chung-nhan.pdf&kind=result", "application/pdf", &pdf(30_000, 7), false);
    assert_eq!((scan.status, result.status), (201, 201), "{scan:?} {result:?}");
    let (scan, result) = (scan.body["hash"].as_str().unwrap(), result.body["hash"].as_str().unwrap());
    for (named, error) in [(json!(scan), "attach the result file"), (json!("zz"), "64 hex digits")] {
        let a = node.act(&code, &json!({"action": "processed", "result": "Giấy chứng nhận", "result_file": named}));
        assert_eq!((a.status, a.body["error"]["field"].as_str()), (422, Some("result_file")), "{a:?}");
        assert!(a.body["error"]["message"].as_str().unwrap().contains(error), "{a:?}");
    }
    let wrong_action = node.act(&code, &json!({"action": "start_processing", "result_file": result}));
    assert_eq!(wrong_action.status, 422, "{wrong_action:?}");
    let a = node.act(&code, &json!({"action": "processed", "result": "Giấy chứng nhận", "result_file": result}));
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.body["result_file"], result);
    // Without naming it, the result file attached last.
    let other = received(&node, 2);
    node.act(&other, &json!({"action": "start_processing"}));
    let r = node.attach(&other, "name=kq.png&kind=result", "image/png", PNG, false);
    assert_eq!(r.status, 201, "{r:?}");
    let a = node.act(&other, &json!({"action": "processed", "result": "Giấy phép"}));
    assert_eq!((a.status, &a.body["result_file"]), (200, &r.body["hash"]), "{a:?}");
}
