//! Every error from a worker names it: the channels to the workers are
//! datafusion-distributed's own (one connection per worker, reused), each
//! wrapped so that a failed call and a stream that breaks say which
//! worker's URL they came from.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use datafusion_distributed::grpc::DefaultChannelResolver;
use datafusion_distributed::{
    ChannelResolver, CoordinatorToWorkerMsg, ExecuteTaskRequest, GetWorkerInfoRequest,
    GetWorkerInfoResponse, SetPlanRequest, WorkerChannel, WorkerToCoordinatorMsg,
};
use futures::StreamExt;
use futures::stream::BoxStream;
use tonic::codegen::http::HeaderMap;
use url::Url;

/// datafusion-distributed's resolver, with each channel named.
#[derive(Clone, Default)]
pub(crate) struct NamedChannels(DefaultChannelResolver);

#[async_trait]
impl ChannelResolver for NamedChannels {
    async fn get_worker_client_for_url(&self, url: &Url) -> Result<Box<dyn WorkerChannel>> {
        let inner = self
            .0
            .get_worker_client_for_url(url)
            .await
            .map_err(|e| named(url, e))?;
        Ok(Box::new(Named {
            url: url.clone(),
            inner,
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
