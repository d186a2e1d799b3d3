//! The worker: datafusion-distributed's Arrow Flight service, whose
//! query sessions hold the scorer functions.

use std::future::Future;
use std::sync::Arc;

use datafusion::error::DataFusionError;
use datafusion::execution::{FunctionRegistry, SessionState, SessionStateBuilder};
use datafusion::logical_expr::ScalarUDF;
use datafusion_distributed::{DistributedExt as _, Worker, WorkerQueryContext};
use datafusion_proto::physical_plan::PhysicalExtensionCodec;
use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use verdict_scorer::Registry;

use crate::eval::EvalCodec;

/// A worker whose queries can call every scorer of `registry`, as
/// `verdict sql` names them, and that scores the parts of a run
/// `verdict eval --workers` sends it. The functions (and the scorers,
/// plugin workers included, that they make) are made once and shared by
/// every query the worker runs.
pub fn worker(registry: Registry) -> Worker {
    let registry = Arc::new(registry);
    let (_, functions) = verdict_sql::scorer_functions(
        &SessionStateBuilder::new().with_default_features().build(),
        Arc::clone(&registry),
    );
    let functions: Arc<[Arc<ScalarUDF>]> = functions.into();
    let codec: Arc<dyn PhysicalExtensionCodec> = Arc::new(EvalCodec::new(registry));
    Worker::from_session_builder(move |ctx: WorkerQueryContext| {
        let functions = Arc::clone(&functions);
        let codec = Arc::clone(&codec);
        async move { session(ctx, &functions, codec) }
    })
}

/// One query's session on the worker: DataFusion's defaults (from the
/// worker), the scorer functions, and the codec of a run's scan.
fn session(
    ctx: WorkerQueryContext,
    functions: &[Arc<ScalarUDF>],
    codec: Arc<dyn PhysicalExtensionCodec>,
) -> Result<SessionState, DataFusionError> {
    let mut state = ctx.builder.with_distributed_user_codec_arc(codec).build();
    for function in functions {
        state.register_udf(Arc::clone(function))?;
    }
    Ok(state)
}

/// Serves `worker` on `listener` until `stop` completes, then lets the
/// queries under way end.
pub async fn serve(
    worker: Worker,
    listener: TcpListener,
    stop: impl Future<Output = ()>,
) -> Result<(), tonic::transport::Error> {
    Server::builder()
        .add_service(worker.into_worker_server())
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), stop)
        .await
}
