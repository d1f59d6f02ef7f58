//! A thin client of the admin API, used by `gymgate-server admin`.

use gymgate_shared::api::{
    AdminCenter, AdminDesk, BlockRequest, ErrorBody, ImportReport, Incident, IncidentNotes,
    NewCenter, NewMember, NewNotice, Notice, PairingCode,
};
use reqwest::{Method, RequestBuilder, Response};
use serde::de::DeserializeOwned;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("cannot reach the server at {url}")]
    Unreachable { url: String, source: reqwest::Error },
    #[error("the server refused: {code}: {message} (HTTP {status})")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    #[error("unexpected answer from the server: {0}")]
    Unexpected(String),
}

pub struct AdminClient {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl AdminClient {
    pub fn new(base: &str, token: &str) -> AdminClient {
        AdminClient {
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()
                .unwrap_or_default(),
        }
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    async fn send(&self, request: RequestBuilder) -> Result<Response, AdminError> {
        let response = request
            .send()
            .await
            .map_err(|source| AdminError::Unreachable {
                url: self.base.clone(),
                source,
            })?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        Err(match serde_json::from_str::<ErrorBody>(&text) {
            Ok(body) => AdminError::Refused {
                status,
                code: body.error.code,
                message: body.error.message,
            },
            Err(_) => AdminError::Unexpected(format!("HTTP {status}: {text}")),
        })
    }

    async fn json<T: DeserializeOwned>(&self, request: RequestBuilder) -> Result<T, AdminError> {
        self.send(request)
            .await?
            .json()
            .await
            .map_err(|e| AdminError::Unexpected(e.to_string()))
    }

    pub async fn add_center(&self, center: &NewCenter) -> Result<AdminCenter, AdminError> {
        self.json(
            self.request(Method::POST, "/api/v1/admin/centers")
                .json(center),
        )
        .await
    }

    pub async fn centers(&self) -> Result<Vec<AdminCenter>, AdminError> {
        self.json(self.request(Method::GET, "/api/v1/admin/centers"))
            .await
    }

    pub async fn pairing_code(&self, center_id: &str) -> Result<PairingCode, AdminError> {
        self.json(self.request(
            Method::POST,
            &format!("/api/v1/admin/centers/{center_id}/pairing-codes"),
        ))
        .await
    }

    pub async fn desks(&self) -> Result<Vec<AdminDesk>, AdminError> {
        self.json(self.request(Method::GET, "/api/v1/admin/desks"))
            .await
    }

    pub async fn revoke_desk(&self, desk_id: &str) -> Result<(), AdminError> {
        self.send(self.request(
            Method::POST,
            &format!("/api/v1/admin/desks/{desk_id}/revoke"),
        ))
        .await
        .map(drop)
    }

    pub async fn add_member(&self, member: &NewMember) -> Result<(), AdminError> {
        self.send(
            self.request(Method::POST, "/api/v1/admin/members")
                .json(member),
        )
        .await
        .map(drop)
    }

    pub async fn import_members(&self, csv: String) -> Result<ImportReport, AdminError> {
        self.json(
            self.request(Method::POST, "/api/v1/admin/members/import")
                .header("content-type", "text/csv; charset=utf-8")
                .body(csv),
        )
        .await
    }

    pub async fn block_member(
        &self,
        member_no: &str,
        request: &BlockRequest,
    ) -> Result<(), AdminError> {
        self.send(
            self.request(
                Method::POST,
                &format!("/api/v1/admin/members/{member_no}/block"),
            )
            .json(request),
        )
        .await
        .map(drop)
    }

    pub async fn post_notice(&self, notice: &NewNotice) -> Result<Notice, AdminError> {
        self.json(
            self.request(Method::POST, "/api/v1/admin/notices")
                .json(notice),
        )
        .await
    }

    pub async fn notices(&self) -> Result<Vec<Notice>, AdminError> {
        self.json(self.request(Method::GET, "/api/v1/admin/notices"))
            .await
    }

    pub async fn clear_notice(&self, id: &str) -> Result<(), AdminError> {
        self.send(self.request(Method::DELETE, &format!("/api/v1/admin/notices/{id}")))
            .await
            .map(drop)
    }

    pub async fn incidents(&self, limit: u32) -> Result<Vec<Incident>, AdminError> {
        self.json(self.request(
            Method::GET,
            &format!("/api/v1/admin/incidents?limit={limit}"),
        ))
        .await
    }

    pub async fn annotate_incident(
        &self,
        id: &str,
        notes: &IncidentNotes,
    ) -> Result<Incident, AdminError> {
        self.json(
            self.request(Method::PATCH, &format!("/api/v1/admin/incidents/{id}"))
                .json(notes),
        )
        .await
    }
}
