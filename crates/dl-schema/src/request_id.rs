//! The one rule for `request_id`, for every entrance (Kafka and HTTP).
//!
//! A request id is **1 to 128 characters from `A-Z a-z 0-9 - _ . :`** (so at most 128 bytes).
//!
//! Why this set and not "any printable ASCII", which the worker accepted before: a request id is
//! the caller's nonce and travels everywhere unescaped: in the gateway's result link
//! (`/v1/decisions?request_id=...`) and query, as the Kafka key of the result, in replay-protection
//! keys, in the ledger, in log lines and in exports. These characters need no escaping in any of
//! them (`&`, `#`, `%`, `+`, `/`, `?`, quotes and `=` all do somewhere). UUIDs, ULIDs and ids such
//! as `crm:case-1234.v2` fit. It was already the HTTP rule (and the OpenAPI pattern), so no HTTP
//! caller changes; a Kafka producer that used other punctuation now gets `REQUEST_ID_INVALID`.

use thiserror::Error;

/// The longest valid request id, in characters (and bytes: every allowed character is ASCII).
pub const MAX_LEN: usize = 128;

/// Why a request id is refused (code `REQUEST_ID_INVALID`). The message never quotes the id.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RequestIdError {
    /// The id is empty.
    #[error("request_id is empty; it must be 1 to {MAX_LEN} characters of A-Z a-z 0-9 - _ . :")]
    Empty,
    /// The id is longer than [`MAX_LEN`] bytes.
    #[error(
        "request_id is {0} bytes long; it must be 1 to {MAX_LEN} characters of A-Z a-z 0-9 - _ . :"
    )]
    TooLong(usize),
    /// The id holds a character outside the allowed set (at this character index).
    #[error("request_id has a character other than A-Z a-z 0-9 - _ . : at position {0}")]
    BadCharacter(usize),
}

/// The stable rejection code of an invalid request id.
pub const CODE: &str = "REQUEST_ID_INVALID";

/// Whether `c` may appear in a request id.
pub fn is_allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')
}

/// Checks `id` against the rule of this module.
pub fn validate(id: &str) -> Result<(), RequestIdError> {
    if id.is_empty() {
        return Err(RequestIdError::Empty);
    }
    if id.len() > MAX_LEN {
        return Err(RequestIdError::TooLong(id.len()));
    }
    match id.chars().position(|c| !is_allowed(c)) {
        Some(at) => Err(RequestIdError::BadCharacter(at)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_set() {
        for ok in [
            "a",
            "req-1",
            "a-1_b.c:d",
            "0f8fad5b-d9cb-469f-a165-70867728950e",
            "01ARZ3NDEKTSV4RRFFQ69G5FAV",
            "crm:case-1234.v2",
        ] {
            assert_eq!(validate(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn empty() {
        assert_eq!(validate(""), Err(RequestIdError::Empty));
    }

    #[test]
    fn the_maximum_length_and_one_more() {
        assert_eq!(validate(&"x".repeat(MAX_LEN)), Ok(()));
        assert_eq!(
            validate(&"x".repeat(MAX_LEN + 1)),
            Err(RequestIdError::TooLong(MAX_LEN + 1))
        );
    }

    #[test]
    fn control_characters() {
        for bad in ["a\u{0}b", "a\nb", "tab\there", "del\u{7f}", "c1\u{85}"] {
            assert!(
                matches!(validate(bad), Err(RequestIdError::BadCharacter(_))),
                "{bad:?}"
            );
        }
        assert_eq!(validate("ab\n"), Err(RequestIdError::BadCharacter(2)));
    }

    #[test]
    fn non_ascii() {
        assert_eq!(validate("päätös"), Err(RequestIdError::BadCharacter(1)));
        assert_eq!(validate("🙂"), Err(RequestIdError::BadCharacter(0)));
        // Length counts bytes: 43 × 3-byte characters is over the limit before the set is checked.
        assert_eq!(validate(&"€".repeat(43)), Err(RequestIdError::TooLong(129)));
    }

    #[test]
    fn printable_ascii_outside_the_set() {
        for bad in [
            "bad id with spaces",
            "a/b",
            "a&b",
            "a#b",
            "a%20",
            "a+b",
            "a?b",
            "a=b",
            "\"q\"",
            "a'b",
            "<a>",
        ] {
            assert!(
                matches!(validate(bad), Err(RequestIdError::BadCharacter(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn messages_never_quote_the_id() {
        let secret = "secret personal data";
        let message = validate(secret).unwrap_err().to_string();
        assert!(!message.contains("secret"), "{message}");
    }
}
