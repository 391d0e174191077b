//! The captured shapes, per API, operation template and method, bounded.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use moat_discover::input::{Body, Sample};
use moat_discover::profile::Profile;
use moat_discover::{DiscoveredOperation, Part, Templater};
use moat_request::CanonicalPath;
use serde::{Deserialize, Serialize};

use super::Captured;

/// Operations kept, all APIs together; new ones past it are counted, not
/// kept (a scan of random paths must not grow memory or the state file).
pub(crate) const MAX_OPERATIONS: usize = 2000;

/// Distinct undocumented paths per API fed to the templater (memory only).
const MAX_PATHS: usize = 2000;

/// API, template, method.
type Key = (String, String, String);

/// What is stored of one operation: its profile (parameters, body
/// schemas, statuses, sensitive data) and what the profile does not hold.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Shape {
    /// A documented operation's template (rather than one templated from
    /// traffic).
    pub documented: bool,
    /// Parameters, body schemas by status, sensitive data.
    pub profile: Profile,
    /// Requests by how the caller authenticated.
    pub auth: BTreeMap<String, u64>,
    /// Answers by status.
    pub statuses: BTreeMap<u16, u64>,
}

/// One captured operation.
#[derive(Debug, Clone)]
pub struct CapturedOperation {
    /// The API's name.
    pub api: String,
    /// The method.
    pub method: String,
    /// The template, relative to the API's base path.
    pub template: String,
    /// The first and last sampled request (Unix ms).
    pub first_seen: i64,
    /// See `first_seen`.
    pub last_seen: i64,
    /// What was learned.
    pub shape: Shape,
}

impl CapturedOperation {
    /// An operation as the state file holds it.
    pub fn from_row(row: moat_state::DiscoveredRow) -> Result<Self, serde_json::Error> {
        Ok(Self {
            shape: serde_json::from_str(&row.shape)?,
            api: row.api,
            method: row.method,
            template: row.template,
            first_seen: row.first_seen,
            last_seen: row.last_seen,
        })
    }
}

#[derive(Debug)]
struct Entry {
    first_seen: i64,
    last_seen: i64,
    shape: Shape,
}

/// An API's undocumented paths, for templating.
#[derive(Debug, Default)]
struct Paths {
    templater: Templater,
    seen: HashSet<(String, String)>,
    /// The templater's operations, made again only when a new path
    /// arrives (not for every sample of a known one).
    operations: Option<Vec<DiscoveredOperation>>,
}

/// Every captured operation.
#[derive(Debug, Default)]
pub(crate) struct Aggregate {
    ops: BTreeMap<Key, Entry>,
    paths: HashMap<String, Paths>,
    /// Operations changed since the last flush.
    dirty: BTreeSet<Key>,
    /// Samples of operations not kept ([`MAX_OPERATIONS`]).
    pub(crate) overflow: u64,
}

