//! The scan config file (`moat scan --config scan.yaml`): target, document,
//! identities and bounds. Flags given on the command line override it.
//!
//! It is read with the gateway config's loader, so errors carry file, line
//! and column, all at once, and secrets may be `${env:NAME}` or
//! `${file:PATH}` references instead of values.

use std::path::{Path, PathBuf};
use std::time::Duration;

use moat_config::source::Document;
use moat_config::{Diagnostics, deserialize_at};
use serde::Deserialize;

use crate::identity::IdentityConfig;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanConfig {
    /// The API's base URL, `https://api.example.com`.
    pub target: Option<String>,
    /// The OpenAPI document, relative to the config file.
    pub spec: Option<PathBuf>,
    /// Who the scan acts as; anonymous is always added.
    #[serde(default)]
    pub identities: Vec<IdentityConfig>,
    /// Requests per second, at most [default: 20].
    pub rate: Option<f64>,
    /// Requests in the whole scan, at most [default: 5000].
    pub max_requests: Option<u64>,
    /// How long one exchange may take [default: 10s].
    #[serde(default, with = "optional_duration")]
    pub timeout: Option<Duration>,
    /// Whether writes (POST, PUT, PATCH, DELETE) may be sent [default: false].
    #[serde(default)]
    pub allow_writes: bool,
    /// Rule ids (`bola.path`), families (`bola`) or categories (`API1`) to
    /// run; all when empty.
    #[serde(default)]
    pub checks: Vec<String>,
    /// Where the SSRF canary listens [default: 127.0.0.1:0] and the URL
    /// the target reaches it at [default: its loopback address].
    #[serde(default)]
    pub canary: CanaryConfig,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CanaryConfig {
    pub listen: Option<std::net::SocketAddr>,
    pub url: Option<String>,
}

mod optional_duration {
    use std::time::Duration;

    use serde::Deserializer;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        moat_config::model::humantime_serde::deserialize(d).map(Some)
    }
}

/// Reads `path`, resolving `${env:…}` and `${file:…}` references.
pub fn load(path: &Path) -> Result<ScanConfig, Diagnostics> {
    let mut document = Document::load(path)?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    moat_config::secret::resolve_references(&mut document, &base)?;
    let mut config: ScanConfig = deserialize_at(&document, "")?;
    if let Some(spec) = &config.spec
        && spec.is_relative()
    {
        config.spec = Some(base.join(spec));
    }
    let mut errors = Diagnostics::default();
    let mut names = std::collections::BTreeSet::new();
    for (i, identity) in config.identities.iter().enumerate() {
        let problem = if identity.name == "anonymous" {
            Some("the name `anonymous` is taken: the scan always acts as anonymous too")
        } else if !names.insert(identity.name.as_str()) {
            Some("this name is given to another identity already")
        } else {
            None
        };
        if let Some(problem) = problem {
            errors.push(
                document
                    .error_at(&format!("/identities/{i}/name"), problem)
                    .with_hint("give each identity its own name"),
            );
        }
    }
    if let Some(rate) = config.rate
        && !(rate > 0.0 && rate <= 10_000.0)
    {
        errors.push(
            document
                .error_at("/rate", format!("rate {rate} is out of range"))
                .with_hint("requests per second, more than 0 and at most 10000"),
        );
    }
    errors.into_result(config)
}
