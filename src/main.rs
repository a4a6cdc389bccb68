use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use assetd::config::{Cli, Command, LogFormat, ServeConfig};
use assetd::{db, fsck, jobs, keys, startup, telemetry, webhooks};
use clap::Parser;

/// mimalloc rather than glibc's malloc: a request allocates and frees many
/// small buffers (headers, JSON, rows), and glibc's arenas took a tenth of
/// the read path's CPU (`scripts/bench-read`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("assetd: could not start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("assetd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    let log_format = match &command {
        Command::Serve(config) | Command::Worker(config) => config.log_format,
        _ => LogFormat::Text,
    };
    // Held until the command ends: dropping it writes out the last lines.
    let _logs = telemetry::init(log_format);
    match command {
        Command::Worker(mut config) => {
            config.no_api = true;
            serve(*config).await
        }
        Command::Serve(config) => serve(*config).await,
        Command::Keys(command) => keys::run(command).await,
        Command::Jobs(command) => jobs::cli::run(command).await,
        Command::Webhooks(command) => webhooks::run(command).await,
        Command::Fsck { repair, data_dir } => fsck::run(&data_dir, repair).await,
        Command::Openapi => {
            let yaml = assetd::http::openapi_document().to_yaml()?;
            std::io::stdout()
                .write_all(yaml.as_bytes())
                .context("writing to stdout")
        }
        Command::Migrate(data_dir) => {
            db::open(&data_dir).await?;
            println!(
                "migrations applied to {}",
                db::redact(&data_dir.database_url()?)
            );
            Ok(())
        }
    }
}

async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    let app = startup::Application::build(config).await?;
    let addr = app.local_addr()?;
    tracing::info!(%addr, "listening");
    // One line on stdout that scripts and tests wait for.
    let mut out = std::io::stdout();
    if let Some(metrics) = app.metrics_addr()? {
        tracing::info!(%metrics, "metrics listening");
        writeln!(out, "metrics on http://{metrics}/metrics").context("writing to stdout")?;
    }
    writeln!(out, "listening on http://{addr}")
        .and_then(|()| out.flush())
        .context("writing to stdout")?;
    app.run_until_stopped().await
}
