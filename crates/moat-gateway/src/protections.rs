//! What moat's config protects each operation with, in the terms
//! discovery's risk model asks about: an ownership rule, a rate limit or
//! quota. The admin inventory and `moat discover --config` both read it
//! here.

use moat_config::{Diagnostics, LimitStage, LoadedConfig};
use moat_discover::risk::{ConfiguredRules, OperationSet};

use crate::runtime::{Api, Purpose, Runtime};

/// The config's protections of one operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Protections {
    /// A binding, an answer binding or a learning rule checks who owns the
    /// object it names.
    pub ownership: bool,
    /// A rate limit or quota applies to it, at any stage.
    pub rate_limited: bool,
}

impl Api {
    /// The protections of the operation at `index` in this API's document.
    pub fn protections(&self, index: usize) -> Protections {
        let ownership = self.object_access.binding(index).is_some()
            || self.object_access.checks_answer(index)
            || self.learning.path_parameter(index).is_some();
        let rate_limited = [
            LimitStage::BeforeIdentity,
            LimitStage::AfterIdentity,
            LimitStage::AfterBody,
        ]
        .into_iter()
        .any(|stage| self.limits.for_operation(index, stage).next().is_some());
        Protections {
            ownership,
            rate_limited,
        }
    }
}

/// The operations of every API of `loaded` (method and full path: base
/// path, server path and template) with an ownership rule, and those with a rate limit,
/// compiled as `moat check` compiles them: nothing opened or fetched.
pub async fn configured_rules(loaded: LoadedConfig) -> Result<ConfiguredRules, Diagnostics> {
    let rt = Runtime::build_for(loaded, Purpose::Check).await?;
    let mut ownership = Vec::new();
    let mut rate_limited = Vec::new();
    for api in rt.apis() {
        let spec = api.table.spec();
        for (index, op) in spec.operations.iter().enumerate() {
            let p = api.protections(index);
            // Every path the operation answers on: the API's base path,
            // then each server path of the document.
            let servers = op.server_paths.as_ref().unwrap_or(&spec.server_paths);
            for server in servers {
                let path = format!("{}{server}{}", api.base_path(), op.path_template);
                let method = op.method.as_str().to_string();
                if p.ownership {
                    ownership.push((method.clone(), path.clone()));
                }
                if p.rate_limited {
                    rate_limited.push((method, path));
                }
            }
        }
    }
    Ok(ConfiguredRules::new(
        ownership.into_iter().collect::<OperationSet>(),
        rate_limited.into_iter().collect::<OperationSet>(),
    ))
}
