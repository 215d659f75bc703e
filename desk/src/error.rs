//! Why a node's data directory, bundle or files could not be used.

/// Why a data directory could not be opened as a node, in words for the
/// technician who runs it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct OpenError(pub String);

impl OpenError {
    pub fn new(message: String) -> OpenError {
        OpenError(message)
    }
}

impl From<motcua_store::StoreError> for OpenError {
    fn from(e: motcua_store::StoreError) -> Self {
        OpenError(e.to_string())
    }
}

impl From<postcard::Error> for OpenError {
    fn from(e: postcard::Error) -> Self {
        OpenError(e.to_string())
    }
}

impl From<serde_json::Error> for OpenError {
    fn from(e: serde_json::Error) -> Self {
        OpenError(e.to_string())
    }
}
