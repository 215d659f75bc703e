//! A dossier's files (CONTRACT.md "Attachments"): scanned components
//! (thành phần hồ sơ số hóa) and electronic results (kết quả điện tử).
//!
//! An upload is checked whole before its first byte is read (the
//! session, the dossier, the officer's right to attach in its state, the
//! name, the line, the dossier's limits), then streamed to the node's file
//! store ([`crate::blobs`]) with its size counted and its type judged by
//! its bytes, and only then recorded in the dossier by a signed change.

use axum::body::Body as RawBody;
use motcua_desk::attach::{AttachRequest, HeldFile};
use motcua_domain::attachment::{FILE_BYTES_MAX, Kind, MediaError};

use super::dossiers::check_code;
use super::*;
use crate::blobs::{Held, ImportError};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AttachParams {
    name: Option<String>,
    kind: Option<String>,
    /// For a component: its checklist line, from 1.
    line: Option<String>,
}

/// What the node answers for a file.
#[derive(Serialize)]
pub struct FileView {
    pub hash: String,
    pub size: u64,
    pub media_type: &'static str,
    pub name: String,
    pub kind: &'static str,
    /// The checklist line (from 1) a component digitizes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
}

impl From<ImportError> for ApiError {
    fn from(e: ImportError) -> Self {
        let m = e.to_string();
        match e {
            ImportError::TooLarge { .. } => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", m),
            ImportError::Media(MediaError::NotTaken(_)) => {
                ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", m)
            }
            ImportError::Media(MediaError::NotThatType { .. }) => {
                ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "not_that_type", m)
            }
            ImportError::Empty => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "empty_file", m),
            ImportError::DiskFull { .. } => ApiError::new(StatusCode::INSUFFICIENT_STORAGE, "disk_full", m),
            ImportError::Body(_) => ApiError::new(StatusCode::BAD_REQUEST, "unreadable_body", m),
            ImportError::Store(_) => {
                tracing::error!(error = %m, "attachments' store failure");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "store_error", m)
            }
        }
    }
}

fn attach_request(p: AttachParams) -> Result<AttachRequest, ApiError> {
    let bad = |field: &str, m: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", m).field(field);
    let name = p.name.ok_or_else(|| bad("name", "name the file (name=...)".into()))?;
    let kind = match p.kind.as_deref() {
        None => Kind::Component,
        Some(k) => Kind::parse(k).ok_or_else(|| bad("kind", format!("kind is component or result, not '{k}'")))?,
    };
    let line = match p.line.as_deref().map(str::trim).filter(|l| !l.is_empty()) {
        None => None,
        Some(l) => {
            Some(l.parse::<u32>().map_err(|_| bad("line", format!("line is a checklist line number, not '{l}'")))?)
        }
    };
    Ok(AttachRequest { name, kind, line })
}

pub(super) async fn upload(
    State(state): State<AppState>,
    Officer(officer): Officer,
    code: PathParam,
    params: QueryParams<AttachParams>,
    headers: HeaderMap,
    body: RawBody,
) -> Result<Response, ApiError> {
    let mut body = body.into_data_stream();
    let taken = take(&state, officer, code, params, &headers, &mut body).await;
    if taken.is_err() {
        drain(&mut body).await;
    }
    taken
}

/// Bytes of a refused upload still read, so that a small request gets its
/// answer over a cleanly closed connection rather than a reset.
const DRAIN_BYTES_MAX: usize = 1024 * 1024;

