//! A thin client of the admin API, used by `gymgate-server admin`.

use gymgate_shared::api::{
    AdminCenter, AdminDesk, AdminDispute, AuditEntry, BlockRequest, Checkin, DisputeDecision,
    ErrorBody, ImportJob, ImportReport, ImportState, Incident, IncidentNotes, NewCenter, NewMember,
    NewNotice, NewOperator, Notice, Operator, PairingCode, PinLock, Statement, SupportContact,
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
    #[error("the import stopped: {0}")]
    ImportFailed(String),
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

    /// Replaces a center's opening hours.
    pub async fn set_hours(
        &self,
        center_id: &str,
        schedule: &gymgate_shared::hours::Schedule,
    ) -> Result<AdminCenter, AdminError> {
        self.json(
            self.request(
                Method::PUT,
                &format!("/api/v1/admin/centers/{center_id}/hours"),
            )
            .json(schedule),
        )
        .await
    }

    /// Every center's hours as a CSV file (UTF-8 with a byte order mark).
    pub async fn hours_csv(&self) -> Result<Vec<u8>, AdminError> {
        let response = self
            .send(self.request(Method::GET, "/api/v1/admin/hours.csv"))
            .await?;
        Ok(response
            .bytes()
            .await
            .map_err(|e| AdminError::Unexpected(e.to_string()))?
            .to_vec())
    }

    /// Sets the hours of every center a CSV file names, all or nothing; `{changed, rows}`.
    pub async fn put_hours_csv(&self, csv: Vec<u8>) -> Result<serde_json::Value, AdminError> {
        self.json(
            self.request(Method::PUT, "/api/v1/admin/hours.csv")
                .header(reqwest::header::CONTENT_TYPE, "text/csv")
                .body(csv),
        )
        .await
    }

    pub async fn holidays(&self) -> Result<Vec<gymgate_shared::api::Holiday>, AdminError> {
        self.json(self.request(Method::GET, "/api/v1/admin/holidays"))
            .await
    }

    pub async fn put_holiday(&self, date: &str, name: &str) -> Result<(), AdminError> {
        self.send(
            self.request(Method::PUT, &format!("/api/v1/admin/holidays/{date}"))
                .json(&serde_json::json!({ "name": name })),
        )
        .await
        .map(drop)
    }

    pub async fn delete_holiday(&self, date: &str) -> Result<(), AdminError> {
        self.send(self.request(Method::DELETE, &format!("/api/v1/admin/holidays/{date}")))
            .await
            .map(drop)
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

    /// A desk's crash and cache-failure reports, newest first.
    pub async fn desk_reports(
        &self,
        desk_id: &str,
    ) -> Result<Vec<gymgate_shared::api::AdminDeskReport>, AdminError> {
        self.json(self.request(
            Method::GET,
            &format!("/api/v1/admin/desks/{desk_id}/reports"),
        ))
        .await
    }

    /// Asks a desk for its recent log: the request's id, and whether the desk was told at once.
    pub async fn request_desk_log(&self, desk_id: &str) -> Result<(String, bool), AdminError> {
        #[derive(serde::Deserialize)]
        struct Requested {
            request_id: String,
            delivered: bool,
        }
        let requested: Requested = self
            .json(self.request(
                Method::POST,
                &format!("/api/v1/admin/desks/{desk_id}/log-request"),
            ))
            .await?;
        Ok((requested.request_id, requested.delivered))
    }

    pub async fn desk_logs(
        &self,
        desk_id: &str,
    ) -> Result<Vec<gymgate_shared::api::AdminDeskLog>, AdminError> {
        self.json(self.request(Method::GET, &format!("/api/v1/admin/desks/{desk_id}/logs")))
            .await
    }

    /// An uploaded log's text.
    pub async fn desk_log(&self, request_id: &str) -> Result<String, AdminError> {
        self.send(self.request(
            Method::GET,
            &format!("/api/v1/admin/desk-logs/{request_id}"),
        ))
        .await?
        .text()
        .await
        .map_err(|e| AdminError::Unexpected(e.to_string()))
    }

    /// Uploads a signed release: its manifest, then its installer.
    pub async fn upload_release(
        &self,
        signed: &gymgate_shared::release::SignedManifest,
        installer: Vec<u8>,
    ) -> Result<String, AdminError> {
        let manifest: gymgate_shared::release::Manifest = serde_json::from_str(&signed.manifest)
            .map_err(|e| AdminError::Unexpected(format!("the manifest cannot be read: {e}")))?;
        let version = manifest.version;
        self.send(
            self.request(Method::PUT, &format!("/api/v1/admin/releases/{version}"))
                .json(signed),
        )
        .await?;
        self.send(
            self.request(
                Method::PUT,
                &format!("/api/v1/admin/releases/{version}/installer"),
            )
            .timeout(std::time::Duration::from_secs(600))
            .body(installer),
        )
        .await?;
        Ok(version)
    }

    /// Starts or widens a rollout (its quiet hours, if it has any, stay).
    pub async fn set_rollout(
        &self,
        version: &str,
        canary_centers: &[String],
        percent: u8,
    ) -> Result<serde_json::Value, AdminError> {
        self.put_rollout(
            version,
            serde_json::json!({ "canary_centers": canary_centers, "percent": percent }),
        )
        .await
    }

    /// Starts or widens a rollout whose desks install only within `quiet_hours`, daily in
    /// Korean time (`"02:00-05:00"`; `""` lets them install at any quiet moment again).
    pub async fn set_rollout_in_hours(
        &self,
        version: &str,
        canary_centers: &[String],
        percent: u8,
        quiet_hours: &str,
    ) -> Result<serde_json::Value, AdminError> {
        self.put_rollout(
            version,
            serde_json::json!({
                "canary_centers": canary_centers, "percent": percent, "quiet_hours": quiet_hours,
            }),
        )
        .await
    }

    async fn put_rollout(
        &self,
        version: &str,
        plan: serde_json::Value,
    ) -> Result<serde_json::Value, AdminError> {
        self.json(
            self.request(Method::PUT, &format!("/api/v1/admin/rollouts/{version}"))
                .json(&plan),
        )
        .await
    }

    /// `pause`, `resume` or `halt` a rollout.
    pub async fn rollout_action(
        &self,
        version: &str,
        action: &str,
        reason: Option<&str>,
    ) -> Result<serde_json::Value, AdminError> {
        self.json(
            self.request(
                Method::POST,
                &format!("/api/v1/admin/rollouts/{version}/{action}"),
            )
            .json(&serde_json::json!({ "reason": reason })),
        )
        .await
    }

    /// Releases, rollouts, the fleet by version and failed updates.
    pub async fn releases(&self) -> Result<serde_json::Value, AdminError> {
        self.json(self.request(Method::GET, "/api/v1/admin/releases"))
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

    /// Uploads a member CSV (UTF-8 or CP949 bytes); the server answers with the job at once.
    pub async fn start_import(&self, csv: Vec<u8>) -> Result<ImportJob, AdminError> {
        self.json(
            self.request(Method::POST, "/api/v1/admin/members/import")
                .header("content-type", "text/csv")
                .body(csv),
        )
        .await
    }

    pub async fn import_job(&self, id: &str) -> Result<ImportJob, AdminError> {
        self.json(self.request(Method::GET, &format!("/api/v1/admin/imports/{id}")))
            .await
    }

    pub async fn imports(&self) -> Result<Vec<ImportJob>, AdminError> {
        self.json(self.request(Method::GET, "/api/v1/admin/imports"))
            .await
    }

    /// Follows an import until it is done, calling `progress` with each look at it.
    pub async fn wait_import(
        &self,
        id: &str,
        mut progress: impl FnMut(&ImportJob),
    ) -> Result<ImportJob, AdminError> {
        let mut pause = std::time::Duration::from_millis(20);
        loop {
            let job = self.import_job(id).await?;
            progress(&job);
            match job.state {
                ImportState::Done => return Ok(job),
                ImportState::Failed => {
                    return Err(AdminError::ImportFailed(
                        job.message.unwrap_or_else(|| "no reason given".into()),
                    ));
                }
                ImportState::Queued | ImportState::Running => {}
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(std::time::Duration::from_millis(500));
        }
    }

    /// Imports a member CSV and waits for the job to finish.
    pub async fn import_members(&self, csv: String) -> Result<ImportReport, AdminError> {
        let job = self.start_import(csv.into_bytes()).await?;
        Ok(self.wait_import(&job.id, |_| {}).await?.report())
    }

    /// The lines an import did not take, as the CSV the server writes.
    pub async fn import_errors_csv(&self, id: &str) -> Result<Vec<u8>, AdminError> {
        let response = self
            .send(self.request(
                Method::GET,
                &format!("/api/v1/admin/imports/{id}/errors.csv"),
            ))
            .await?;
        Ok(response
            .bytes()
            .await
            .map_err(|e| AdminError::Unexpected(e.to_string()))?
            .to_vec())
    }

    pub async fn pin_lock(&self, member_no: &str) -> Result<PinLock, AdminError> {
        self.json(self.request(
            Method::GET,
            &format!("/api/v1/admin/members/{member_no}/pin-lock"),
        ))
        .await
    }

    /// Lifts a member's PIN lock; answers the lock as it was.
    pub async fn unlock_member(&self, member_no: &str) -> Result<PinLock, AdminError> {
        self.json(self.request(
            Method::POST,
            &format!("/api/v1/admin/members/{member_no}/unlock"),
        ))
        .await
    }

    pub async fn disputes(&self) -> Result<Vec<AdminDispute>, AdminError> {
        self.json(self.request(Method::GET, "/api/v1/admin/disputes"))
            .await
    }

    /// Accepts (`true`: the visit counts) or rejects a disputed visit. Accepting runs the
    /// rules again; one they refuse is accepted only with `override_rules` and a reason.
    pub async fn resolve_dispute(
        &self,
        checkin_id: &str,
        accept: bool,
        reason: Option<String>,
    ) -> Result<Checkin, AdminError> {
        self.decide_dispute(checkin_id, accept, reason, false).await
    }

    pub async fn decide_dispute(
        &self,
        checkin_id: &str,
        accept: bool,
        reason: Option<String>,
        override_rules: bool,
    ) -> Result<Checkin, AdminError> {
        let verb = if accept { "accept" } else { "reject" };
        self.json(
            self.request(
                Method::POST,
                &format!("/api/v1/admin/disputes/{checkin_id}/{verb}"),
            )
            .json(&DisputeDecision {
                reason,
                override_rules,
            }),
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

    pub async fn add_operator(&self, new: &NewOperator) -> Result<Operator, AdminError> {
        self.json(
            self.request(Method::POST, "/api/v1/admin/operators")
                .json(new),
        )
        .await
    }

    pub async fn operators(&self) -> Result<Vec<Operator>, AdminError> {
        self.json(self.request(Method::GET, "/api/v1/admin/operators"))
            .await
    }

    pub async fn set_support(
        &self,
        contact: &SupportContact,
    ) -> Result<SupportContact, AdminError> {
        self.json(
            self.request(Method::PUT, "/api/v1/admin/support")
                .json(contact),
        )
        .await
    }

    pub async fn statement(&self, center_id: &str, month: &str) -> Result<Statement, AdminError> {
        self.json(self.request(
            Method::GET,
            &format!("/api/v1/admin/settlement/{center_id}?month={month}"),
        ))
        .await
    }

    pub async fn audit(&self) -> Result<Vec<AuditEntry>, AdminError> {
        self.json(self.request(Method::GET, "/api/v1/admin/audit?limit=1000"))
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
