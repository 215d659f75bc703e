//! What travels between two nodes on a sync connection: length-prefixed
//! frames, each one postcard-encoded [`Message`]. Dossier documents travel
//! in zstd-compressed batches, so that field names, procedure names and
//! place names repeated across dossiers cost their bytes once per batch.
//!
//! Every size is bounded by a named limit and checked before anything is
//! allocated or decompressed: a malformed, oversize or decompression-bomb
//! frame is an error, never a panic or an unbounded allocation.

use std::io::Read;

use serde::{Deserialize, Serialize};

use crate::reconcile;

/// The iroh application protocol of motcua sync, version 1.
pub const ALPN: &[u8] = b"motcua/sync/1";
/// Version carried in [`Hello`]; a peer speaking another one is refused.
pub const PROTOCOL_VERSION: u16 = 1;

/// Largest frame (one encoded message) accepted on the wire.
pub const FRAME_BYTES_MAX: usize = 8 << 20;
/// Largest first frame (the [`Hello`]): a certificate and a few numbers.
/// Until its certificate is admitted, a peer gets no more of this node's
/// memory than this.
pub const HELLO_FRAME_BYTES_MAX: usize = 16 << 10;
/// Largest batch of documents once decompressed.
pub const BATCH_DECOMPRESSED_MAX: usize = 32 << 20;
/// Largest single document (saved bytes or sync message) in a batch.
pub const DOC_BYTES_MAX: usize = 4 << 20;
/// Most documents in one batch.
pub const BATCH_DOCS_MAX: usize = 256;
/// A batch is closed once its documents reach this many bytes before
/// compression: small enough that a thin link makes steady, durable
/// progress, large enough for compression to find repeats.
pub const BATCH_TARGET_BYTES: usize = 64 << 10;
/// Most signatures carried with one document.
pub const SIGNATURES_PER_DOC_MAX: usize = 256;
/// Most certificates in one message.
pub const CERTIFICATES_MAX: usize = 4096;
/// Largest certificate (signed JSON) on the wire: a real one is under
/// 1 KiB; padding one with unknown fields gains nothing.
pub const CERTIFICATE_BYTES_MAX: usize = 4 << 10;
/// A message of certificates is cut at about this many bytes.
pub const CERTIFICATES_BYTES_TARGET: usize = 1 << 20;
/// Most documents sent to a peer and not yet acknowledged.
pub const DOCS_IN_FLIGHT_MAX: usize = 2048;
/// Longest refusal reason carried on the wire.
pub const REASON_CHARS_MAX: usize = 512;

/// zstd level for document batches: fast, and on dossiers within a few
/// percent of the higher levels.
const ZSTD_LEVEL: i32 = 3;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    #[error("frame of {bytes} bytes exceeds the limit of {max}")]
    FrameTooLarge { bytes: usize, max: usize },
    #[error("empty frame")]
    EmptyFrame,
    #[error("malformed message: {0}")]
    Malformed(String),
    #[error("document batch decompresses beyond {BATCH_DECOMPRESSED_MAX} bytes")]
    DecompressionBomb,
    #[error("document batch is not valid zstd: {0}")]
    BadCompression(String),
    #[error("document batch holds {0} documents; the limit is {BATCH_DOCS_MAX}")]
    TooManyDocs(usize),
    #[error("document of {0} bytes exceeds the limit of {DOC_BYTES_MAX}")]
    DocTooLarge(usize),
    #[error("document carries {0} signatures; the limit is {SIGNATURES_PER_DOC_MAX}")]
    TooManySignatures(usize),
    #[error("{0} certificates in one message; the limit is {CERTIFICATES_MAX}")]
    TooManyCertificates(usize),
    #[error("a certificate of {0} bytes; the limit is {CERTIFICATE_BYTES_MAX}")]
    CertificateTooLarge(usize),
}

/// The first message on each side: who this node is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub version: u16,
    /// The node's certificate signed by the province root (JSON).
    pub certificate: Vec<u8>,
    /// Sequence of the newest revocation list the node holds.
    pub revocations_sequence: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    Hello(Hello),
    /// Certificates (signed JSON) of nodes whose changes follow.
    Certificates(Vec<Vec<u8>>),
    /// The newest signed revocation list (JSON), sent to a peer that holds
    /// an older one.
    Revocations(Vec<u8>),
    /// One message of a reconciliation round; only the dialing side starts
    /// rounds.
    Reconcile {
        round: u32,
        message: reconcile::RangeMessage,
    },
    /// From the accepting side: it has changes, please start a round.
    Changed,
    /// A zstd-compressed batch of [`DocMessage`]s.
    Docs(Vec<u8>),
    /// What became of each document of a received batch.
    Applied(Vec<Applied>),
    /// The sender closes the connection for this reason.
    Refused(String),
}

