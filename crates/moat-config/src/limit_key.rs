//! What a rate limit or quota counts by, typed when the config is read.

use std::fmt;
use std::str::FromStr;

/// What a limit counts by: `consumer`, `api_key`, `client_ip`,
/// `client_network`, `api`, `operation`, `header:<name>`,
/// `claim:<name>` or `body:<JSON pointer>`: the one parser ([`FromStr`]) for the config's
/// `rate_limits[].key` and `quotas[].key` and for `x-moat-rate-limit` in a
/// document. The config keeps the text and the compile parses it, so that a
/// bad key is reported together with every other problem of the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitKey {
    /// The verified consumer (else the client address).
    Consumer,
    /// The verified API key's id (else the consumer, else the address).
    ApiKey,
    /// The client address.
    ClientIp,
    /// The client's network: /24 for IPv4, /64 for IPv6.
    ClientNetwork,
    /// The API as a whole.
    Api,
    /// The operation as a whole.
    Operation,
    /// A request header's value (else the client address); the name is
    /// lower case.
    Header(String),
    /// A claim or metadata attribute of the verified caller (else the
    /// client address).
    Claim(String),
    /// A member of the JSON request body, by JSON pointer (else the client
    /// address): the account a login names (`body:/username`).
    Body(String),
}

/// When in the pipeline a limit can be decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitStage {
    /// Before credentials are read: keys the request head carries. These
    /// limits also protect the credential verifiers.
    BeforeIdentity,
    /// Once the caller is known.
    AfterIdentity,
    /// Once the body is read and parsed.
    AfterBody,
}

impl LimitKey {
    /// Whether the key depends on who the caller is, so the limit is
    /// decided after authentication. The others are decided before it, so
    /// they also protect the credential verifiers.
    pub fn needs_identity(&self) -> bool {
        matches!(self, Self::Consumer | Self::ApiKey | Self::Claim(_))
    }

    /// When a limit with this key is decided.
    pub fn stage(&self) -> LimitStage {
        match self {
            Self::Body(_) => LimitStage::AfterBody,
            k if k.needs_identity() => LimitStage::AfterIdentity,
            _ => LimitStage::BeforeIdentity,
        }
    }
}

/// Why a limit key cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitKeyError(String);

impl fmt::Display for LimitKeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LimitKeyError {}

impl FromStr for LimitKey {
    type Err = LimitKeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "consumer" => Self::Consumer,
            "api_key" => Self::ApiKey,
            "client_ip" => Self::ClientIp,
            "client_network" => Self::ClientNetwork,
            "api" => Self::Api,
            "operation" => Self::Operation,
            _ => {
                if let Some(h) = s.strip_prefix("header:") {
                    // RFC 9110 field names are tokens.
                    let token = !h.is_empty()
                        && h.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
                    if !token {
                        return Err(LimitKeyError(format!("`{h}` is not a header name")));
                    }
                    Self::Header(h.to_ascii_lowercase())
                } else if let Some(c) = s.strip_prefix("claim:").filter(|c| !c.is_empty()) {
                    Self::Claim(c.to_string())
                } else if let Some(p) = s.strip_prefix("body:") {
                    if !p.starts_with('/') {
                        return Err(LimitKeyError(format!(
                            "`{p}` is not a JSON pointer; write `body:/username`"
                        )));
                    }
                    Self::Body(p.to_string())
                } else {
                    return Err(LimitKeyError(format!(
                        "unknown limit key `{s}`; use consumer, api_key, client_ip, client_network, api, operation, header:<name>, claim:<name> or body:<JSON pointer>"
                    )));
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_keys_are_json_pointers_decided_after_the_body() {
        let k: LimitKey = "body:/username".parse().unwrap();
        assert_eq!(k, LimitKey::Body("/username".into()));
        assert_eq!(k.stage(), LimitStage::AfterBody);
        assert!("body:username".parse::<LimitKey>().is_err());
        assert_eq!(LimitKey::Consumer.stage(), LimitStage::AfterIdentity);
        assert_eq!(LimitKey::ClientIp.stage(), LimitStage::BeforeIdentity);
    }

    #[test]
    fn keys_parse() {
        assert_eq!("consumer".parse(), Ok(LimitKey::Consumer));
        assert_eq!(
            "header:X-Tenant".parse(),
            Ok(LimitKey::Header("x-tenant".into()))
        );
        assert!("claim:tenant".parse::<LimitKey>().unwrap().needs_identity());
        assert!(
            !"header:x-tenant"
                .parse::<LimitKey>()
                .unwrap()
                .needs_identity()
        );
        assert!(
            !"client_network"
                .parse::<LimitKey>()
                .unwrap()
                .needs_identity()
        );
        assert!("claim:".parse::<LimitKey>().is_err());
        assert!("header:bad header".parse::<LimitKey>().is_err());
        assert!(
            "ip".parse::<LimitKey>()
                .unwrap_err()
                .to_string()
                .contains("client_ip")
        );
    }
}
