//! The detection corpus: every request of `tests/corpus/*.jsonl` goes
//! through an [`Inspector`] at each paranoia level. At the default options
//! (paranoia 1) the per-class, per-location and per-group detection rates
//! must reach their floors; levels 2–4 must each block a superset of the
//! level below, change at least one verdict, and keep benign traffic above
//! their own floors. Tables per class, per location (`in`) and per group
//! are printed for every level.
//!
//! `cargo test -p moat-inspect --test corpus -- --nocapture` prints the
//! tables and the ids of the misses and false positives.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::path::PathBuf;

use moat_inspect::{DetectorKind, InspectOptions, Inspector, NoHints, RawRequest, Report};
use serde_json::Value;

/// Every attack class must be blocked at least this often at paranoia 1.
const ATTACK_TPR_FLOOR: f64 = 0.95;
/// Benign requests must pass at least this often at paranoia 1.
const BENIGN_TNR_FLOOR: f64 = 0.995;
const MIN_ATTACKS: usize = 500;
/// Each location (`in`) of an attack, and each group of attacks, blocked at
/// least this often at paranoia 1.
const LOCATION_TPR_FLOOR: f64 = 0.9;
const GROUP_TPR_FLOOR: f64 = 0.9;
/// Each benign group passed at least this often at paranoia 1.
const GROUP_TNR_FLOOR: f64 = 0.95;
/// Benign requests passed at least this often at paranoia 2, 3 and 4: more
/// refusals are what higher levels are for, but not without bound.
const BENIGN_TNR_FLOOR_BY_LEVEL: [f64; 3] = [0.98, 0.93, 0.92];
/// Where an attack's payload is (`in`).
const LOCATIONS: [&str; 5] = ["path", "query", "header", "cookie", "body"];

/// The classes of payload the corpus holds: every detector but the attack
/// tool one (a `User-Agent` is no payload; see `moat_inspect::tools`).
fn payload_kinds() -> impl Iterator<Item = DetectorKind> {
    DetectorKind::ALL
        .into_iter()
        .filter(|k| *k != DetectorKind::AttackTool)
}
const MIN_BENIGN: usize = 500;

/// One request of the corpus, taken apart as the gateway would.
struct Case {
    id: String,
    class: String,
    /// Where the payload is (attacks only): one of [`LOCATIONS`].
    location: Option<String>,
    /// The finding class it belongs to (`log_forging`, `yaml_block`…).
    group: Option<String>,
    file: String,
    path: String,
    query: Option<String>,
    headers: Vec<(String, String)>,
    body: Option<(String, Vec<u8>)>,
}

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

fn load() -> Vec<Case> {
    load_from(&corpus_dir())
}

/// Loads every `*.jsonl` of `dir`.
fn load_from(dir: &std::path::Path) -> Vec<Case> {
    let dir = dir.to_path_buf();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no *.jsonl in {}", dir.display());
    let mut cases = Vec::new();
    let mut ids = HashSet::new();
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with("//") {
                continue;
            }
            let at = format!("{name}:{}", n + 1);
            let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{at}: {e}"));
            let case = parse_case(&v, &name).unwrap_or_else(|e| panic!("{at}: {e}"));
            assert!(
                ids.insert(case.id.clone()),
                "{at}: duplicate id {}",
                case.id
            );
            cases.push(case);
        }
    }
    cases
}

