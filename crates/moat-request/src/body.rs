//! A request body parsed once, by its media type.

use serde_json::Value;

use crate::json::{self, JsonError, JsonLimits};
use crate::media::MediaType;
use crate::multipart::{self, MultipartError, MultipartLimits, Part};
use crate::query::Query;

/// The limits a body is parsed under.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BodyLimits {
    /// JSON shape limits.
    pub json: JsonLimits,
    /// Multipart limits.
    pub multipart: MultipartLimits,
}

/// A body as every control reads it. Text, XML and GraphQL documents are
/// read from the bytes by their own parsers (each once); binary bodies are
/// not parsed.
#[derive(Debug, Clone, PartialEq)]
pub enum ParsedBody {
    /// No bytes.
    Empty,
    /// A JSON document (`application/json`, `*+json`).
    Json(Value),
    /// An HTML form (`application/x-www-form-urlencoded`).
    Form(Query),
    /// `multipart/form-data` parts.
    Multipart(Vec<Part>),
    /// `text/*`.
    Text,
    /// `*/xml`, `*+xml`.
    Xml,
    /// `application/graphql`.
    Graphql,
    /// Anything else, or no media type.
    Opaque,
}

/// Why a body cannot be read one way only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// Not one unambiguous JSON document within the shape limits.
    #[error("the JSON body breaks {0}")]
    Json(JsonError),
    /// A form body with a malformed escape or text that is not UTF-8.
    #[error("the form body is not valid percent-encoding")]
    FormEncoding,
    /// A multipart body that frameworks would read differently.
    #[error("{0}")]
    Multipart(MultipartError),
}

impl BodyError {
    /// Why the body has two readings (the detail of a refusal as
    /// ambiguous), or `None` when it is merely not what it claims to be
    /// (broken JSON, a shape limit, a malformed escape).
    pub fn ambiguity(&self) -> Option<&'static str> {
        match self {
            BodyError::Json(j) if j.rule == crate::json::JsonRule::DuplicateKey => {
                Some("a JSON object gives the same key twice")
            }
            BodyError::Multipart(MultipartError::Framing) => {
                Some("the multipart body has a boundary that is not on its own CRLF line")
            }
            BodyError::Multipart(MultipartError::Boundary) => {
                Some("the multipart boundary is missing or invalid")
            }
            BodyError::Multipart(MultipartError::Repeated(_)) => {
                Some("a multipart part gives a header or parameter twice")
            }
            BodyError::Multipart(_) => Some("the multipart body is malformed"),
            BodyError::Json(_) | BodyError::FormEncoding => None,
        }
    }
}

/// How a body of a media type is read: which variant of [`ParsedBody`]
/// [`ParsedBody::parse`] gives for a non-empty body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// JSON.
    Json,
    /// An HTML form.
    Form,
    /// `multipart/form-data`.
    Multipart,
    /// `text/*`.
    Text,
    /// XML.
    Xml,
    /// `application/graphql`.
    Graphql,
    /// Anything else: not parsed.
    Opaque,
}

impl BodyKind {
    /// The kind of a body of `media`.
    pub fn of(media: &MediaType) -> BodyKind {
        if media.is_json() {
            BodyKind::Json
        } else if media.is_form() {
            BodyKind::Form
        } else if media.essence() == "multipart/form-data" {
            BodyKind::Multipart
        } else if media.is_xml() {
            BodyKind::Xml
        } else if media.essence() == "application/graphql" {
            BodyKind::Graphql
        } else if media.is_text() {
            BodyKind::Text
        } else {
            BodyKind::Opaque
        }
    }
}

impl ParsedBody {
    /// Parses `bytes` as `media` says.
    pub fn parse(
        media: Option<&MediaType>,
        bytes: &[u8],
        limits: &BodyLimits,
    ) -> Result<ParsedBody, BodyError> {
        if bytes.is_empty() {
            return Ok(ParsedBody::Empty);
        }
        let Some(media) = media else {
            return Ok(ParsedBody::Opaque);
        };
        match BodyKind::of(media) {
            BodyKind::Json => json::parse(bytes, &limits.json)
                .map(ParsedBody::Json)
                .map_err(BodyError::Json),
            BodyKind::Form => {
                let form = Query::parse_form(bytes);
                if form.is_malformed() {
                    return Err(BodyError::FormEncoding);
                }
                Ok(ParsedBody::Form(form))
            }
            BodyKind::Multipart => {
                let boundary = media
                    .param("boundary")
                    .ok_or(BodyError::Multipart(MultipartError::Boundary))?;
                multipart::parse(bytes, boundary, &limits.multipart)
                    .map(ParsedBody::Multipart)
                    .map_err(BodyError::Multipart)
            }
            BodyKind::Xml => Ok(ParsedBody::Xml),
            BodyKind::Graphql => Ok(ParsedBody::Graphql),
            BodyKind::Text => Ok(ParsedBody::Text),
            BodyKind::Opaque => Ok(ParsedBody::Opaque),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(ct: &str, body: &[u8]) -> Result<ParsedBody, BodyError> {
        let media = MediaType::parse(ct).unwrap();
        ParsedBody::parse(Some(&media), body, &BodyLimits::default())
    }

    #[test]
    fn each_media_type_is_read_once_its_way() {
        assert!(matches!(
            parse("application/json", b"{\"a\":1}"),
            Ok(ParsedBody::Json(_))
        ));
        assert!(matches!(
            parse("application/merge-patch+json", b"{\"a\":1,\"a\":2}"),
            Err(BodyError::Json(_))
        ));
        assert!(matches!(
            parse("application/x-www-form-urlencoded", b"a=1&b=2"),
            Ok(ParsedBody::Form(_))
        ));
        assert_eq!(
            parse("application/x-www-form-urlencoded", b"a=%zz"),
            Err(BodyError::FormEncoding)
        );
        assert_eq!(
            parse("multipart/form-data", b"--x\r\n\r\n--x--"),
            Err(BodyError::Multipart(MultipartError::Boundary))
        );
        assert_eq!(parse("text/plain", b"hi"), Ok(ParsedBody::Text));
        assert_eq!(parse("application/soap+xml", b"<a/>"), Ok(ParsedBody::Xml));
        assert_eq!(parse("image/png", b"\x89PNG"), Ok(ParsedBody::Opaque));
        assert_eq!(parse("application/json", b""), Ok(ParsedBody::Empty));
    }
}