/// A signature on a change; the signer is the change's actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeSignature {
    pub change: [u8; 32],
    #[serde(with = "crate::attest::sig_bytes")]
    pub signature: [u8; 64],
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DocBody {
    /// The whole document (`Automerge::save`), for a peer that lacks it.
    Whole(Vec<u8>),
    /// An Automerge sync message, for a peer that holds another version.
    Sync(Vec<u8>),
    /// The changes since heads the peer acknowledged holding
    /// (`Automerge::save_after`).
    Changes(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocMessage {
    pub id: [u8; 16],
    pub body: DocBody,
    /// Signatures on the latest change of each actor in the body.
    pub signatures: Vec<ChangeSignature>,
}

impl DocMessage {
    fn bytes(&self) -> usize {
        match &self.body {
            DocBody::Whole(b) | DocBody::Sync(b) | DocBody::Changes(b) => b.len(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    /// Stored (or already held); the digest of the receiver's heads now.
    Holds([u8; 16]),
    /// Not stored, and why.
    Refused(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    pub id: [u8; 16],
    pub verdict: Verdict,
}

/// Encodes a message as one frame: a 4-byte little-endian length, then the
/// postcard bytes.
pub fn encode_frame(message: &Message) -> Vec<u8> {
    let body = postcard::to_allocvec(message).expect("messages serialize");
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// Reads a frame header: the length of the body that follows.
pub fn frame_len(header: [u8; 4]) -> Result<usize, WireError> {
    frame_len_within(header, FRAME_BYTES_MAX)
}

/// The length of the frame `header` announces, if within `max` bytes
/// ([`HELLO_FRAME_BYTES_MAX`] for a connection's first frame).
pub fn frame_len_within(header: [u8; 4], max: usize) -> Result<usize, WireError> {
    let n = u32::from_le_bytes(header) as usize;
    if n == 0 {
        return Err(WireError::EmptyFrame);
    }
    if n > max {
        return Err(WireError::FrameTooLarge { bytes: n, max });
    }
    Ok(n)
}

/// Decodes a frame body and checks the limits of what it carries.
pub fn decode_message(body: &[u8]) -> Result<Message, WireError> {
    if body.len() > FRAME_BYTES_MAX {
        return Err(WireError::FrameTooLarge { bytes: body.len(), max: FRAME_BYTES_MAX });
    }
    let (message, rest): (Message, &[u8]) =
        postcard::take_from_bytes(body).map_err(|e| WireError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(WireError::Malformed(format!("{} bytes after the message", rest.len())));
    }
    if let Message::Certificates(c) = &message
        && c.len() > CERTIFICATES_MAX
    {
        return Err(WireError::TooManyCertificates(c.len()));
    }
    let certificates: &[Vec<u8>] = match &message {
        Message::Certificates(c) => c,
        Message::Hello(h) => std::slice::from_ref(&h.certificate),
        _ => &[],
    };
    if let Some(big) = certificates.iter().find(|c| c.len() > CERTIFICATE_BYTES_MAX) {
        return Err(WireError::CertificateTooLarge(big.len()));
    }
    Ok(message)
}

/// Splits a byte stream into messages (for drivers that read in chunks).
#[derive(Debug, Default)]
pub struct FrameReader {
    buf: Vec<u8>,
}

impl FrameReader {
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole message, if one has arrived. An error leaves the
    /// stream unusable: the connection must be closed.
    pub fn next_message(&mut self) -> Result<Option<Message>, WireError> {
        if self.buf.len() < 4 {
            return Ok(None);
        }
        let n = frame_len(self.buf[..4].try_into().expect("4 bytes"))?;
        if self.buf.len() < 4 + n {
            return Ok(None);
        }
        let message = decode_message(&self.buf[4..4 + n]);
        self.buf.drain(..4 + n);
        message.map(Some)
    }
}

/// Compresses a batch of documents.
pub fn encode_batch(docs: &[DocMessage]) -> Vec<u8> {
    let raw = postcard::to_allocvec(docs).expect("documents serialize");
    zstd::bulk::compress(&raw, ZSTD_LEVEL).expect("zstd compresses in memory")
}

/// Decompresses and checks a batch, never inflating beyond
/// [`BATCH_DECOMPRESSED_MAX`].
pub fn decode_batch(compressed: &[u8]) -> Result<Vec<DocMessage>, WireError> {
    let decoder = zstd::stream::read::Decoder::new(compressed).map_err(|e| WireError::BadCompression(e.to_string()))?;
    let mut raw = Vec::new();
    decoder
        .take(BATCH_DECOMPRESSED_MAX as u64 + 1)
        .read_to_end(&mut raw)
        .map_err(|e| WireError::BadCompression(e.to_string()))?;
    if raw.len() > BATCH_DECOMPRESSED_MAX {
        return Err(WireError::DecompressionBomb);
    }
    // The count first (postcard's varint length of the sequence): a batch
    // announcing too many documents is refused before any is decoded.
    let (count, _): (u64, &[u8]) = postcard::take_from_bytes(&raw).map_err(|e| WireError::Malformed(e.to_string()))?;
    if count > BATCH_DOCS_MAX as u64 {
        return Err(WireError::TooManyDocs(usize::try_from(count).unwrap_or(usize::MAX)));
    }
    let (docs, rest): (Vec<DocMessage>, &[u8]) =
        postcard::take_from_bytes(&raw).map_err(|e| WireError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(WireError::Malformed(format!("{} bytes after the batch", rest.len())));
    }
    for d in &docs {
        if d.bytes() > DOC_BYTES_MAX {
            return Err(WireError::DocTooLarge(d.bytes()));
        }
        if d.signatures.len() > SIGNATURES_PER_DOC_MAX {
            return Err(WireError::TooManySignatures(d.signatures.len()));
        }
    }
    Ok(docs)
}

/// Collects documents into batches of bounded size.
#[derive(Debug, Default)]
pub struct BatchBuilder {
    docs: Vec<DocMessage>,
    bytes: usize,
}

impl BatchBuilder {
    /// Adds a document; returns a full batch when this one closes it.
    pub fn push(&mut self, doc: DocMessage) -> Option<Vec<DocMessage>> {
        self.bytes += doc.bytes() + 96 * doc.signatures.len();
        self.docs.push(doc);
        (self.docs.len() >= BATCH_DOCS_MAX || self.bytes >= BATCH_TARGET_BYTES).then(|| self.take())
    }

    pub fn take(&mut self) -> Vec<DocMessage> {
        self.bytes = 0;
        std::mem::take(&mut self.docs)
    }

    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }
}

#[cfg(test)]
mod tests;
