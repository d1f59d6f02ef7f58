//! Everything a request can be refused for, with its wire code and HTTP status.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gymgate_shared::api::ErrorBody;
use gymgate_shared::policy::Refusal;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{}", .0)]
    Refused(Refusal),
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("{message}")]
    Unauthorized { code: &'static str, message: String },
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("too many requests; try again in a moment")]
    RateLimited,
    /// A limit with its own code and words (429).
    #[error("{message}")]
    Limited { code: &'static str, message: String },
    /// Too soon after wrong PINs: try again after `retry_after`.
    #[error("too many wrong PINs; try again in {} seconds", .retry_after.as_secs().max(1))]
    LoginDelayed { retry_after: std::time::Duration },
    #[error("{message}")]
    Unavailable { code: &'static str, message: String },
    #[error("the request body is too large")]
    TooLarge,
    /// The request (its body included) did not arrive and get its answer in time.
    #[error(
        "요청이 제시간에 도착하지 않았습니다. 다시 시도해 주세요 / the request took too long to arrive; try again"
    )]
    Timeout,
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}

impl AppError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        AppError::BadRequest {
            code,
            message: message.into(),
        }
    }

    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        AppError::Unauthorized {
            code,
            message: message.into(),
        }
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        AppError::Forbidden {
            code,
            message: message.into(),
        }
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        AppError::NotFound {
            code,
            message: message.into(),
        }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        AppError::Conflict {
            code,
            message: message.into(),
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            AppError::Refused(r) => r.code(),
            AppError::BadRequest { code, .. }
            | AppError::Unauthorized { code, .. }
            | AppError::Forbidden { code, .. }
            | AppError::NotFound { code, .. }
            | AppError::Conflict { code, .. } => code,
            AppError::RateLimited => "rate_limited",
            AppError::Limited { code, .. } => code,
            AppError::LoginDelayed { .. } => "login_delayed",
            AppError::Unavailable { code, .. } => code,
            AppError::TooLarge => "body_too_large",
            AppError::Timeout => "request_timeout",
            AppError::Store(e) if e.is_unavailable() => "storage_unavailable",
            AppError::Store(_) | AppError::Internal(_) => "internal_error",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AppError::Refused(_) | AppError::Forbidden { .. } => StatusCode::FORBIDDEN,
            AppError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            AppError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            AppError::NotFound { .. } => StatusCode::NOT_FOUND,
            AppError::Conflict { .. } => StatusCode::CONFLICT,
            AppError::RateLimited | AppError::Limited { .. } | AppError::LoginDelayed { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            AppError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            AppError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::Timeout => StatusCode::REQUEST_TIMEOUT,
            AppError::Store(e) if e.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Store(_) | AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// What the caller is told. Internal details stay in the log.
    pub fn public_message(&self) -> String {
        match self {
            AppError::Store(e) if e.is_unavailable() => {
                "the server cannot store this right now; nothing was saved, please try again"
                    .to_owned()
            }
            AppError::Store(_) | AppError::Internal(_) => {
                "something went wrong on the server; nothing was saved".to_owned()
            }
            other => other.to_string(),
        }
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody::new(self.code(), self.public_message())
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, code = self.code(), "request failed");
        }
        let mut response = (status, axum::Json(self.body())).into_response();
        if let AppError::LoginDelayed { retry_after } = &self {
            let seconds = retry_after.as_secs().max(1).to_string();
            if let Ok(value) = axum::http::HeaderValue::from_str(&seconds) {
                response
                    .headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, value);
            }
        }
        response
    }
}

impl From<serde_json::Error> for AppError {
    fn from(error: serde_json::Error) -> Self {
        AppError::Store(StoreError::Json(error))
    }
}

impl From<axum::extract::rejection::JsonRejection> for AppError {
    fn from(rejection: axum::extract::rejection::JsonRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return AppError::TooLarge;
        }
        AppError::bad_request("invalid_body", rejection.body_text())
    }
}