fn parse_case(v: &Value, file: &str) -> Result<Case, String> {
    let s = |k: &str| v.get(k).and_then(Value::as_str);
    let id = s("id").ok_or("no id")?.to_string();
    let class = s("class").ok_or("no class")?.to_string();
    if class != "benign" && DetectorKind::parse(&class).is_none() {
        return Err(format!("{id}: unknown class {class:?}"));
    }
    let location = s("in").map(str::to_string);
    match (&location, class == "benign") {
        (None, false) => return Err(format!("{id}: an attack needs `in`")),
        (Some(l), false) if !LOCATIONS.contains(&l.as_str()) => {
            return Err(format!("{id}: `in` must be one of {LOCATIONS:?}"));
        }
        (Some(_), true) => return Err(format!("{id}: benign requests have no `in`")),
        _ => {}
    }
    let group = s("group").map(str::to_string);
    let method = s("method").ok_or("no method")?;
    if !matches!(
        method,
        "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS"
    ) {
        return Err(format!("{id}: unexpected method {method:?}"));
    }
    let path = s("path").ok_or("no path")?.to_string();
    if !path.starts_with('/') {
        return Err(format!("{id}: path must start with /"));
    }
    let query = s("query").map(str::to_string);
    let mut headers = Vec::new();
    if let Some(h) = v.get("headers") {
        let h = h.as_object().ok_or("headers must be an object")?;
        for (k, val) in h {
            let val = val.as_str().ok_or("header values must be strings")?;
            headers.push((k.to_ascii_lowercase(), val.to_string()));
        }
    }
    let body = match v.get("body") {
        None | Some(Value::Null) => None,
        Some(b) => {
            let media = s("content_type")
                .map(|c| {
                    c.split(';')
                        .next()
                        .unwrap_or("")
                        .trim()
                        .to_ascii_lowercase()
                })
                .unwrap_or_else(|| {
                    if b.is_string() {
                        "text/plain".into()
                    } else {
                        "application/json".into()
                    }
                });
            let bytes = match b {
                // A JSON body given as a string is the document's text;
                // any other body (form, XML, text) is sent as it is.
                Value::String(text) => text.clone().into_bytes(),
                other => serde_json::to_vec(other).map_err(|e| e.to_string())?,
            };
            Some((media, bytes))
        }
    };
    Ok(Case {
        id,
        class,
        location,
        group,
        file: file.to_string(),
        path,
        query,
        headers,
        body,
    })
}

#[derive(Default)]
struct Row {
    count: usize,
    blocked: usize,
    /// Misses (attacks) or false positives (benign), with why.
    wrong: Vec<String>,
}

/// Runs every case at `paranoia`: rows by class (benign last), and whether
/// each case was blocked.
fn run(cases: &[Case], paranoia: u8) -> (BTreeMap<String, Row>, Vec<bool>) {
    let inspector = Inspector::new(InspectOptions {
        paranoia,
        ..InspectOptions::default()
    });
    let mut rows: BTreeMap<String, Row> = BTreeMap::new();
    let mut refused_by_view = Vec::new();
    let mut verdicts = Vec::with_capacity(cases.len());
    for case in cases {
        // A request the request view refuses (a path with no canonical
        // form, a duplicate key, ambiguous multipart) is refused by the
        // gateway before inspection: it counts as blocked.
        let mut report = Report::default();
        let blocked = match RawRequest::parse(
            &case.path,
            case.query.as_deref(),
            &case.headers,
            case.body.as_ref().map(|(m, b)| (m.as_str(), b.as_slice())),
        ) {
            Ok(request) => {
                request.inspect(&inspector, &NoHints, &mut report);
                inspector.blocks(&report)
            }
            Err(why) => {
                refused_by_view.push(format!("{} ({}): {why}", case.id, case.file));
                true
            }
        };
        verdicts.push(blocked);
        let row = rows.entry(case.class.clone()).or_default();
        row.count += 1;
        if blocked {
            row.blocked += 1;
        }
        let is_attack = case.class != "benign";
        if blocked != is_attack {
            row.wrong.push(if blocked {
                let why: Vec<String> = report
                    .findings()
                    .iter()
                    .map(|f| format!("{}:{}@{}", f.detector.as_str(), f.reason, f.location))
                    .collect();
                format!("{} [score {}: {}]", case.id, report.score(), why.join(", "))
            } else if report.is_empty() {
                case.id.clone()
            } else {
                format!("{} (score {})", case.id, report.score())
            });
        }
    }
    if paranoia == 1 && !refused_by_view.is_empty() {
        println!(
            "refused by the request view before inspection ({}): {}",
            refused_by_view.len(),
            refused_by_view.join("; ")
        );
    }
    (rows, verdicts)
}

/// Rates by `key` (a location or a group) at each level: TPR for attacks,
/// TNR for benign requests. `(key, benign, count, rate at P1..P4)`.
fn breakdown(
    cases: &[Case],
    levels: &[Vec<bool>],
    key: impl Fn(&Case) -> Option<&str>,
) -> Vec<(String, bool, usize, Vec<f64>)> {
    let mut keys: BTreeMap<(bool, String), Vec<usize>> = BTreeMap::new();
    for (i, c) in cases.iter().enumerate() {
        if let Some(k) = key(c) {
            keys.entry((c.class == "benign", k.to_string()))
                .or_default()
                .push(i);
        }
    }
    keys.into_iter()
        .map(|((benign, k), idx)| {
            let rates = levels
                .iter()
                .map(|v| {
                    let right = idx.iter().filter(|&&i| v[i] != benign).count();
                    rate(right, idx.len())
                })
                .collect();
            (k, benign, idx.len(), rates)
        })
        .collect()
}