async fn drain(body: &mut axum::body::BodyDataStream) {
    use futures_util::StreamExt;
    let mut read = 0;
    let reading = async {
        while let Some(Ok(chunk)) = body.next().await {
            read += chunk.len();
            if read > DRAIN_BYTES_MAX {
                break;
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(2), reading).await.ok();
}

async fn take(
    state: &AppState,
    officer: motcua_desk::desk::Officer,
    code: PathParam,
    params: QueryParams<AttachParams>,
    headers: &HeaderMap,
    body: &mut axum::body::BodyDataStream,
) -> Result<Response, ApiError> {
    let code = path(code)?;
    check_code(&code)?;
    let req = attach_request(query(params)?)?;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    let (st, o, c, r) = (state.clone(), officer.clone(), code.clone(), req.clone());
    let room = blocking(move || Ok(st.desk.check_attach(&o, &c, &r, now_ms())?)).await?;
    // The file's limit, or what the dossier still has room for.
    let limit = FILE_BYTES_MAX.min(room.bytes_left);
    let imported = state.blobs.import(&content_type, declared, body, limit).await?;
    let held = HeldFile { hash: imported.hash, size: imported.size, media_type: imported.media_type };
    let st = state.clone();
    let done = blocking(move || Ok(st.desk.attach(&officer, &code, req, held, now_ms())?)).await?;
    // Recorded: the dossier's reference now keeps the bytes.
    state.blobs.recorded(imported.hash);
    state.blobs.record_source(imported.hash, &state.desk.config().unit).await;
    drop(imported.tag);
    let status = if done.new { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(file_view(&done.attachment.file))).into_response())
}

fn file_view(f: &motcua_domain::attachment::File) -> FileView {
    FileView {
        hash: hex::encode(f.hash),
        size: f.size,
        media_type: f.media_type.as_str(),
        name: f.name.clone(),
        kind: f.kind.as_str(),
        line: f.document_line,
    }
}

#[derive(Serialize)]
pub struct AttachmentView {
    #[serde(flatten)]
    pub file: FileView,
    /// This node holds every byte, verified.
    pub held: bool,
    /// Verified bytes this node holds.
    pub held_bytes: u64,
    /// The provincial node is known to hold every byte.
    pub at_province: bool,
    pub by: String,
    pub unit: String,
    pub at: String,
}

pub(super) async fn list(
    State(state): State<AppState>,
    Officer(_officer): Officer,
    code: PathParam,
) -> Result<Response, ApiError> {
    let code = path(code)?;
    check_code(&code)?;
    let st = state.clone();
    let files = blocking(move || Ok(st.desk.attachments(&code)?)).await?;
    let province = state.desk.config().role == motcua_desk::config::NodeRole::Province;
    let mut out = Vec::with_capacity(files.len());
    for a in files {
        let held_bytes = state.blobs.bytes_held(a.file.hash).await;
        let held = state.blobs.held(a.file.hash).await == Held::Complete;
        out.push(AttachmentView {
            file: file_view(&a.file),
            held,
            held_bytes: if held { a.file.size } else { held_bytes.min(a.file.size) },
            at_province: if province { held } else { state.blobs.at_province(a.file.hash).await },
            by: a.by,
            unit: a.unit,
            at: motcua_desk::desk::rfc3339(a.at, state.desk.offset()),
        });
    }
    Ok(Json(out).into_response())
}

/// The file's bytes, when this node holds them all; 404 when it holds
/// none or some, or the dossier keeps no such file.
pub(super) async fn download(
    State(state): State<AppState>,
    Officer(officer): Officer,
    params: Result<Path<(String, String)>, axum::extract::rejection::PathRejection>,
) -> Result<Response, ApiError> {
    let Path((code, hash)) = params.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_path", e.body_text()))?;
    check_code(&code)?;
    let not_held = || ApiError::new(StatusCode::NOT_FOUND, "not_found", "this node holds no such file of this dossier");
    let mut h = [0u8; 32];
    hex::decode_to_slice(hash.trim(), &mut h).map_err(|_| not_held())?;
    let (st, c) = (state.clone(), code.clone());
    let files = blocking(move || Ok(st.desk.attachments(&c)?)).await?;
    let file = files.into_iter().map(|a| a.file).find(|f| f.hash == h).ok_or_else(not_held)?;
    if state.blobs.held(h).await != Held::Complete {
        return Err(not_held());
    }
    let (who, what) = (officer.username.clone(), code.clone());
    state.desk.committer().submit_lazy(move |w| motcua_desk::desk::audit(w, now_ms(), &who, "read_file", &what));
    let reader = state.blobs.store().reader(iroh_blobs::Hash::from_bytes(h));
    let body = RawBody::from_stream(tokio_util::io::ReaderStream::new(reader));
    let mut res = Response::new(body);
    let hs = res.headers_mut();
    hs.insert(header::CONTENT_TYPE, HeaderValue::from_static(file.media_type.as_str()));
    hs.insert(header::CONTENT_LENGTH, HeaderValue::from(file.size));
    hs.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    hs.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    // Opened in the browser; the name is the officer's, so only its ASCII
    // fallback goes in the plain parameter.
    let ascii: String =
        file.name.chars().map(|c| if c.is_ascii_alphanumeric() || ".-_ ".contains(c) { c } else { '_' }).collect();
    let encoded: String = file
        .name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    if let Ok(v) = HeaderValue::from_str(&format!("inline; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")) {
        hs.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}
