//! XML and SOAP request checks: a single streaming pass with `quick-xml`
//! that refuses what XML attacks need, enforces shape limits, and collects
//! the text and attribute values inspection looks at. Pure: no I/O.
//!
//! What is refused, and why:
//!
//! - **any DOCTYPE** (`doctype`): entities are declared there, so refusing it
//!   stops billion laughs, external entities (XXE) and parameter entities
//!   before any is expanded; nothing is ever expanded or fetched anyway;
//! - **entity references** other than the five predefined ones (`&lt;`
//!   `&gt;` `&amp;` `&apos;` `&quot;`) and numeric character references
//!   (`syntax`): without a DOCTYPE any other is undeclared;
//! - **processing instructions** other than the XML declaration
//!   (`processing_instruction`): APIs do not need them, and some
//!   (`<?xml-stylesheet?>`) make back ends load and run stylesheets;
//! - **XInclude** (`xinclude`): any element in the XInclude namespace
//!   (`http://www.w3.org/2001/XInclude`, and the 2003 draft's); `xi:include`
//!   is ordinary syntax but makes an XInclude-aware back end read files or
//!   URLs;
//! - **other encodings** (`encoding`): only UTF-8 (a UTF-8 byte order mark is
//!   allowed; a declared `encoding` must be `UTF-8` or `US-ASCII`);
//! - **not well-formed** (`syntax`): mismatched or unclosed tags, several or
//!   no root elements, text outside the root, duplicate attributes, unbound
//!   namespace prefixes, characters XML 1.0 does not allow (raw or as
//!   references), a misplaced XML declaration, `--` in comments;
//! - **limits**: element depth, attributes per element, child elements per
//!   element, body size, and the decoded size of each text node and
//!   attribute value.
//!
//! The pass is linear in the body; nothing is kept but the current path,
//! one counter per open element and the collected values.

use std::borrow::Cow;
use std::fmt;

use quick_xml::NsReader;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;

use crate::engine::{Hints, Inspector};
use crate::report::{Location, Report, ValueKind};

/// Limits on XML bodies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlLimits {
    /// Deepest element nesting (default 32).
    pub max_depth: usize,
    /// Most attributes on one element, namespace declarations included
    /// (default 50).
    pub max_attributes: usize,
    /// Most child elements of one element (default 10 000).
    pub max_children: usize,
    /// Largest body (default 256 KiB).
    pub max_bytes: usize,
    /// Largest text node or attribute value, decoded (default 64 KiB).
    pub max_text_bytes: usize,
}

impl Default for XmlLimits {
    fn default() -> Self {
        Self {
            max_depth: 32,
            max_attributes: 50,
            max_children: 10_000,
            max_bytes: 256 * 1024,
            max_text_bytes: 64 * 1024,
        }
    }
}

/// Why an XML body was refused. The [`Display`](fmt::Display) text holds no
/// data from the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XmlViolation {
    /// Not well-formed, or an undeclared entity reference.
    Syntax,
    /// Not UTF-8.
    Encoding,
    /// A document type declaration.
    Doctype,
    /// A processing instruction other than the XML declaration.
    ProcessingInstruction,
    /// An XInclude element.
    XInclude,
    /// Elements nest deeper than the limit.
    MaxDepth {
        /// The limit.
        limit: usize,
    },
    /// An element has more attributes than the limit.
    MaxAttributes {
        /// The limit.
        limit: usize,
    },
    /// An element has more child elements than the limit.
    MaxChildren {
        /// The limit.
        limit: usize,
    },
    /// The body is larger than the limit.
    MaxBytes {
        /// The limit.
        limit: usize,
    },
    /// A text node or attribute value is larger than the limit.
    MaxTextBytes {
        /// The limit.
        limit: usize,
    },
}

impl XmlViolation {
    /// The rule's name, for logs and metrics: `syntax`, `encoding`,
    /// `doctype`, `processing_instruction`, `xinclude`, `max_depth`,
    /// `max_attributes`, `max_children`, `max_bytes`, `max_text_bytes`.
    pub const fn rule(&self) -> &'static str {
        match self {
            Self::Syntax => "syntax",
            Self::Encoding => "encoding",
            Self::Doctype => "doctype",
            Self::ProcessingInstruction => "processing_instruction",
            Self::XInclude => "xinclude",
            Self::MaxDepth { .. } => "max_depth",
            Self::MaxAttributes { .. } => "max_attributes",
            Self::MaxChildren { .. } => "max_children",
            Self::MaxBytes { .. } => "max_bytes",
            Self::MaxTextBytes { .. } => "max_text_bytes",
        }
    }
}

