//! The bookstore's planted weaknesses, each one switchable, so the scanner
//! can be shown to find every one (all on) and to find nothing on the
//! fixed API (all off).
//!
//! `moat demo` runs with all of them on: it shows the gateway closing them.
//! `moat demo --upstream-only --weaknesses none` serves the fixed API.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

macro_rules! weaknesses {
    ($($(#[doc = $doc:literal])* $variant:ident = $name:literal,)*) => {
        /// One planted weakness.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Weakness {
            $($(#[doc = $doc])* $variant,)*
        }

        impl Weakness {
            /// Every weakness, in the order of the OWASP categories.
            pub const ALL: &'static [Weakness] = &[$(Weakness::$variant,)*];

            /// Its name on the command line.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Weakness::$variant => $name,)*
                }
            }
        }
    };
}

weaknesses! {
    // API1 Broken Object Level Authorization
    /// `GET /api/orders/{orderId}` answers any caller's order (numeric ids).
    BolaNumeric = "bola-numeric",
    /// `GET /api/notes/{title}` answers any caller's note (string ids).
    BolaString = "bola-string",
    /// `GET /api/invoices?orderId=` answers the invoice of any order.
    BolaQuery = "bola-query",
    /// `POST /api/orders/lookup {"orderId": …}` answers any order.
    BolaBody = "bola-body",
    // API2 Broken Authentication
    /// `GET /api/users/{userId}` answers without credentials.
    NoAuth = "no-auth",
    /// Tokens are signed with jwt.io's published example secret.
    WeakJwtSecret = "weak-jwt-secret",
    /// Tokens with `alg: none` and no signature are accepted.
    JwtAlgNone = "jwt-alg-none",
    /// Token signatures are not checked.
    JwtUnverified = "jwt-unverified",
    /// Expired tokens are accepted.
    JwtExpired = "jwt-expired",
    /// The login says "no such user" for unknown names.
    UserEnumeration = "user-enumeration",
    /// Failed logins are never slowed or locked out.
    NoLockout = "no-lockout",
    // API3 Broken Object Property Level Authorization
    /// Writes store properties the document forbids or marks `readOnly`
    /// (`role`, `discount`), and they persist.
    MassAssignment = "mass-assignment",
    /// `GET /api/users/{userId}` answers the whole record, `passwordHash`
    /// and `ssn` included.
    ExcessiveExposure = "excessive-exposure",
    // API4 Unrestricted Resource Consumption
    /// No rate limit on any operation.
    NoRateLimit = "no-rate-limit",
    /// `GET /api/books?limit=` accepts any page size.
    UnboundedPage = "unbounded-page",
    /// Request bodies of any size are read.
    UnboundedBody = "unbounded-body",
    /// An email check with a backtracking pattern (super-linear time).
    Redos = "redos",
    // API5 Broken Function Level Authorization
    /// Administrators' operations answer ordinary users.
    Bfla = "bfla",
    /// Undocumented methods on documented paths are served
    /// (`DELETE /api/orders/{orderId}`).
    MethodSwap = "method-swap",
    /// Users may change another account's email or password.
    AccountTakeover = "account-takeover",
    // API6 Unrestricted Access to Sensitive Business Flows
    /// A coupon can be redeemed again and again, as fast as one likes.
    RepeatableFlow = "repeatable-flow",
    // API7 Server Side Request Forgery
    /// `GET /api/covers/preview?url=` fetches any URL.
    Ssrf = "ssrf",
    // API8 Security Misconfiguration
    /// Any `Origin` is reflected, with credentials allowed.
    Cors = "cors",
    /// No `X-Content-Type-Options`, `Cache-Control: no-store`, CSP or
    /// frame options on answers.
    MissingSecurityHeaders = "missing-security-headers",
    /// Errors carry a stack trace and internal paths.
    VerboseErrors = "verbose-errors",
    /// `TRACE` echoes the request, credentials included.
    Trace = "trace",
    /// `Server` and `X-Powered-By` name software and versions.
    ServerVersion = "server-version",
    /// SQL injection in a path segment: `GET /api/authors/{name}/books`.
    SqlInjection = "sql-injection",
    /// The login takes MongoDB-style operators (`{"$ne": ""}`).
    NosqlInjection = "nosql-injection",
    /// `GET /api/tools/ping?host=` passes the host to a (simulated) shell.
    CommandInjection = "command-injection",
    /// `GET /api/files/{name}` resolves `../` out of its directory
    /// (a simulated file system).
    PathTraversal = "path-traversal",
    /// `GET /api/greeting?name=` evaluates `{{…}}` expressions.
    TemplateInjection = "template-injection",
    // API9 Improper Inventory Management
    /// An older, undocumented version is still served: `/api/v0/books`.
    OldVersion = "old-version",
    /// The deprecated `GET /api/v1/books` still answers.
    DeprecatedLive = "deprecated-live",
    /// Debugging routes are left on: `/api/debug/config`, `/api/debug/users`.
    DebugRoutes = "debug-routes",
    /// The API description and a console are served:
    /// `/api/openapi.json`, `/api/docs`.
    ExposedDocs = "exposed-docs",
    // GraphQL (`/api/graphql`)
    /// Introspection answers the whole schema.
    GraphqlIntrospection = "graphql-introspection",
    /// Errors suggest field names ("Did you mean …?").
    GraphqlSuggestions = "graphql-suggestions",
    /// A batch (a JSON array of operations) is executed.
    GraphqlBatching = "graphql-batching",
    /// No limit on query depth.
    GraphqlDepth = "graphql-depth",
    /// No limit on aliases.
    GraphqlAliases = "graphql-aliases",
    /// Mutations are executed over GET.
    GraphqlGetMutation = "graphql-get-mutation",
    /// GraphiQL is served at `/api/graphiql`.
    Graphiql = "graphiql",
}

impl fmt::Display for Weakness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which weaknesses are on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Weaknesses(BTreeSet<Weakness>);

impl Weaknesses {
    #[cfg(test)]
    pub fn all() -> Self {
        Self(Weakness::ALL.iter().copied().collect())
    }

    #[cfg(test)]
    pub fn none() -> Self {
        Self(BTreeSet::new())
    }

    /// Whether `weakness` is on.
    pub fn has(&self, weakness: Weakness) -> bool {
        self.0.contains(&weakness)
    }
}

/// A `--weaknesses` value that names no weakness.
#[derive(Debug, thiserror::Error)]
#[error("unknown weakness `{0}`: expected `all`, `none` or a comma-separated list of: {list}", list = Weakness::ALL.iter().map(|w| w.name()).collect::<Vec<_>>().join(", "))]
pub struct UnknownWeakness(String);

impl FromStr for Weaknesses {
    type Err = UnknownWeakness;

    /// `all`, `none`, or names separated by commas; `all,-cors` is every
    /// weakness but one.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut set = BTreeSet::new();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            match item {
                "all" => set.extend(Weakness::ALL.iter().copied()),
                "none" => set.clear(),
                _ => {
                    let (remove, name) = match item.strip_prefix('-') {
                        Some(name) => (true, name),
                        None => (false, item),
                    };
                    let weakness = Weakness::ALL
                        .iter()
                        .copied()
                        .find(|w| w.name() == name)
                        .ok_or_else(|| UnknownWeakness(item.to_string()))?;
                    if remove {
                        set.remove(&weakness);
                    } else {
                        set.insert(weakness);
                    }
                }
            }
        }
        Ok(Self(set))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_all_none_lists_and_removals() {
        assert_eq!("all".parse::<Weaknesses>().unwrap(), Weaknesses::all());
        assert_eq!("none".parse::<Weaknesses>().unwrap(), Weaknesses::none());
        let some: Weaknesses = "cors,trace".parse().unwrap();
        assert!(some.has(Weakness::Cors) && some.has(Weakness::Trace));
        assert!(!some.has(Weakness::Ssrf));
        let most: Weaknesses = "all,-cors".parse().unwrap();
        assert!(!most.has(Weakness::Cors) && most.has(Weakness::Ssrf));
        let error = "cors,nope".parse::<Weaknesses>().unwrap_err().to_string();
        assert!(
            error.contains("`nope`") && error.contains("bola-numeric"),
            "{error}"
        );
    }

    #[test]
    fn names_are_unique() {
        let names: BTreeSet<&str> = Weakness::ALL.iter().map(|w| w.name()).collect();
        assert_eq!(names.len(), Weakness::ALL.len());
    }
}
