use proptest::prelude::*;

use super::*;

fn doc(n: u8, len: usize) -> DocMessage {
    DocMessage { id: [n; 16], body: DocBody::Whole(vec![n; len]), signatures: vec![] }
}

#[test]
fn frames_round_trip_and_split_anywhere() {
    let messages = vec![
        Message::Changed,
        Message::Docs(encode_batch(&[doc(1, 100), doc(2, 200)])),
        Message::Refused("đã thu hồi".into()),
    ];
    let bytes: Vec<u8> = messages.iter().flat_map(encode_frame).collect();
    for split in [1, 3, 4, 5, 17, bytes.len() - 1] {
        let mut r = FrameReader::default();
        let mut got = Vec::new();
        for chunk in bytes.chunks(split) {
            r.push(chunk);
            while let Some(m) = r.next_message().unwrap() {
                got.push(m);
            }
        }
        assert_eq!(got, messages);
    }
}

#[test]
fn an_oversize_or_empty_frame_is_refused_before_reading_it() {
    assert_eq!(
        frame_len(((FRAME_BYTES_MAX + 1) as u32).to_le_bytes()),
        Err(WireError::FrameTooLarge { bytes: FRAME_BYTES_MAX + 1, max: FRAME_BYTES_MAX })
    );
    // A first frame larger than a hello can be is refused at its header.
    let header = ((HELLO_FRAME_BYTES_MAX + 1) as u32).to_le_bytes();
    assert_eq!(
        frame_len_within(header, HELLO_FRAME_BYTES_MAX),
        Err(WireError::FrameTooLarge { bytes: HELLO_FRAME_BYTES_MAX + 1, max: HELLO_FRAME_BYTES_MAX })
    );
    assert_eq!(frame_len(header), Ok(HELLO_FRAME_BYTES_MAX + 1));
    assert_eq!(frame_len(0u32.to_le_bytes()), Err(WireError::EmptyFrame));
    let mut r = FrameReader::default();
    r.push(&u32::MAX.to_le_bytes());
    assert!(matches!(r.next_message(), Err(WireError::FrameTooLarge { .. })));
}

#[test]
fn a_decompression_bomb_is_refused_without_inflating_it() {
    // 64 MiB of zeros compress to a few KB.
    let zeros = vec![0u8; 64 << 20];
    let bomb = zstd::bulk::compress(&zeros, 3).unwrap();
    assert!(bomb.len() < FRAME_BYTES_MAX);
    assert_eq!(decode_batch(&bomb), Err(WireError::DecompressionBomb));
}

#[test]
fn a_batch_announcing_too_many_documents_is_refused_before_any_is_decoded() {
    // A count of 2^40 followed by nothing: decoding the items would fail
    // later as malformed; the count is what refuses it.
    let announced = 1u64 << 40;
    let raw = postcard::to_stdvec(&announced).unwrap();
    let batch = zstd::bulk::compress(&raw, 3).unwrap();
    assert_eq!(decode_batch(&batch), Err(WireError::TooManyDocs(announced as usize)));
    // The same count, in range, with nothing after it is malformed.
    let raw = postcard::to_stdvec(&2u64).unwrap();
    assert!(matches!(decode_batch(&zstd::bulk::compress(&raw, 3).unwrap()), Err(WireError::Malformed(_))));
}

#[test]
fn batch_limits_are_checked() {
    let many: Vec<DocMessage> = (0..=BATCH_DOCS_MAX).map(|n| doc(n as u8, 1)).collect();
    assert_eq!(decode_batch(&encode_batch(&many)), Err(WireError::TooManyDocs(BATCH_DOCS_MAX + 1)));
    let big = doc(1, DOC_BYTES_MAX + 1);
    assert_eq!(decode_batch(&encode_batch(&[big])), Err(WireError::DocTooLarge(DOC_BYTES_MAX + 1)));
    let mut signed = doc(1, 1);
    signed.signatures = vec![ChangeSignature { change: [0; 32], signature: [0; 64] }; SIGNATURES_PER_DOC_MAX + 1];
    assert_eq!(decode_batch(&encode_batch(&[signed])), Err(WireError::TooManySignatures(SIGNATURES_PER_DOC_MAX + 1)));
    assert!(matches!(decode_batch(b"not zstd"), Err(WireError::BadCompression(_))));
    let trailing = zstd::bulk::compress(&[0, 7, 7], 1).unwrap();
    assert!(matches!(decode_batch(&trailing), Err(WireError::Malformed(_))));
}

#[test]
fn batches_close_at_their_target_size() {
    let mut b = BatchBuilder::default();
    let mut closed = 0;
    for n in 0..100 {
        if b.push(doc(n, 10 << 10)).is_some() {
            closed += 1;
        }
    }
    // A batch closes with the document that reaches the target.
    let per_batch = BATCH_TARGET_BYTES.div_ceil(10 << 10);
    assert_eq!(closed, 100 / per_batch);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    /// Arbitrary bytes never panic the decoders.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_message(&bytes);
        let _ = decode_batch(&bytes);
        let mut r = FrameReader::default();
        r.push(&bytes);
        while let Ok(Some(_)) = r.next_message() {}
    }

    /// A valid frame with bytes flipped decodes or is refused, never panics.
    #[test]
    fn corrupted_frames_never_panic(flips in proptest::collection::vec((0usize..4096, any::<u8>()), 1..8)) {
        let mut frame = encode_frame(&Message::Docs(encode_batch(&[doc(1, 300), doc(2, 50)])));
        for (at, x) in flips {
            let i = at % frame.len();
            frame[i] ^= x;
        }
        let mut r = FrameReader::default();
        r.push(&frame);
        if let Ok(Some(Message::Docs(b))) = r.next_message() {
            let _ = decode_batch(&b);
        }
    }
}

#[test]
fn a_padded_certificate_is_refused_on_the_wire() {
    let big = vec![b' '; CERTIFICATE_BYTES_MAX + 1];
    for m in [
        Message::Certificates(vec![b"{}".to_vec(), big.clone()]),
        Message::Hello(Hello { version: PROTOCOL_VERSION, certificate: big.clone(), revocations_sequence: 0 }),
    ] {
        let frame = encode_frame(&m);
        assert!(matches!(decode_message(&frame[4..]), Err(WireError::CertificateTooLarge(n)) if n == big.len()));
    }
    let fits = Message::Certificates(vec![vec![b' '; CERTIFICATE_BYTES_MAX]]);
    assert!(decode_message(&encode_frame(&fits)[4..]).is_ok());
}