impl fmt::Display for XmlViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Syntax => f.write_str("malformed XML"),
            Self::Encoding => f.write_str("XML is not UTF-8"),
            Self::Doctype => f.write_str("XML document type declarations are not allowed"),
            Self::ProcessingInstruction => {
                f.write_str("XML processing instructions are not allowed")
            }
            Self::XInclude => f.write_str("XInclude is not allowed"),
            Self::MaxDepth { limit } => write!(f, "XML nesting exceeds {limit}"),
            Self::MaxAttributes { limit } => {
                write!(f, "XML element has more than {limit} attributes")
            }
            Self::MaxChildren { limit } => write!(f, "XML element has more than {limit} children"),
            Self::MaxBytes { limit } => write!(f, "XML body exceeds {limit} bytes"),
            Self::MaxTextBytes { limit } => write!(f, "XML text exceeds {limit} bytes"),
        }
    }
}

impl std::error::Error for XmlViolation {}

/// The SOAP envelope namespace of SOAP 1.1.
pub const SOAP11_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// The SOAP envelope namespace of SOAP 1.2.
pub const SOAP12_NS: &str = "http://www.w3.org/2003/05/soap-envelope";
const XINCLUDE_NS: &[&str] = &[
    "http://www.w3.org/2001/XInclude",
    "http://www.w3.org/2003/XInclude",
];

/// A SOAP version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SoapVersion {
    /// SOAP 1.1 (`text/xml`, `SOAPAction` header).
    Soap11,
    /// SOAP 1.2 (`application/soap+xml; action=…`).
    Soap12,
}

/// An XML body that passed the checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct XmlDocument {
    root: String,
    root_namespace: Option<String>,
    soap: Option<SoapVersion>,
    operation: Option<String>,
    operation_namespace: Option<String>,
    values: Vec<(Location, String)>,
}

impl XmlDocument {
    /// The root element's local name.
    pub fn root(&self) -> &str {
        &self.root
    }

    /// The root element's namespace.
    pub fn root_namespace(&self) -> Option<&str> {
        self.root_namespace.as_deref()
    }

    /// The SOAP version, when the root is a SOAP 1.1 or 1.2 `Envelope`.
    pub fn soap_version(&self) -> Option<SoapVersion> {
        self.soap
    }

    /// For a SOAP envelope, the local name of the first element in `Body`.
    pub fn soap_operation(&self) -> Option<String> {
        self.operation.clone()
    }

    /// The namespace of [`soap_operation`](Self::soap_operation)'s element.
    pub fn soap_operation_namespace(&self) -> Option<&str> {
        self.operation_namespace.as_deref()
    }

    /// Every non-blank text node (CDATA and references decoded, adjacent
    /// pieces joined) and every attribute value (decoded, normalised) but
    /// namespace declarations, with its place: `/Envelope/Body/GetUser/name`,
    /// `/Envelope/Body/GetUser/@id` (local names, prefixes dropped).
    pub fn values(&self) -> impl Iterator<Item = (&Location, &str)> {
        self.values.iter().map(|(l, v)| (l, v.as_str()))
    }

    /// Inspects every [value](Self::values) as a [`ValueKind::XmlText`].
    pub fn inspect(&self, inspector: &Inspector, report: &mut Report) {
        let hints = Hints::default();
        for (location, value) in self.values() {
            inspector.inspect_value(location, value, ValueKind::XmlText, &hints, report);
        }
    }
}

/// Whether the SOAP action a client declared matches the operation in the
/// body, so that a gateway that authorises by action cannot be fooled by a
/// body that calls another operation.
///
/// The action is the `action` parameter of an `application/soap+xml`
/// content type (SOAP 1.2), else the `SOAPAction` header (SOAP 1.1); quotes
/// and spaces around it are dropped. It is consistent when:
///
/// - there is no action, or it is empty (`SOAPAction: ""`): nothing to
///   contradict; or
/// - the body has an operation, and the action's last segment (after the
///   last `/`, `#` or `:`, so `http://tempuri.org/IUsers/GetUser`,
///   `urn:users#GetUser`, `urn:users:GetUser` and `GetUser` all give
///   `GetUser`) equals the operation, or the operation is that segment
///   followed by `Request` (`GetUserRequest`, the document/literal style).
///
/// Comparison is case-sensitive, as XML names are.
pub fn soap_action_consistent(
    soap_action_header: Option<&str>,
    content_type: &str,
    doc: &XmlDocument,
) -> bool {
    let mut params = content_type.split(';');
    let media = params.next().unwrap_or_default().trim();
    let mut action = None;
    if media.eq_ignore_ascii_case("application/soap+xml") {
        for p in params {
            if let Some((k, v)) = p.split_once('=')
                && k.trim().eq_ignore_ascii_case("action")
            {
                action = Some(v);
            }
        }
    }
    let action = action
        .or(soap_action_header)
        .map(|a| a.trim().trim_matches('"').trim())
        .unwrap_or_default();
    if action.is_empty() {
        return true;
    }
    let Some(operation) = doc.operation.as_deref() else {
        return false;
    };
    let segment = action.rsplit(['/', '#', ':']).next().unwrap_or(action);
    !segment.is_empty()
        && (operation == segment || operation.strip_suffix("Request") == Some(segment))
}

