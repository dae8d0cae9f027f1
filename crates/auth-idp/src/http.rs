//! HTTP to providers: reqwest (native-tls, as the rest of authd), no redirects followed (a
//! provider's answer is read where it was asked, never where it points), bounded by a timeout.

use std::time::Duration;

use oauth2::{HttpRequest, HttpResponse};
use serde_json::Value;

/// A provider's answer could not be had.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(pub String);

/// The HTTP client every provider call goes through.
#[derive(Clone, Debug)]
pub(crate) struct Http {
    client: reqwest::Client,
}

impl Http {
    /// A client giving up after `timeout`.
    pub(crate) fn new(timeout: Duration) -> Result<Self, HttpError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("authd/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| HttpError(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self { client })
    }

    /// Sends an `oauth2` request (the token exchange).
    pub(crate) async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let request = reqwest::Request::try_from(request).map_err(|e| HttpError(e.to_string()))?;
        let response = self.client.execute(request).await.map_err(|e| HttpError(e.without_url().to_string()))?;
        let mut builder = http::Response::builder().status(response.status());
        for (name, value) in response.headers() {
            builder = builder.header(name, value);
        }
        let body = response.bytes().await.map_err(|e| HttpError(e.without_url().to_string()))?;
        builder.body(body.to_vec()).map_err(|e| HttpError(e.to_string()))
    }

    /// GETs a JSON document, with a bearer token and extra headers when given.
    pub(crate) async fn get_json(
        &self,
        url: &str,
        bearer: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Result<Value, HttpError> {
        let mut request = self.client.get(url).header("Accept", "application/json");
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.map_err(|e| HttpError(e.without_url().to_string()))?;
        let status = response.status();
        if !status.is_success() {
            return Err(HttpError(format!("answered {status}")));
        }
        let body = response.bytes().await.map_err(|e| HttpError(e.without_url().to_string()))?;
        serde_json::from_slice(&body).map_err(|e| HttpError(format!("not JSON: {e}")))
    }
}