fn breakdown_table(title: &str, rows: &[(String, bool, usize, Vec<f64>)]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\n== {title}, rate at paranoia 1 / 2 / 3 / 4 ==");
    for (k, benign, n, rates) in rows {
        let what = if *benign { "TNR" } else { "TPR" };
        let cells: Vec<String> = rates
            .iter()
            .map(|r| format!("{:>6.1}%", 100.0 * r))
            .collect();
        let _ = writeln!(out, "{k:<28} {n:>4} {what} {}", cells.join(" "));
    }
    out
}

fn rate(n: usize, d: usize) -> f64 {
    if d == 0 { 0.0 } else { n as f64 / d as f64 }
}

fn table(rows: &BTreeMap<String, Row>, paranoia: u8, list_ids: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n== corpus at paranoia {paranoia} (threshold {}) ==",
        InspectOptions::default().threshold
    );
    let _ = writeln!(
        out,
        "{:<18} {:>6} {:>9} {:>8}",
        "class", "count", "detected", "TPR"
    );
    let (mut n, mut b) = (0, 0);
    for kind in payload_kinds() {
        let r = rows.get(kind.as_str());
        let (c, d) = r.map_or((0, 0), |r| (r.count, r.blocked));
        n += c;
        b += d;
        let _ = writeln!(
            out,
            "{:<18} {:>6} {:>9} {:>7.1}%",
            kind.as_str(),
            c,
            d,
            100.0 * rate(d, c)
        );
    }
    let _ = writeln!(
        out,
        "{:<18} {:>6} {:>9} {:>7.1}%",
        "all attacks",
        n,
        b,
        100.0 * rate(b, n)
    );
    let benign = rows.get("benign");
    let (c, blocked) = benign.map_or((0, 0), |r| (r.count, r.blocked));
    let _ = writeln!(
        out,
        "{:<18} {:>6} {:>9} {:>8}",
        "", "count", "passed", "TNR"
    );
    let _ = writeln!(
        out,
        "{:<18} {:>6} {:>9} {:>7.1}%",
        "benign",
        c,
        c - blocked,
        100.0 * rate(c - blocked, c)
    );
    for kind in payload_kinds() {
        if let Some(r) = rows.get(kind.as_str())
            && !r.wrong.is_empty()
        {
            if list_ids {
                let _ = writeln!(
                    out,
                    "missed {} ({}): {}",
                    kind.as_str(),
                    r.wrong.len(),
                    r.wrong.join(" ")
                );
            } else {
                let _ = writeln!(out, "missed {}: {}", kind.as_str(), r.wrong.len());
            }
        }
    }
    if let Some(r) = benign
        && !r.wrong.is_empty()
    {
        let _ = writeln!(out, "false positives ({}):", r.wrong.len());
        for w in &r.wrong {
            let _ = writeln!(out, "  {w}");
        }
    }
    out
}

