//! Leaving a load balancer's rotation before stopping: once [`Draining::start`] is called (on
//! SIGTERM), `GET /ready` answers `503` so the balancer stops sending new requests here, and
//! every response asks its client to close the connection, so no kept-alive connection is left
//! to be cut when the server stops. Requests keep being served meanwhile.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::ConnectionType;
use actix_web::middleware::Next;
use actix_web::web;

use crate::AppState;

/// Whether this server is leaving its load balancer's rotation; shared by every worker and by
/// whoever handles the stop signal.
#[derive(Debug, Clone, Default)]
pub struct Draining(Arc<AtomicBool>);

impl Draining {
    /// From now on `/ready` answers `503` and every connection closes after its response.
    pub fn start(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether [`Draining::start`] was called.
    pub fn is_on(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Middleware: while draining, the response closes its connection (`Connection: close`).
pub(crate) async fn close_while_draining(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let draining = req.app_data::<web::Data<AppState>>().is_some_and(|state| state.draining.is_on());
    let mut res = next.call(req).await?;
    if draining {
        res.response_mut().head_mut().set_connection_type(ConnectionType::Close);
    }
    Ok(res)
}
