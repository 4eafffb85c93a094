//! Log set-up: `tracing` with an env filter, and the `log` records of our dependencies bridged
//! into it. Renet and renetcode log every packet they refuse at ERROR or WARN (one line per junk
//! datagram); the input path counts those and logs them throttled itself
//! (`net/log_limit.rs`), so their own lines are demoted to DEBUG here.

use tracing_log::LogTracer;
use tracing_subscriber::EnvFilter;

/// Crates whose `log` lines are routine rejections of hostile or stale traffic.
const DEMOTED: [&str; 3] = ["renetcode", "renet_netcode", "renet"];

fn demoted(target: &str) -> bool {
    DEMOTED.iter().any(|d| target == *d || target.strip_prefix(d).is_some_and(|rest| rest.starts_with("::")))
}

/// Forwards `log` records to `tracing`, at DEBUG for [`DEMOTED`] crates.
struct Demote(LogTracer);

impl log::Log for Demote {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        if demoted(metadata.target()) {
            let m = log::Metadata::builder().level(log::Level::Debug).target(metadata.target()).build();
            self.0.enabled(&m)
        } else {
            self.0.enabled(metadata)
        }
    }

    fn log(&self, record: &log::Record<'_>) {
        if demoted(record.target()) && record.level() < log::Level::Debug {
            let lowered = log::Record::builder()
                .args(*record.args())
                .level(log::Level::Debug)
                .target(record.target())
                .module_path(record.module_path())
                .file(record.file())
                .line(record.line())
                .build();
            self.0.log(&lowered);
        } else {
            self.0.log(record);
        }
    }

    fn flush(&self) {}
}

/// Installs the global subscriber (plain text, ANSI colours if `ansi`) and the `log` bridge.
pub fn init(filter: EnvFilter, ansi: bool) -> anyhow::Result<()> {
    let subscriber = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).finish();
    tracing::subscriber::set_global_default(subscriber)?;
    log::set_boxed_logger(Box::new(Demote(LogTracer::new())))?;
    log::set_max_level(log::LevelFilter::Trace);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::demoted;

    #[test]
    fn only_the_transport_crates_are_demoted() {
        assert!(demoted("renetcode::server"));
        assert!(demoted("renet"));
        assert!(demoted("renet::remote_connection"));
        assert!(!demoted("renetcodex"));
        assert!(!demoted("starforge_server::net"));
    }
}