#[test]
fn corpus_detection_rates() {
    let cases = load();
    let attacks = cases.iter().filter(|c| c.class != "benign").count();
    let benign = cases.len() - attacks;

    let mut report = String::new();
    let mut pl1 = None;
    let mut levels = Vec::new();
    for paranoia in 1..=4u8 {
        let (rows, verdicts) = run(&cases, paranoia);
        report.push_str(&table(&rows, paranoia, paranoia == 1));
        if paranoia == 1 {
            pl1 = Some(rows);
        }
        levels.push(verdicts);
    }
    let by_location = breakdown(&cases, &levels, |c| c.location.as_deref());
    let by_group = breakdown(&cases, &levels, |c| c.group.as_deref());
    report.push_str(&breakdown_table("attacks by location (`in`)", &by_location));
    report.push_str(&breakdown_table("groups", &by_group));
    println!("{report}");
    let rows = pl1.unwrap();

    // The floors, at the default options.
    let mut failures = Vec::new();
    if attacks < MIN_ATTACKS {
        failures.push(format!("only {attacks} attack requests (< {MIN_ATTACKS})"));
    }
    if benign < MIN_BENIGN {
        failures.push(format!("only {benign} benign requests (< {MIN_BENIGN})"));
    }
    for kind in payload_kinds() {
        match rows.get(kind.as_str()) {
            None => failures.push(format!("no {} requests in the corpus", kind.as_str())),
            Some(r) => {
                let tpr = rate(r.blocked, r.count);
                if tpr < ATTACK_TPR_FLOOR {
                    failures.push(format!(
                        "{}: TPR {:.1}% < {:.0}% ({} of {} missed)",
                        kind.as_str(),
                        100.0 * tpr,
                        100.0 * ATTACK_TPR_FLOOR,
                        r.count - r.blocked,
                        r.count
                    ));
                }
            }
        }
    }
    if let Some(r) = rows.get("benign") {
        let tnr = rate(r.count - r.blocked, r.count);
        if tnr < BENIGN_TNR_FLOOR {
            failures.push(format!(
                "benign: TNR {:.2}% < {:.1}% ({} false positives)",
                100.0 * tnr,
                100.0 * BENIGN_TNR_FLOOR,
                r.blocked
            ));
        }
    }
    for (k, benign, n, rates) in by_location.iter().chain(&by_group) {
        let floor = match (benign, by_location.iter().any(|l| &l.0 == k)) {
            (true, _) => GROUP_TNR_FLOOR,
            (false, true) => LOCATION_TPR_FLOOR,
            (false, false) => GROUP_TPR_FLOOR,
        };
        if rates[0] < floor {
            failures.push(format!(
                "{k} ({n}): {:.1}% < {:.0}% at paranoia 1",
                100.0 * rates[0],
                100.0 * floor
            ));
        }
    }
    for loc in LOCATIONS {
        if !by_location.iter().any(|l| l.0 == loc) {
            failures.push(format!("no attack in {loc}"));
        }
    }
    // Each level blocks what the level below blocks, and more.
    for p in 1..levels.len() {
        let (below, at) = (&levels[p - 1], &levels[p]);
        let lost: Vec<&str> = cases
            .iter()
            .zip(below.iter().zip(at))
            .filter(|(_, (b, a))| **b && !**a)
            .map(|(c, _)| c.id.as_str())
            .collect();
        if !lost.is_empty() {
            failures.push(format!(
                "paranoia {} lets through what {p} blocks: {}",
                p + 1,
                lost.join(" ")
            ));
        }
        if below == at {
            failures.push(format!("paranoia {} changes no verdict of {p}", p + 1));
        }
        let benign: Vec<usize> = (0..cases.len())
            .filter(|&i| cases[i].class == "benign")
            .collect();
        let tnr = rate(benign.iter().filter(|&&i| !at[i]).count(), benign.len());
        let floor = BENIGN_TNR_FLOOR_BY_LEVEL[p - 1];
        if tnr < floor {
            failures.push(format!(
                "benign at paranoia {}: TNR {:.1}% < {:.0}%",
                p + 1,
                100.0 * tnr,
                100.0 * floor
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "corpus floors not met:\n  {}",
        failures.join("\n  ")
    );
}

/// The held-out set (`tests/holdout/`): requests written after the
/// detectors were tuned on the corpus, never used to tune them. It measures
/// how the detectors do on attacks and text they have not seen; its floors
/// are looser than the corpus's and its numbers are the ones to quote.
#[test]
fn holdout_detection_rates() {
    let cases = load_from(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/holdout"));
    let (rows, _) = run(&cases, 1);
    println!("{}", table(&rows, 1, true));
    let (mut attacks, mut caught) = (0, 0);
    for (class, r) in &rows {
        if class != "benign" {
            attacks += r.count;
            caught += r.blocked;
        }
    }
    let benign = rows
        .get("benign")
        .map(|r| (r.count, r.blocked))
        .unwrap_or((0, 0));
    assert!(attacks >= 40 && benign.0 >= 50, "the held-out set shrank");
    let tpr = rate(caught, attacks);
    let tnr = rate(benign.0 - benign.1, benign.0);
    println!("held-out: TPR {:.1}%, TNR {:.1}%", 100.0 * tpr, 100.0 * tnr);
    assert!(tpr >= 0.85, "held-out TPR {:.1}%", 100.0 * tpr);
    assert!(tnr >= 0.95, "held-out TNR {:.1}%", 100.0 * tnr);
}
