//! `moat db`: the durable state's schema and a portable dump of it.
//!
//! - `moat db migrate`: bring the schema up to date (the SQLite file, or
//!   PostgreSQL for a cluster), printing from-version → to-version.
//! - `moat db export [--output FILE|-]`: write the state as JSON Lines
//!   (`moat_state::dump`): hashes only, never a secret.
//! - `moat db import FILE [--merge]`: load a dump in one transaction.
//!
//! The store is the one the config's `state` section names (the SQLite
//! file, or a cluster's PostgreSQL), or the one `--sqlite` or
//! `--postgres-url` (or `MOAT_POSTGRES_URL`) names.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use moat_state::dump::{self, Counts, Imported};
use moat_state::{
    DurableStore, DurableTarget, PostgresOptions, PostgresStore, SCHEMA_VERSION, SqliteStore,
};

use crate::state_cli::{Failure, load_state};

/// Options of `moat db`.
#[derive(Debug, Args)]
pub struct DbArgs {
    /// The config file (YAML): its `state` section names the store.
    #[arg(short, long, value_name = "FILE", env = "MOAT_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Use this SQLite file instead of the config's.
    #[arg(
        long,
        value_name = "PATH",
        global = true,
        conflicts_with = "postgres_url"
    )]
    sqlite: Option<PathBuf>,
    /// Use this PostgreSQL database instead of the config's
    /// (`postgres://user:password@host:5432/moat`). Prefer the environment
    /// variable: a password on the command line is visible to other users.
    #[arg(
        long,
        value_name = "URL",
        env = "MOAT_POSTGRES_URL",
        hide_env_values = true,
        global = true
    )]
    postgres_url: Option<String>,
    #[command(subcommand)]
    command: DbCommand,
}

#[derive(Debug, Subcommand)]
enum DbCommand {
    /// Bring the state's schema up to date.
    Migrate,
    /// Write the state as JSON Lines (hashes only, never a secret).
    Export {
        /// Where to write; `-` for standard output.
        #[arg(short, long, value_name = "FILE", default_value = "-")]
        output: PathBuf,
    },
    /// Load a dump written by `moat db export`, in one transaction.
    Import {
        /// The dump; `-` for standard input.
        #[arg(value_name = "FILE")]
        input: PathBuf,
        /// Import into a store that holds state, skipping records it has.
        #[arg(long)]
        merge: bool,
    },
}

/// Opens `target`, migrating it when `migrate` (the SQLite file always is,
/// when opened); otherwise a PostgreSQL schema must be current.
async fn open(target: &DurableTarget, migrate: bool) -> Result<DurableStore, Failure> {
    let target = match target {
        DurableTarget::Postgres { options, .. } => DurableTarget::Postgres {
            options: options.clone(),
            migrate,
        },
        sqlite => sqlite.clone(),
    };
    DurableStore::open(&target)
        .await
        .map_err(|e| Failure(e.to_string()))
}

/// Migrates `target`; its name and the `(from, to)` schema versions.
pub async fn migrate(target: &DurableTarget) -> Result<(String, i64, i64), Failure> {
    let fail = |e: moat_state::StoreError| Failure(e.to_string());
    match target {
        DurableTarget::Sqlite(path) => {
            let from = SqliteStore::file_schema_version(path)
                .await
                .map_err(fail)?
                .unwrap_or(0);
            let store = open(target, true).await?;
            let name = store.name();
            store.close().await;
            Ok((name, from, SCHEMA_VERSION))
        }
        DurableTarget::Postgres { options, .. } => {
            let store = PostgresStore::connect(options).await.map_err(fail)?;
            let (from, to) = store.migrate().await.map_err(fail)?;
            let name = store.name().to_string();
            store.close().await;
            Ok((name, from, to))
        }
    }
}

/// Writes the state of `target` to `out`. A SQLite file that does not
/// exist is an error, not an empty dump.
pub async fn export(target: &DurableTarget, out: &mut dyn Write) -> Result<Counts, Failure> {
    if let DurableTarget::Sqlite(path) = target
        && !path.exists()
    {
        return Err(Failure(format!(
            "there is no state file at {}",
            path.display()
        )));
    }
    let store = open(target, false).await?;
    let result = dump::export(&store, out).await;
    store.close().await;
    result.map_err(|e| Failure(e.to_string()))
}

/// Loads the dump in `input` into `target` (migrating it first).
pub async fn import(
    target: &DurableTarget,
    input: &mut dyn BufRead,
    merge: bool,
) -> Result<Imported, Failure> {
    let store = open(target, true).await?;
    let result = dump::import(&store, input, merge).await;
    store.close().await;
    result.map_err(|e| Failure(format!("nothing was imported: {e}")))
}

/// The store the arguments name: `--postgres-url`, `--sqlite`, or the
/// config's `state` section.
fn target(args: &DbArgs) -> Result<DurableTarget, Failure> {
    if let Some(url) = &args.postgres_url {
        return Ok(DurableTarget::Postgres {
            options: PostgresOptions::new(url.clone()),
            migrate: false,
        });
    }
    if let Some(path) = &args.sqlite {
        return Ok(DurableTarget::Sqlite(path.clone()));
    }
    let Some(config) = &args.config else {
        return Err(Failure(
            "name the store: --config FILE (or MOAT_CONFIG), --sqlite PATH, or \
             --postgres-url URL (or MOAT_POSTGRES_URL)"
                .into(),
        ));
    };
    Ok(moat_gateway::state::durable_target(&load_state(config)?))
}

fn summary(c: &Counts) -> String {
    format!(
        "{} keys, {} object owners, {} bans, {} admin tokens, {} discovered operations, {} events",
        c.keys, c.owners, c.bans, c.admin_tokens, c.discovered, c.events
    )
}

/// Runs `moat db …`.
pub async fn run(args: DbArgs) -> ExitCode {
    match execute(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(message)) => {
            eprintln!("moat: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn execute(args: DbArgs) -> Result<(), Failure> {
    let target = target(&args)?;
    match args.command {
        DbCommand::Migrate => {
            let (name, from, to) = migrate(&target).await?;
            if from == to {
                println!("{name}: schema version {to}, up to date");
            } else {
                println!("{name}: schema version {from} → {to}");
            }
        }
        DbCommand::Export { output } => {
            let io = |e: std::io::Error| Failure(format!("{}: {e}", output.display()));
            let counts = if output.as_os_str() == "-" {
                let stdout = std::io::stdout();
                let mut out = BufWriter::new(stdout.lock());
                export(&target, &mut out).await?
            } else {
                let mut out = BufWriter::new(File::create(&output).map_err(io)?);
                let counts = export(&target, &mut out).await?;
                out.flush().map_err(io)?;
                counts
            };
            eprintln!("exported {}", summary(&counts));
        }
        DbCommand::Import { input, merge } => {
            let done = if input.as_os_str() == "-" {
                let stdin = std::io::stdin();
                import(&target, &mut stdin.lock(), merge).await?
            } else {
                let file =
                    File::open(&input).map_err(|e| Failure(format!("{}: {e}", input.display())))?;
                import(&target, &mut BufReader::new(file), merge).await?
            };
            println!("imported {}", summary(&done.written));
            if done.skipped != Counts::default() {
                println!("skipped (already there) {}", summary(&done.skipped));
            }
        }
    }
    Ok(())
}