/// Whether `c` is a character XML 1.0 allows.
fn legal_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

fn legal_text(s: &str) -> Result<(), XmlViolation> {
    if s.chars().all(legal_char) {
        Ok(())
    } else {
        Err(XmlViolation::Syntax)
    }
}

/// One open element.
struct Frame {
    /// The length of the path before this element.
    path_len: usize,
    /// Child elements so far.
    children: usize,
}

struct Walk<'l> {
    limits: &'l XmlLimits,
    doc: XmlDocument,
    stack: Vec<Frame>,
    path: String,
    text: String,
    root_closed: bool,
    /// The depth of the SOAP `Body` element, once open.
    body_depth: Option<usize>,
}

impl Walk<'_> {
    fn push_text(&mut self, s: &str) -> Result<(), XmlViolation> {
        if self.stack.is_empty() {
            return if s.chars().all(|c| matches!(c, ' ' | '\t' | '\r' | '\n')) {
                Ok(())
            } else {
                Err(XmlViolation::Syntax)
            };
        }
        legal_text(s)?;
        if self.text.len() + s.len() > self.limits.max_text_bytes {
            return Err(XmlViolation::MaxTextBytes {
                limit: self.limits.max_text_bytes,
            });
        }
        self.text.push_str(s);
        Ok(())
    }

    fn flush_text(&mut self) {
        if !self.text.trim().is_empty() {
            let text = std::mem::take(&mut self.text);
            self.doc
                .values
                .push((Location::new("xml", self.path.clone()), text));
        }
        self.text.clear();
    }

    fn start(&mut self, e: &BytesStart<'_>, namespace: Option<&str>) -> Result<(), XmlViolation> {
        self.flush_text();
        if self.root_closed {
            return Err(XmlViolation::Syntax);
        }
        let depth = self.stack.len() + 1;
        if depth > self.limits.max_depth {
            return Err(XmlViolation::MaxDepth {
                limit: self.limits.max_depth,
            });
        }
        if let Some(parent) = self.stack.last_mut() {
            parent.children += 1;
            if parent.children > self.limits.max_children {
                return Err(XmlViolation::MaxChildren {
                    limit: self.limits.max_children,
                });
            }
        }
        if namespace.is_some_and(|ns| XINCLUDE_NS.contains(&ns)) {
            return Err(XmlViolation::XInclude);
        }
        let local = e.local_name();
        let local: &str = local.as_ref();

        // SOAP: Envelope, then Body, then the operation.
        if depth == 1 {
            self.doc.root = local.to_string();
            self.doc.root_namespace = namespace.map(str::to_string);
            if local == "Envelope" {
                self.doc.soap = match namespace {
                    Some(SOAP11_NS) => Some(SoapVersion::Soap11),
                    Some(SOAP12_NS) => Some(SoapVersion::Soap12),
                    _ => None,
                };
            }
        } else if depth == 2
            && self.doc.soap.is_some()
            && local == "Body"
            && namespace == self.doc.root_namespace.as_deref()
        {
            self.body_depth = Some(depth);
        } else if self.body_depth.is_some_and(|b| b + 1 == depth) && self.doc.operation.is_none() {
            self.doc.operation = Some(local.to_string());
            self.doc.operation_namespace = namespace.map(str::to_string);
        }

        let path_len = self.path.len();
        self.path.push('/');
        self.path.push_str(local);
        self.stack.push(Frame {
            path_len,
            children: 0,
        });

        let mut count = 0usize;
        for attr in e.attributes() {
            let attr = attr.map_err(|_| XmlViolation::Syntax)?;
            count += 1;
            if count > self.limits.max_attributes {
                return Err(XmlViolation::MaxAttributes {
                    limit: self.limits.max_attributes,
                });
            }
            let value = attr
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|_| XmlViolation::Syntax)?;
            legal_text(&value)?;
            if value.len() > self.limits.max_text_bytes {
                return Err(XmlViolation::MaxTextBytes {
                    limit: self.limits.max_text_bytes,
                });
            }
            if attr.key.as_namespace_binding().is_some() {
                continue;
            }
            let name = attr.key.local_name();
            let name: &str = name.as_ref();
            let location = format!("{}/@{name}", self.path);
            self.doc
                .values
                .push((Location::new("xml", location), value.into_owned()));
        }
        Ok(())
    }

    fn end(&mut self) -> Result<(), XmlViolation> {
        self.flush_text();
        let frame = self.stack.pop().ok_or(XmlViolation::Syntax)?;
        if self.body_depth == Some(self.stack.len() + 1) {
            self.body_depth = None;
        }
        self.path.truncate(frame.path_len);
        if self.stack.is_empty() {
            self.root_closed = true;
        }
        Ok(())
    }
}

