//! Base64 values (`format: byte` in the API's schema): decoded, when they
//! decode to text, so that inspection reads what the application will.

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};

/// Largest base64 value decoded (the gateway's body limits bound it too).
const MAX_ENCODED: usize = 1 << 20;

/// Standard and URL-safe alphabets, padding optional.
const LENIENT: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const STANDARD: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, LENIENT);
const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, LENIENT);

/// What `value` decodes to, when it is base64 (either alphabet, padded or
/// not, blanks and line breaks ignored) of UTF-8 text; `None` for binary
/// content (an image, a key) or a value that is not base64.
pub fn decode_text(value: &str) -> Option<String> {
    if value.len() > MAX_ENCODED {
        return None;
    }
    let compact: String = value.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let bytes = STANDARD
        .decode(&compact)
        .or_else(|_| URL_SAFE.decode(&compact))
        .ok()?;
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose;

    #[test]
    fn text_is_decoded_binary_is_not() {
        let enc = general_purpose::STANDARD.encode("1' OR '1'='1");
        assert_eq!(decode_text(&enc).as_deref(), Some("1' OR '1'='1"));
        let url = general_purpose::URL_SAFE_NO_PAD.encode("<script>alert(1)</script>??>");
        assert_eq!(
            decode_text(&url).as_deref(),
            Some("<script>alert(1)</script>??>")
        );
        assert_eq!(
            decode_text(&general_purpose::STANDARD.encode([0xff, 0xd8, 0xff, 0xe0])),
            None
        );
        assert_eq!(decode_text("not base64!"), None);
    }
}
