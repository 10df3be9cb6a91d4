//! Reloads a configuration file whenever it changes: the registry's
//! instances take the new settings in place, keeping their state, and a
//! bad file changes nothing.
//!
//! ```text
//! cargo run --features config --example config_reload
//! ```

use notify::{RecursiveMode, Watcher};
use seawall::config::{Registry, ReloadReport, SeawallConfig};
use seawall::telemetry::EventKind;
use seawall::ConfigError;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc;

const FIRST: &str = r#"
[rate_limiters.instances.search]
rate = 1
per = "1m"
burst = 10

[circuit_breakers.instances.payments]
failure_rate_threshold = "50%"
"#;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("seawall-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("resilience.toml");
    replace(&path, FIRST)?;

    let registry = Registry::builder()
        .on_event(|e| {
            if let EventKind::Reconfigured { setting, from, to } = &e.kind {
                println!(
                    "  {} `{}`: {setting} {from} -> {to}",
                    e.pattern.as_str(),
                    e.name
                );
            }
        })
        .build(&SeawallConfig::from_path(&path)?)?;
    let search = registry.rate_limiter("search").expect("in the file");
    let taken = (0..10).filter(|_| search.try_acquire().is_ok()).count();
    println!(
        "search: burst {}, {taken} taken",
        search.policy().burst_capacity
    );

    // Watch the directory, not the file: a file replaced by a rename (as
    // editors and Kubernetes config maps do) is a new file.
    let (changed, mut changes) = mpsc::unbounded_channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event {
            let _ = changed.send(event);
        }
    })?;
    watcher.watch(&dir, RecursiveMode::NonRecursive)?;

    // In a service this is a task that runs for good: reload on each
    // change of the file, keep the settings in force when it is invalid.
    let (done, mut reloads) = mpsc::unbounded_channel::<Result<ReloadReport, ConfigError>>();
    let reloader = {
        let (registry, path) = (registry.clone(), path.clone());
        tokio::spawn(async move {
            while let Some(event) = changes.recv().await {
                if !event.paths.contains(&path) || event.kind.is_access() {
                    continue;
                }
                let result = SeawallConfig::from_path(&path).and_then(|c| registry.reload(&c));
                if !matches!(&result, Ok(report) if report.is_empty()) {
                    let _ = done.send(result);
                }
            }
        })
    };

    println!("raising the burst to 25:");
    replace(&path, &FIRST.replace("burst = 10", "burst = 25"))?;
    let report = next_reload(&mut reloads)
        .await?
        .map_err(|e| e.to_string())?;
    println!("reloaded: {:?}", report.changed);
    let more = (0..30).filter(|_| search.try_acquire().is_ok()).count();
    println!(
        "search: burst {}, {more} more taken (the 10 taken stay taken)",
        search.policy().burst_capacity
    );
    assert_eq!(more, 15);

    println!("writing an invalid file:");
    replace(&path, &FIRST.replace("\"50%\"", "\"150%\""))?;
    let refused = next_reload(&mut reloads)
        .await?
        .expect_err("150% is out of range");
    println!("  refused, nothing changed: {refused}");
    assert_eq!(search.policy().burst_capacity, 25);

    reloader.abort();
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// Writes `text` beside `path` and renames it over: a watcher never sees
/// a half-written file (an empty one would be a file with no instances).
fn replace(path: &Path, text: &str) -> std::io::Result<()> {
    let beside: PathBuf = path.with_extension("toml.new");
    std::fs::write(&beside, text)?;
    std::fs::rename(&beside, path)
}

async fn next_reload(
    reloads: &mut mpsc::UnboundedReceiver<Result<ReloadReport, ConfigError>>,
) -> Result<Result<ReloadReport, ConfigError>, String> {
    tokio::time::timeout(Duration::from_secs(10), reloads.recv())
        .await
        .map_err(|_| "no change seen within 10 s (is inotify available?)".to_string())?
        .ok_or_else(|| "the reloader stopped".to_string())
}
