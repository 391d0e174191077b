//! Writes a generated HAR of API traffic (see `tests/har_gen`), for
//! measuring `moat discover` on large captures:
//!
//! `cargo run --release -p moat --example gen_har -- 100 capture.har`
//! (the size in MB, 10^6 bytes).
#![allow(dead_code)]

#[path = "../tests/har_gen/mod.rs"]
mod har_gen;

use std::fs::File;
use std::io::BufWriter;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(mb), Some(path)) = (
        args.first().and_then(|a| a.parse::<u64>().ok()),
        args.get(1),
    ) else {
        eprintln!("usage: gen_har SIZE_MB FILE.har");
        return ExitCode::from(2);
    };
    let written = File::create(path).and_then(|f| {
        let mut out = BufWriter::new(f);
        har_gen::write_har(&mut out, mb * 1_000_000)
    });
    match written {
        Ok(entries) => {
            println!("{entries} entries");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cannot write {path}: {e}");
            ExitCode::FAILURE
        }
    }
}
