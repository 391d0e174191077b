//! "projects": a project tracker whose ids are UUIDs, with a deprecated
//! `/v1` (numeric ids) beside `/v2`, nested tasks, reports by day, build
//! hashes and ObjectId-like artifact ids, behind bearer JWTs.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::{Value, json};

use super::server::{Reply, Req};
use super::traffic::{Call, Rng};

/// The API's true document.
pub const DOC: &str = r##"
openapi: 3.1.0
info: {title: Projects, version: "2.3.0"}
components:
  securitySchemes:
    bearer: {type: http, scheme: bearer, bearerFormat: JWT}
  parameters:
    ProjectId: {name: projectId, in: path, required: true, schema: {type: string, format: uuid}}
    TaskId: {name: taskId, in: path, required: true, schema: {type: string, format: uuid}}
    Page: {name: page, in: query, schema: {type: integer, minimum: 1}}
  schemas:
    NewProject:
      type: object
      required: [name]
      properties:
        name: {type: string}
        status: {type: string, enum: [active, paused, done]}
    NewTask:
      type: object
      required: [title]
      properties:
        title: {type: string}
        due: {type: string, format: date}
security: [{bearer: []}]
paths:
  /health:
    get:
      security: []
      responses: {"200": {description: up}}
  /v2/auth/token:
    post:
      security: []
      requestBody:
        content:
          application/json:
            schema:
              type: object
              properties: {client: {type: string}, secret: {type: string}}
      responses: {"200": {description: a token}, "401": {description: refused}}
  /v2/me:
    get:
      responses: {"200": {description: the caller}}
  /v2/projects:
    get:
      parameters:
        - $ref: "#/components/parameters/Page"
        - {name: archived, in: query, schema: {type: boolean}}
        - {name: status, in: query, schema: {type: string, enum: [active, paused, done]}}
        - {name: updatedSince, in: query, schema: {type: string, format: date-time}}
      responses: {"200": {description: projects}}
    post:
      requestBody:
        content: {application/json: {schema: {$ref: "#/components/schemas/NewProject"}}}
      responses: {"201": {description: created}, "422": {description: invalid}}
  /v2/projects/{projectId}:
    parameters: [{$ref: "#/components/parameters/ProjectId"}]
    get:
      responses: {"200": {description: a project}, "404": {description: none}}
    patch:
      requestBody:
        content: {application/json: {schema: {$ref: "#/components/schemas/NewProject"}}}
      responses: {"200": {description: updated}, "404": {description: none}}
    delete:
      responses: {"204": {description: deleted}, "404": {description: none}}
  /v2/projects/{projectId}/tasks:
    parameters: [{$ref: "#/components/parameters/ProjectId"}]
    get:
      parameters:
        - $ref: "#/components/parameters/Page"
        - {name: done, in: query, schema: {type: boolean}}
      responses: {"200": {description: tasks}, "404": {description: none}}
    post:
      requestBody:
        content: {application/json: {schema: {$ref: "#/components/schemas/NewTask"}}}
      responses: {"201": {description: created}, "422": {description: invalid}}
  /v2/projects/{projectId}/tasks/{taskId}:
    parameters:
      - $ref: "#/components/parameters/ProjectId"
      - $ref: "#/components/parameters/TaskId"
    get:
      responses: {"200": {description: a task}, "404": {description: none}}
    put:
      requestBody:
        content: {application/json: {schema: {$ref: "#/components/schemas/NewTask"}}}
      responses: {"200": {description: replaced}, "404": {description: none}}
  /v2/projects/{projectId}/members:
    parameters: [{$ref: "#/components/parameters/ProjectId"}]
    get:
      responses: {"200": {description: members}}
  /v2/reports/{day}:
    get:
      parameters: [{name: day, in: path, required: true, schema: {type: string, format: date}}]
      responses: {"200": {description: the day's report}}
  /v2/builds/{buildId}:
    get:
      parameters: [{name: buildId, in: path, required: true, schema: {type: string}}]
      responses: {"200": {description: a build}, "404": {description: none}}
  /v2/artifacts/{artifactId}:
    get:
      parameters: [{name: artifactId, in: path, required: true, schema: {type: string}}]
      responses: {"200": {description: an artifact}, "404": {description: none}}
  /v1/projects:
    get:
      deprecated: true
      parameters: [{$ref: "#/components/parameters/Page"}]
      responses: {"200": {description: projects}}
  /v1/projects/{projectId}:
    get:
      deprecated: true
      parameters: [{name: projectId, in: path, required: true, schema: {type: integer}}]
      responses: {"200": {description: a project}, "404": {description: none}}
"##;

struct Project {
    name: String,
    status: &'static str,
    tasks: BTreeMap<String, String>,
}

/// What the API holds, and what its clients know of it.
pub struct Data {
    projects: Vec<String>,
    tasks: Vec<(String, String)>,
    builds: Vec<String>,
    artifacts: Vec<String>,
    tokens: Vec<String>,
}

impl Data {
    pub fn new(rng: &mut Rng) -> Data {
        let projects: Vec<String> = (0..60).map(|_| rng.uuid()).collect();
        let mut tasks = Vec::new();
        for p in &projects {
            for _ in 0..rng.below(6) {
                tasks.push((p.clone(), rng.uuid()));
            }
        }
        // Build hashes always hold a digit and a letter.
        let builds = (0..40)
            .map(|i| format!("{:x}{}", 0xa0 + i, rng.hex(12)))
            .collect();
        let artifacts = (0..40)
            .map(|i| format!("65{:02x}{}", i, rng.hex(20)))
            .collect();
        let tokens = (0..25)
            .map(|i| {
                format!(
                    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLXtpfSJ9.{}{i}",
                    rng.hex(16)
                )
            })
            .collect();
        Data {
            projects,
            tasks,
            builds,
            artifacts,
            tokens,
        }
    }
}

/// The API's handler.
pub fn handler(data: &Data) -> impl Fn(Req) -> Reply + Send + Sync + 'static {
    let tokens = data.tokens.clone();
    let builds = data.builds.clone();
    let artifacts = data.artifacts.clone();
    let ordered: Vec<String> = data.projects.clone();
    let mut projects = BTreeMap::new();
    for (i, id) in data.projects.iter().enumerate() {
        projects.insert(
            id.clone(),
            Project {
                name: format!("project {i}"),
                status: ["active", "paused", "done"][i % 3],
                tasks: BTreeMap::new(),
            },
        );
    }
    for (p, t) in &data.tasks {
        if let Some(project) = projects.get_mut(p) {
            project.tasks.insert(t.clone(), format!("task {t}"));
        }
    }
    let state = Mutex::new(projects);
    move |req: Req| {
        let s = req.seg();
        let method = req.method.as_str();
        if s == ["health"] {
            return Reply::json(200, json!({"status": "ok"}));
        }
        if (method, s.as_slice()) == ("POST", &["v2", "auth", "token"][..]) {
            return match req.body {
                Some(Ok(b)) if b["secret"].is_string() => Reply::json(
                    200,
                    json!({"access_token": tokens[0], "token_type": "Bearer"}),
                ),
                _ => Reply::problem(401, "bad client"),
            };
        }
        let authorized = req
            .header("authorization")
            .and_then(|h| h.strip_prefix("Bearer "))
            .is_some_and(|t| tokens.iter().any(|k| k == t));
        if !authorized {
            return Reply::problem(401, "bearer token required")
                .with_header("www-authenticate", "Bearer".into());
        }
        let mut projects = state.lock().unwrap();
        let project_json = |id: &str, p: &Project| json!({"id": id, "name": p.name, "status": p.status, "tasks": p.tasks.len()});
        match (method, s.as_slice()) {
            ("GET", ["v2", "me"]) => Reply::json(200, json!({"id": 1, "name": "caller"})),
            ("GET", ["v2", "projects"]) => {
                let page: usize = req.query("page").and_then(|p| p.parse().ok()).unwrap_or(1);
                let list: Vec<Value> = projects
                    .iter()
                    .filter(|(_, p)| req.query("status").is_none_or(|s| s == p.status))
                    .skip((page.max(1) - 1) * 10)
                    .take(10)
                    .map(|(id, p)| project_json(id, p))
                    .collect();
                Reply::json(200, json!({"items": list, "page": page}))
            }
            ("POST", ["v2", "projects"]) => match req.body {
                Some(Ok(b)) if b["name"].is_string() => {
                    Reply::json(201, json!({"id": "pending", "name": b["name"]}))
                }
                _ => Reply::problem(422, "name required"),
            },
            (_, ["v2", "projects", id, rest @ ..]) => {
                let Some(p) = projects.get_mut(*id) else {
                    return Reply::problem(404, "no such project");
                };
                match (method, rest) {
                    ("GET", []) => Reply::json(200, project_json(id, p)),
                    ("PATCH", []) => {
                        if let Some(Ok(b)) = &req.body
                            && let Some(name) = b["name"].as_str()
                        {
                            p.name = name.to_string();
                        }
                        Reply::json(200, project_json(id, p))
                    }
                    ("DELETE", []) => Reply::empty(204),
                    ("GET", ["tasks"]) => {
                        let tasks: Vec<Value> = p
                            .tasks
                            .iter()
                            .map(|(t, title)| json!({"id": t, "title": title, "done": false}))
                            .collect();
                        Reply::json(200, json!({"items": tasks}))
                    }
                    ("POST", ["tasks"]) => match &req.body {
                        Some(Ok(b)) if b["title"].is_string() => {
                            Reply::json(201, json!({"title": b["title"], "done": false}))
                        }
                        _ => Reply::problem(422, "title required"),
                    },
                    ("GET" | "PUT", ["tasks", t]) => match p.tasks.get(*t) {
                        Some(title) => {
                            Reply::json(200, json!({"id": t, "title": title, "done": false}))
                        }
                        None => Reply::problem(404, "no such task"),
                    },
                    ("GET", ["members"]) => Reply::json(
                        200,
                        json!([{"user": "ana", "role": "owner"}, {"user": "ben", "role": "dev"}]),
                    ),
                    _ => Reply::problem(405, "method not allowed"),
                }
            }
            ("GET", ["v2", "reports", day]) => {
                Reply::json(200, json!({"day": day, "closed": day.len()}))
            }
            ("GET", ["v2", "builds", b]) => match builds.iter().any(|x| x == b) {
                true => Reply::json(200, json!({"id": b, "ok": true})),
                false => Reply::problem(404, "no such build"),
            },
            ("GET", ["v2", "artifacts", a]) => match artifacts.iter().any(|x| x == a) {
                true => Reply::json(200, json!({"id": a, "size": 1024})),
                false => Reply::problem(404, "no such artifact"),
            },
            ("GET", ["v1", "projects"]) => Reply::json(
                200,
                json!(
                    ordered
                        .iter()
                        .take(10)
                        .enumerate()
                        .map(|(i, _)| json!({"id": i + 1}))
                        .collect::<Vec<_>>()
                ),
            )
            .with_header("deprecation", "true".into()),
            ("GET", ["v1", "projects", n]) => match n.parse::<usize>() {
                Ok(i) if (1..=ordered.len()).contains(&i) => {
                    Reply::json(200, json!({"id": i, "uuid": ordered[i - 1]}))
                }
                _ => Reply::problem(404, "no such project"),
            },
            _ => Reply::problem(404, "not found"),
        }
    }
}

/// `n` calls: many clients, popular projects often, a long tail, lists
/// with their filters, writes and mistakes.
pub fn plan(data: &Data, rng: &mut Rng, n: usize) -> Vec<Call> {
    let weights = [
        3,  // health
        2,  // token
        5,  // me
        12, // list projects
        2,  // create project
        18, // get project
        3,  // patch project
        1,  // delete project
        9,  // list tasks
        3,  // create task
        10, // get task
        3,  // put task
        4,  // members
        5,  // report
        5,  // build
        4,  // artifact
        2,  // v1 list
        2,  // v1 get
    ];
    let mut calls = Vec::with_capacity(n);
    for _ in 0..n {
        let token = data.tokens[rng.popular(data.tokens.len())].clone();
        let project = data.projects[rng.popular(data.projects.len())].clone();
        // One request in twenty names something that is not there.
        let missing = rng.chance(5);
        let project = if missing { rng.uuid() } else { project };
        let task = if data.tasks.is_empty() || missing {
            (project.clone(), rng.uuid())
        } else {
            data.tasks[rng.popular(data.tasks.len())].clone()
        };
        let call = match rng.weighted(&weights) {
            0 => Call::new("GET", "/health"),
            1 => {
                let secret = if rng.chance(80) {
                    json!("s3cr3t-value")
                } else {
                    json!(null)
                };
                Call::new("POST", "/v2/auth/token")
                    .json(json!({"client": format!("ci-{}", rng.below(9)), "secret": secret}))
            }
            2 => Call::new("GET", "/v2/me"),
            3 => {
                let mut q = Vec::new();
                if rng.chance(60) {
                    q.push(format!("page={}", 1 + rng.below(6)));
                }
                if rng.chance(30) {
                    q.push(format!("archived={}", rng.chance(50)));
                }
                if rng.chance(40) {
                    q.push(format!(
                        "status={}",
                        rng.pick(&["active", "paused", "done"])
                    ));
                }
                if rng.chance(25) {
                    q.push(format!(
                        "updatedSince=2026-11-{:02}T{:02}:00:00Z",
                        1 + rng.below(28),
                        rng.below(24)
                    ));
                }
                if q.is_empty() {
                    Call::new("GET", "/v2/projects")
                } else {
                    Call::new("GET", format!("/v2/projects?{}", q.join("&")))
                }
            }
            4 => {
                let body = if rng.chance(85) {
                    json!({"name": format!("Project {}", rng.below(1000)), "status": "active"})
                } else {
                    json!({"status": "paused"})
                };
                Call::new("POST", "/v2/projects").json(body)
            }
            5 => Call::new("GET", format!("/v2/projects/{project}")),
            6 => Call::new("PATCH", format!("/v2/projects/{project}"))
                .json(json!({"name": format!("Renamed {}", rng.below(100))})),
            7 => Call::new("DELETE", format!("/v2/projects/{}", rng.uuid())),
            8 => {
                let target = match rng.below(3) {
                    0 => format!("/v2/projects/{project}/tasks?done={}", rng.chance(50)),
                    1 => format!("/v2/projects/{project}/tasks?page={}", 1 + rng.below(3)),
                    _ => format!("/v2/projects/{project}/tasks"),
                };
                Call::new("GET", target)
            }
            9 => {
                let body = if rng.chance(85) {
                    json!({"title": "write the docs", "due": "2026-12-24"})
                } else {
                    json!({"due": "soon"})
                };
                Call::new("POST", format!("/v2/projects/{project}/tasks")).json(body)
            }
            10 => Call::new("GET", format!("/v2/projects/{}/tasks/{}", task.0, task.1)),
            11 => Call::new("PUT", format!("/v2/projects/{}/tasks/{}", task.0, task.1))
                .json(json!({"title": "reviewed", "due": "2027-01-15"})),
            12 => Call::new("GET", format!("/v2/projects/{project}/members")),
            13 => Call::new(
                "GET",
                format!(
                    "/v2/reports/2026-{:02}-{:02}",
                    10 + rng.below(3),
                    1 + rng.below(28)
                ),
            ),
            14 => Call::new(
                "GET",
                format!("/v2/builds/{}", data.builds[rng.popular(data.builds.len())]),
            ),
            15 => Call::new(
                "GET",
                format!(
                    "/v2/artifacts/{}",
                    data.artifacts[rng.popular(data.artifacts.len())]
                ),
            ),
            16 => Call::new("GET", format!("/v1/projects?page={}", 1 + rng.below(4))),
            _ => Call::new("GET", format!("/v1/projects/{}", 1 + rng.popular(80))),
        };
        // A few clients forget their token.
        let call = if rng.chance(3) {
            call
        } else {
            call.header("authorization", format!("Bearer {token}"))
        };
        calls.push(call);
    }
    calls
}