impl Aggregate {
    /// The aggregate the store holds (rows it cannot read are skipped).
    pub(crate) fn from_rows(rows: Vec<moat_state::DiscoveredRow>) -> Self {
        let mut a = Aggregate::default();
        for row in rows {
            let api = row.api.clone();
            match CapturedOperation::from_row(row) {
                Ok(op) if a.ops.len() < MAX_OPERATIONS => {
                    a.ops.insert(
                        (op.api, op.template, op.method),
                        Entry {
                            first_seen: op.first_seen,
                            last_seen: op.last_seen,
                            shape: op.shape,
                        },
                    );
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(%api, error = %e,
                    "a stored discovered operation cannot be read; it starts again"),
            }
        }
        a
    }

    /// Folds one sample in.
    pub(crate) fn add(&mut self, c: Captured) {
        let (template, documented) = match c.draft.template.clone() {
            Some(t) => (t, true),
            None => match self.template_of(&c.draft.api, &c.method, &c.draft.path) {
                Some(t) => (self.same_shape(&c.draft.api, &c.method, t), false),
                None => return,
            },
        };
        let key = (c.draft.api.clone(), template, c.method.clone());
        if !self.ops.contains_key(&key) && self.ops.len() >= MAX_OPERATIONS {
            self.overflow += 1;
            return;
        }
        let entry = self.ops.entry(key.clone()).or_insert_with(|| Entry {
            first_seen: c.at,
            last_seen: c.at,
            shape: Shape::default(),
        });
        entry.first_seen = entry.first_seen.min(c.at);
        entry.last_seen = entry.last_seen.max(c.at);
        let shape = &mut entry.shape;
        shape.documented = documented;
        *shape.auth.entry(c.auth.label().to_string()).or_default() += 1;
        *shape.statuses.entry(c.status).or_default() += 1;
        let sample = Sample {
            method: c.method,
            url: String::new(),
            status: Some(c.status),
            request_headers: c.draft.headers,
            // The answer's media type, for the profile's tally, whether
            // or not its body was kept.
            response_headers: c
                .content_type
                .iter()
                .map(|ct| ("content-type".to_string(), ct.clone()))
                .collect(),
            request_body: c.draft.body.map(|b| Body {
                mime: c.draft.media,
                text: String::from_utf8_lossy(&b).into_owned(),
            }),
            response_body: c.answer.map(|b| Body {
                mime: c.content_type.clone(),
                text: String::from_utf8_lossy(&b).into_owned(),
            }),
        };
        shape.profile.observe(&sample, c.draft.query.as_deref());
        self.dirty.insert(key);
    }

    /// The template of an undocumented request: its path templated with
    /// the API's other undocumented paths (identifiers are always
    /// parameters; words once enough siblings share a shape).
    fn template_of(&mut self, api: &str, method: &str, path: &str) -> Option<String> {
        let segments = CanonicalPath::parse(path).ok()?.segments().to_vec();
        let paths = self.paths.entry(api.to_string()).or_default();
        let key = (method.to_ascii_uppercase(), path.to_string());
        if !paths.seen.contains(&key) && paths.seen.len() < MAX_PATHS {
            paths.templater.observe(method, path).ok()?;
            paths.seen.insert(key);
            paths.operations = None;
        }
        let templater = &paths.templater;
        let best = paths
            .operations
            .get_or_insert_with(|| templater.operations())
            .iter()
            .filter(|op| op.method.eq_ignore_ascii_case(method) && op.parts.len() == segments.len())
            .filter(|op| {
                op.parts
                    .iter()
                    .zip(&segments)
                    .all(|(part, seg)| match part {
                        Part::Literal(l) => l == seg,
                        Part::Param { .. } => true,
                    })
            })
            .max_by_key(|op| {
                op.parts
                    .iter()
                    .filter(|p| matches!(p, Part::Literal(_)))
                    .count()
            });
        match best {
            Some(op) => Some(op.template()),
            // Past the cap: the path templated on its own.
            None => {
                let mut alone = Templater::new();
                alone.observe(method, path).ok()?;
                alone.operations().first().map(|op| op.template())
            }
        }
    }

    /// The template of a known undocumented operation with the same
    /// literals and parameters in the same places as `template`, or
    /// `template`: a parameter's name follows the kinds of its values
    /// (`{thingId}` for numbers, `{thing}` once a UUID joins them), and
    /// must not split one operation in two.
    fn same_shape(&self, api: &str, method: &str, template: String) -> String {
        let shape = |t: &str| moat_spec::shape_of(t).unwrap_or_else(|| t.to_string());
        let wanted = shape(&template);
        self.ops
            .iter()
            .find(|((a, t, m), e)| {
                a == api && m == method && !e.shape.documented && shape(t) == wanted
            })
            .map(|((_, t, _), _)| t.clone())
            .unwrap_or(template)
    }

    /// The rows changed since the last call, to write.
    pub(crate) fn take_dirty(&mut self) -> Vec<moat_state::DiscoveredRow> {
        let dirty = std::mem::take(&mut self.dirty);
        dirty
            .into_iter()
            .filter_map(|key| {
                let entry = self.ops.get(&key)?;
                let shape = serde_json::to_string(&entry.shape).ok()?;
                let (api, template, method) = key;
                Some(moat_state::DiscoveredRow {
                    api,
                    method,
                    template,
                    requests: entry.shape.profile.requests,
                    first_seen: entry.first_seen,
                    last_seen: entry.last_seen,
                    shape,
                })
            })
            .collect()
    }

    /// Puts rows that could not be written back in the next flush.
    pub(crate) fn mark_dirty(&mut self, rows: &[moat_state::DiscoveredRow]) {
        for r in rows {
            self.dirty
                .insert((r.api.clone(), r.template.clone(), r.method.clone()));
        }
    }

    /// Every operation, by API, template and method.
    pub(crate) fn operations(&self) -> Vec<CapturedOperation> {
        self.ops
            .iter()
            .map(|((api, template, method), e)| CapturedOperation {
                api: api.clone(),
                method: method.clone(),
                template: template.clone(),
                first_seen: e.first_seen,
                last_seen: e.last_seen,
                shape: e.shape.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{AuthKind, Draft};

    fn shadow(path: &str, at: i64) -> Captured {
        Captured {
            draft: Draft {
                api: "shop".into(),
                path: path.into(),
                query: Some("email=alice%40example.com&page=2".into()),
                ..Draft::default()
            },
            method: "GET".into(),
            status: 200,
            content_type: Some("application/json; charset=utf-8".into()),
            auth: AuthKind::Unverified(None),
            at,
            answer: None,
        }
    }

    #[test]
    fn undocumented_paths_are_templated_and_the_shape_survives_a_round_trip() {
        let mut a = Aggregate::default();
        for (i, id) in ["41", "42", "9f3c2a71-3b7e-4f4e-9a8e-1d2c3b4a5f60"]
            .iter()
            .enumerate()
        {
            a.add(shadow(&format!("/things/{id}"), i as i64));
        }
        let rows = a.take_dirty();
        let templates: Vec<&str> = rows.iter().map(|r| r.template.as_str()).collect();
        assert_eq!(templates, ["/things/{thingId}"], "{rows:?}");
        assert!(a.take_dirty().is_empty());
        let stored = &rows[0].shape;
        for value in ["41", "42", "9f3c2a71", "alice"] {
            assert!(!stored.contains(value), "{value} in {stored}");
        }
        let back = Aggregate::from_rows(rows.clone());
        let ops = back.operations();
        assert_eq!(ops[0].shape.profile.requests, 3);
        assert_eq!(
            ops[0]
                .shape
                .profile
                .content_types()
                .keys()
                .collect::<Vec<_>>(),
            ["application/json"]
        );
        assert_eq!((ops[0].first_seen, ops[0].last_seen), (0, 2));
    }
}
