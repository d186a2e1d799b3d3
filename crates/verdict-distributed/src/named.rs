//! Every error from a worker names it, and a worker that stops answering
//! fails the query rather than holding it for ever.
//!
//! The channels are built here rather than by datafusion-distributed's
//! `DefaultChannelResolver`, whose channels have no connect timeout and
//! no keep-alive: a worker whose machine died, or a peer that accepts a
//! connection and never speaks, would hold the query with no end. Each
//! channel (one per worker, made on first use and reused) gives up a
//! connection attempt after [`CONNECT_TIMEOUT`] and pings the worker over
//! HTTP/2 every [`KEEP_ALIVE_INTERVAL`], closing the connection when a
//! ping is not answered within [`KEEP_ALIVE_TIMEOUT`]; a worker busy
//! scoring still answers pings, so a long query is not cut. Each call and
//! each stream on a channel is wrapped so that its error says which
//! worker's URL it came from.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use datafusion_distributed::grpc::{BoxCloneSyncChannel, create_worker_client};
use datafusion_distributed::{
    ChannelResolver, CoordinatorToWorkerMsg, ExecuteTaskRequest, GetWorkerInfoRequest,
    GetWorkerInfoResponse, SetPlanRequest, WorkerChannel, WorkerToCoordinatorMsg,
};
use futures::StreamExt;
use futures::stream::BoxStream;
use tonic::codegen::http::HeaderMap;
use tonic::transport::Channel;
use url::Url;

/// How long a connection to a worker may take to open.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often an open connection to a worker is pinged.
pub(crate) const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(10);
/// How long a ping may go unanswered before the connection is broken.
pub(crate) const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// One channel per worker URL, each named.
#[derive(Clone, Default)]
pub(crate) struct NamedChannels(Arc<Mutex<HashMap<Url, BoxCloneSyncChannel>>>);

impl NamedChannels {
    /// The channel to `url`: made on first use (connecting lazily, on the
    /// first call), then the same one.
    fn channel(&self, url: &Url) -> Result<BoxCloneSyncChannel> {
        let mut channels = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(channel) = channels.get(url) {
            return Ok(channel.clone());
        }
        let endpoint = Channel::from_shared(url.to_string())
            .map_err(|e| named(url, DataFusionError::Configuration(e.to_string())))?
            .connect_timeout(CONNECT_TIMEOUT)
            .http2_keep_alive_interval(KEEP_ALIVE_INTERVAL)
            .keep_alive_timeout(KEEP_ALIVE_TIMEOUT)
            .keep_alive_while_idle(true);
        let channel = BoxCloneSyncChannel::new(endpoint.connect_lazy());
        channels.insert(url.clone(), channel.clone());
        Ok(channel)
    }
}

#[async_trait]
impl ChannelResolver for NamedChannels {
    async fn get_worker_client_for_url(&self, url: &Url) -> Result<Box<dyn WorkerChannel>> {
        Ok(Box::new(Named {
            url: url.clone(),
            inner: create_worker_client(self.channel(url)?),
        }))
    }
}

/// The error, said to come from the worker at `url`.
fn named(url: &Url, error: DataFusionError) -> DataFusionError {
    DataFusionError::Context(
        format!("worker {}", url.as_str().trim_end_matches('/')),
        Box::new(error),
    )
}

struct Named {
    url: Url,
    inner: Box<dyn WorkerChannel>,
}

#[async_trait]
impl WorkerChannel for Named {
    async fn coordinator_channel(
        &mut self,
        headers: HeaderMap,
        set_plan_request: SetPlanRequest,
        c2w_stream: BoxStream<'static, CoordinatorToWorkerMsg>,
        metrics: ExecutionPlanMetricsSet,
        task_ctx: &Arc<TaskContext>,
    ) -> Result<BoxStream<'static, Result<WorkerToCoordinatorMsg>>> {
        let url = self.url.clone();
        let stream = self
            .inner
            .coordinator_channel(headers, set_plan_request, c2w_stream, metrics, task_ctx)
            .await
            .map_err(|e| named(&url, e))?;
        Ok(stream.map(move |r| r.map_err(|e| named(&url, e))).boxed())
    }

    async fn execute_task(
        &mut self,
        headers: HeaderMap,
        request: ExecuteTaskRequest,
        metrics: ExecutionPlanMetricsSet,
        task_ctx: &Arc<TaskContext>,
    ) -> Result<Vec<BoxStream<'static, Result<RecordBatch>>>> {
        let streams = self
            .inner
            .execute_task(headers, request, metrics, task_ctx)
            .await
            .map_err(|e| named(&self.url, e))?;
        Ok(streams
            .into_iter()
            .map(|stream| {
                let url = self.url.clone();
                stream.map(move |r| r.map_err(|e| named(&url, e))).boxed()
            })
            .collect())
    }

    async fn get_worker_info(
        &mut self,
        request: GetWorkerInfoRequest,
    ) -> Result<GetWorkerInfoResponse> {
        self.inner
            .get_worker_info(request)
            .await
            .map_err(|e| named(&self.url, e))
    }
}
