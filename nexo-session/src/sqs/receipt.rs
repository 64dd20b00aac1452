//! Receipt handles: the message id and the delivery token of one delivery, as 48 lower-case hex
//! digits (16 id bytes, then the token big-endian). The engine decides whether a token is the
//! message's current delivery; this module only writes and reads the text.

use super::error::{ErrorCode, SqsError};
use super::message::hex;

/// Length of a receipt handle.
pub const RECEIPT_HANDLE_CHARS: usize = 48;

/// The receipt handle of delivery `token` of message `id`.
pub fn encode_receipt(id: &[u8; 16], token: u64) -> String {
    let mut bytes = [0u8; 24];
    bytes[..16].copy_from_slice(id);
    bytes[16..].copy_from_slice(&token.to_be_bytes());
    hex(&bytes)
}

/// The message id and delivery token a receipt handle names.
///
/// # Errors
/// `ReceiptHandleIsInvalid` for text that is not a handle this server wrote.
pub fn decode_receipt(handle: &str) -> Result<([u8; 16], u64), SqsError> {
    let invalid = || {
        SqsError::new(
            ErrorCode::ReceiptHandleIsInvalid,
            format!(
                "The input receipt handle \"{}\" is not a valid receipt handle.",
                handle.chars().take(64).collect::<String>()
            ),
        )
    };
    if handle.len() != RECEIPT_HANDLE_CHARS || !handle.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid());
    }
    let mut bytes = [0u8; 24];
    for (i, pair) in handle.as_bytes().chunks(2).enumerate() {
        let text = std::str::from_utf8(pair).map_err(|_| invalid())?;
        bytes[i] = u8::from_str_radix(text, 16).map_err(|_| invalid())?;
    }
    let mut id = [0u8; 16];
    id.copy_from_slice(&bytes[..16]);
    let mut token = [0u8; 8];
    token.copy_from_slice(&bytes[16..]);
    Ok((id, u64::from_be_bytes(token)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_round_trip_and_refuse_foreign_text() {
        let id = [0xAB; 16];
        let handle = encode_receipt(&id, 0x0102_0304_0506_0708);
        assert_eq!(handle.len(), RECEIPT_HANDLE_CHARS);
        assert!(handle.ends_with("0102030405060708"));
        assert_eq!(decode_receipt(&handle).unwrap(), (id, 0x0102_0304_0506_0708));
        for bad in ["", "xyz", &handle[1..], &format!("{}g", &handle[1..]), &format!("{handle}00")] {
            assert_eq!(decode_receipt(bad).map_err(|e| e.code), Err(ErrorCode::ReceiptHandleIsInvalid));
        }
    }
}
