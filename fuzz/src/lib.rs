//! What the fuzz targets share: the Avro round-trip property and the single-object header.

use std::fmt::Debug;

use dl_schema::Codec;
use serde::{de::DeserializeOwned, Serialize};

/// `data` behind `codec`'s single-object header (`C3 01` + fingerprint): the fuzzer rarely
/// guesses a fingerprint, so every target also decodes its input as a datum.
pub fn framed<T: Serialize + DeserializeOwned>(codec: &Codec<T>, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(10 + data.len());
    out.extend_from_slice(&[0xC3, 0x01]);
    out.extend_from_slice(&codec.fingerprint().to_le_bytes());
    out.extend_from_slice(data);
    out
}

/// Decodes `bytes`; a value that decodes must encode again and decode to the same value.
/// Returns the value when it decoded.
pub fn round_trip<T>(codec: &Codec<T>, bytes: &[u8]) -> Option<T>
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let value = codec.decode(bytes).ok()?;
    let again = codec
        .encode(&value)
        .unwrap_or_else(|e| panic!("a decoded value does not encode: {e}: {value:?}"));
    let back = codec
        .decode(&again)
        .unwrap_or_else(|e| panic!("a re-encoded value does not decode: {e}: {value:?}"));
    assert_eq!(back, value, "decode(encode(decode(x))) != decode(x)");
    Some(value)
}
