//! Frame decoding under arbitrary bytes: the frame reader, the message
//! decoder and the document-batch decompressor must refuse malformed,
//! oversize and decompression-bomb input with an error, never a panic or
//! an unbounded allocation.
//!
//! `cargo fuzz run frames` (from this directory).

#![no_main]

use libfuzzer_sys::fuzz_target;
use motcua_sync::wire::{FrameReader, Message, decode_batch, decode_message};

fuzz_target!(|data: &[u8]| {
    let _ = decode_message(data);
    let _ = decode_batch(data);
    let mut reader = FrameReader::default();
    // Split the input in two pushes, as a stream arrives in pieces.
    let cut = data.first().map(|b| *b as usize % (data.len() + 1)).unwrap_or(0);
    reader.push(&data[..cut]);
    reader.push(&data[cut..]);
    while let Ok(Some(message)) = reader.next_message() {
        if let Message::Docs(batch) = message {
            let _ = decode_batch(&batch);
        }
    }
});