/// Checks an XML body; see the module docs for what is refused.
pub fn check(body: &[u8], limits: &XmlLimits) -> Result<XmlDocument, XmlViolation> {
    if body.len() > limits.max_bytes {
        return Err(XmlViolation::MaxBytes {
            limit: limits.max_bytes,
        });
    }
    if body.starts_with(&[0xFE, 0xFF]) || body.starts_with(&[0xFF, 0xFE]) {
        return Err(XmlViolation::Encoding);
    }
    let body = body.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(body);
    let text = std::str::from_utf8(body).map_err(|_| XmlViolation::Encoding)?;

    let mut reader = NsReader::from_str(text);
    {
        let config = reader.config_mut();
        config.check_comments = true;
        config.check_end_names = true;
        config.allow_unmatched_ends = false;
        config.allow_dangling_amp = false;
        config.expand_empty_elements = false;
        config.trim_text(false);
    }
    let mut walk = Walk {
        limits,
        doc: XmlDocument::default(),
        stack: Vec::new(),
        path: String::new(),
        text: String::new(),
        root_closed: false,
        body_depth: None,
    };
    let mut first = true;
    loop {
        let (ns, event) = reader
            .read_resolved_event()
            .map_err(|_| XmlViolation::Syntax)?;
        let namespace = match ns {
            ResolveResult::Bound(n) => Some(n.0.to_string()),
            ResolveResult::Unbound => None,
            ResolveResult::Unknown(_) => return Err(XmlViolation::Syntax),
        };
        let was_first = std::mem::replace(&mut first, false);
        match event {
            Event::Decl(decl) => {
                if !was_first {
                    return Err(XmlViolation::Syntax);
                }
                match decl.encoding() {
                    None => {}
                    Some(Ok(enc)) => {
                        let enc: Cow<'_, str> = enc;
                        if !enc.eq_ignore_ascii_case("utf-8")
                            && !enc.eq_ignore_ascii_case("us-ascii")
                        {
                            return Err(XmlViolation::Encoding);
                        }
                    }
                    Some(Err(_)) => return Err(XmlViolation::Syntax),
                }
            }
            Event::DocType(_) => return Err(XmlViolation::Doctype),
            Event::PI(_) => return Err(XmlViolation::ProcessingInstruction),
            Event::Start(e) => walk.start(&e, namespace.as_deref())?,
            Event::Empty(e) => {
                walk.start(&e, namespace.as_deref())?;
                walk.end()?;
            }
            Event::End(_) => walk.end()?,
            Event::Text(t) => walk.push_text(&t.xml10_content())?,
            Event::CData(c) => {
                if walk.stack.is_empty() {
                    return Err(XmlViolation::Syntax);
                }
                walk.push_text(&c.xml10_content())?;
            }
            Event::GeneralRef(r) => {
                if walk.stack.is_empty() {
                    return Err(XmlViolation::Syntax);
                }
                let mut buf = [0u8; 4];
                let resolved: &str = if r.is_char_ref() {
                    match r.resolve_char_ref() {
                        Ok(Some(c)) => c.encode_utf8(&mut buf),
                        _ => return Err(XmlViolation::Syntax),
                    }
                } else {
                    match &*r {
                        "lt" => "<",
                        "gt" => ">",
                        "amp" => "&",
                        "apos" => "'",
                        "quot" => "\"",
                        _ => return Err(XmlViolation::Syntax),
                    }
                };
                walk.push_text(resolved)?;
            }
            Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if walk.doc.root.is_empty() || !walk.stack.is_empty() {
        return Err(XmlViolation::Syntax);
    }
    Ok(walk.doc)
}

#[cfg(test)]
mod tests;
