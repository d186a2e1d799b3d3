//! The coordinator's session: DataFusion's planner followed by
//! datafusion-distributed's, which cuts the plan into stages run by the
//! workers named on the command line.

use datafusion::common::{DataFusionError, Result};
use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::SessionContext;
use datafusion_distributed::{DistributedExt, SessionStateBuilderExt, WorkerResolver};
use url::Url;

use crate::named::NamedChannels;

/// The workers of `--workers`, always the same ones.
struct Workers(Vec<Url>);

impl WorkerResolver for Workers {
    fn get_urls(&self) -> Result<Vec<Url>, DataFusionError> {
        Ok(self.0.clone())
    }
}

/// Bytes of a file per scan partition: the least there is, so that a
/// scan stage gets one task per worker whatever the data's size (the
/// tasks of a stage are at most the workers), and each task's share is
/// cut from the files' sizes alone.
const BYTES_PER_PARTITION: usize = 1;

/// A session whose queries run on `workers`. Register the scorer
/// functions and the tables on it as on a local one; the files must be
/// readable at the same path on every worker.
pub fn coordinator(workers: Vec<Url>) -> Result<SessionContext> {
    Ok(SessionContext::from(state(workers)?.build()))
}

/// The coordinator's session, to be built: what [`coordinator`] makes,
/// and `verdict eval --workers` adds its scan's hooks to.
pub(crate) fn state(workers: Vec<Url>) -> Result<SessionStateBuilder> {
    // datafusion-distributed runs a stage of one task on the coordinator:
    // one worker is named twice, so that a stage gets two tasks, both on
    // it, and the work goes where the user sent it.
    let workers = match workers.as_slice() {
        [one] => vec![one.clone(), one.clone()],
        _ => workers,
    };
    SessionStateBuilder::new()
        .with_default_features()
        .with_distributed_worker_resolver(Workers(workers))
        .with_distributed_channel_resolver(NamedChannels::default())
        .with_distributed_planner()
        .with_distributed_file_scan_config_bytes_per_partition(BYTES_PER_PARTITION)
}

/// The workers of `--workers URL,URL`: `http://host:port`, or
/// `host:port` (read as `http://`). No URL twice, at least one.
pub fn parse_workers(list: &str) -> std::result::Result<Vec<Url>, String> {
    let mut workers: Vec<Url> = Vec::new();
    for item in list.split(',').map(str::trim) {
        if item.is_empty() {
            return Err(format!(
                "{list:?} holds an empty worker: write --workers http://10.0.0.5:50051,http://10.0.0.6:50051"
            ));
        }
        let text = if item.contains("://") {
            item.to_owned()
        } else {
            format!("http://{item}")
        };
        let url = Url::parse(&text).map_err(|e| format!("{item:?} is not a worker URL: {e}"))?;
        if url.scheme() != "http" {
            return Err(format!(
                "{item:?}: workers are reached over plain http:// (gRPC without TLS)"
            ));
        }
        if url.host_str().is_none() || url.port_or_known_default().is_none() {
            return Err(format!("{item:?} names no host and port"));
        }
        if workers.contains(&url) {
            return Err(format!("{item:?} is named twice"));
        }
        workers.push(url);
    }
    Ok(workers)
}

#[cfg(test)]
mod tests {
    use super::parse_workers;

    #[test]
    fn workers_are_urls_or_host_and_port() {
        let workers = parse_workers("127.0.0.1:50051, http://h:7").unwrap();
        assert_eq!(workers[0].as_str(), "http://127.0.0.1:50051/");
        assert_eq!(workers[1].as_str(), "http://h:7/");
        assert!(parse_workers("a:1,,b:2").unwrap_err().contains("empty"));
        assert!(parse_workers("a:1,a:1").unwrap_err().contains("twice"));
        assert!(
            parse_workers("https://a:1")
                .unwrap_err()
                .contains("http://")
        );
    }
}
