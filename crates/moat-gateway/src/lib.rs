//! moat's server: listeners, TLS, routing, the upstream pool, the request
//! pipeline, the admin API and metrics.
//!
//! [`Gateway::start`] takes a [`ConfigLoader`] (so that reloads read the same
//! source), binds every listener and serves until [`Gateway::shutdown`] or a
//! signal ([`Gateway::run_until_signal`]).
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod abuse;
pub mod access_log;
mod admin;
mod anomaly_share;
mod auto_bans;
pub mod body;
pub mod capture;
pub mod client_cert;
pub mod cors;
pub mod events;
pub mod executor;
pub mod forwarding;
pub mod identity;
mod idle;
pub mod inspection;
pub mod limits;
mod listener;
mod log_throttle;
pub mod pipeline;
pub mod protections;
mod reload;
pub mod risk;
pub mod runtime;
mod server;
pub mod slots;
pub mod state;
pub mod telemetry;
pub mod timer;
pub mod tls;
pub mod traffic;
pub mod upstream;

pub use server::{CheckReport, ConfigLoader, Gateway, ReloadError, StartError, check};
